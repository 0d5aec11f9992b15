"""streamdrift: real-time monitoring of ML models in production from Kafka.

The Python API (DataFrames in, results and reports out; see :mod:`streamdrift.api`)::

    import streamdrift as sd

    baseline = sd.Baseline.build(reference_df, model_id="credit", target="label", prediction="pred")
    result = sd.check(current_df, baseline, window_records=10_000)
    result.raise_for_drift()  # the release gate: DriftDetected when a window violated a check

Its names are loaded on first use, so ``import streamdrift`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("streamdrift")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from streamdrift.api import (
        Baseline,
        CheckResult,
        DriftDetected,
        FacetSpec,
        NotSupportedError,
        Report,
        check,
    )

__all__ = [
    "Baseline",
    "CheckResult",
    "DriftDetected",
    "FacetSpec",
    "NotSupportedError",
    "Report",
    "__version__",
    "check",
]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """The API's names, imported from :mod:`streamdrift.api` on first use."""
    if name in _API:
        value = getattr(import_module("streamdrift.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'streamdrift' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
