"""The Python API for notebooks and pipelines: DataFrames in, results and reports out.

A thin face over the one monitor core (what ``streamdrift baseline build`` and ``streamdrift check`` run):

- `Baseline` (`Baseline.build` from a DataFrame, a table or a file; `Baseline.load` /
  `Baseline.save`; `Baseline.from_sagemaker` / `Baseline.to_sagemaker`);
- `check` (windows of data judged against a baseline) -> `CheckResult` (``events``, ``windows``,
  ``violations``, ``statistics`` as pyarrow Tables; ``passed``; `CheckResult.raise_for_drift`;
  `CheckResult.report` / `CheckResult.save_html`);
- `DriftDetected` (the release gate's error) and `NotSupportedError`.

The classes, ``check`` and the errors are re-exported by the ``streamdrift`` package itself
(``import streamdrift as sd``).
"""

from __future__ import annotations

from streamdrift.api.baselines import Baseline, Facets, ProblemType
from streamdrift.api.checking import check
from streamdrift.api.data import Data
from streamdrift.api.errors import DriftDetected, NotSupportedError
from streamdrift.api.results import CheckResult, Report
from streamdrift.monitors.bias import FacetSpec

__all__ = [
    "Baseline",
    "CheckResult",
    "Data",
    "DriftDetected",
    "FacetSpec",
    "Facets",
    "NotSupportedError",
    "ProblemType",
    "Report",
    "check",
]
