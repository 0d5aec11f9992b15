"""The API reference builds from the docstrings with pdoc, without a warning, and documents every public name."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import pdoc

import streamdrift.api


def test_pdoc_builds_the_reference_without_warnings(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc("streamdrift.api", output_directory=tmp_path)
    assert [str(w.message) for w in caught] == []
    page = (tmp_path / "streamdrift" / "api.html").read_text(encoding="utf-8")
    for name in ("Baseline", "check", "CheckResult", "DriftDetected"):
        assert f'id="{name}"' in page or f"#{name}" in page, name
    for member in ("Baseline.build", "Baseline.from_sagemaker", "CheckResult.raise_for_drift",
                   "CheckResult.save_html", "CheckResult.statistics"):
        assert f'id="{member}"' in page, member


def test_every_public_name_and_method_has_a_docstring() -> None:
    missing = []
    for name in streamdrift.api.__all__:
        value = getattr(streamdrift.api, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__.startswith("streamdrift.api"):
            if not inspect.getdoc(value):
                missing.append(name)
            for attr, member in vars(value).items() if inspect.isclass(value) else ():
                skip = not (inspect.isfunction(member) or isinstance(member, classmethod | property))
                if not attr.startswith("_") and not skip and not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert missing == []
