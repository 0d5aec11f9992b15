"""``streamdrift run`` refuses a label spill directory others could write to before it connects anywhere, and
its flags and help name the exposure settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamdrift.cli import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMDRIFT_"):
            monkeypatch.delenv(name)


def test_run_refuses_an_open_spill_dir_at_start(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    spill.chmod(0o777)
    # a bootstrap address nothing listens on: the refusal comes before any client is made
    result = CliRunner().invoke(main, ["run", "--bootstrap", "127.0.0.1:1", "--join-spill-dir", str(spill),
                                       "--log-level", "ERROR"])
    assert result.exit_code == 1
    assert "labels.spill_dir" in result.output and "writable by its group or by others" in result.output


def test_run_help_names_the_exposure_settings() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for text in ("--web-host", "STREAMDRIFT_WEB_HOST", "STREAMDRIFT_WEB_AUTH_TOKEN", "STREAMDRIFT_WEB_AUTH_USER",
                 "STREAMDRIFT_WEB_AUTH_PASSWORD", "[default: 127.0.0.1]"):
        assert text in result.output, text
