"""The history commands' arguments (without a broker): times, and what ``baseline build`` needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streamdrift.cli import main
from streamdrift.cli.historysource import parse_time_ms
from streamdrift.errors import ConfigError


def test_times_are_iso_8601_in_utc_or_epoch_ms() -> None:
    assert parse_time_ms("2026-12-01") == 1_796_083_200_000
    assert parse_time_ms("2026-12-01T06:00:00Z") == 1_796_083_200_000 + 6 * 3_600_000
    assert parse_time_ms("2026-12-01T07:00:00+01:00") == 1_796_083_200_000 + 6 * 3_600_000
    assert parse_time_ms("1796083200000") == 1_796_083_200_000
    assert parse_time_ms(None) is None
    with pytest.raises(ConfigError):
        parse_time_ms("yesterday")


def test_baseline_build_wants_an_input_or_the_history(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["baseline", "build", "--model-id", "m", "--output", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "--from-history" in result.output


def test_the_commands_are_listed() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "history" in result.output and "reevaluate" in result.output
    result = CliRunner().invoke(main, ["history", "--model", "m", "--from", "soon", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 2 and "not a time" in result.output
