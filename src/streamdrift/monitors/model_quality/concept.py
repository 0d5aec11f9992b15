"""Fast concept-drift detection on the per-record error stream, between window closes.

The stream is 0/1 (misclassified) for classifiers and the absolute error for regression, one monitor per model.
The detector is river's ADWIN by default with ``delta=0.01`` (tuned: an error rate stepping 0.2 -> 0.3 is found
after a median of about 330 labelled records; no false alarm in 300k stationary records, see
benchmarks/bench_concept.py). ADWIN needs no explicit warm-up: it cannot cut before ``grace_period`` (10) records
and its variance bound keeps it quiet on a short window, but its delay is longer while the window before the
change is short (it compares sub-windows of what it has seen). Alternatives: ``page_hinkley`` (river defaults
min_instances=30, delta=0.005, threshold=50 — noisy on 0/1 streams), ``hddm_a`` (drift_confidence=0.001,
warning_confidence=0.005, two_sided_test=False; 0/1 streams only) and ``kswin`` (alpha=0.005, window_size=100,
stat_size=30; about 600 µs per record, too slow for the hot path).

Hysteresis: after a signal the monitor ignores further detections for ``cooldown`` records; it is "in drift"
from a signal until ``clear_after`` records pass without one. By default only increases of the error are
signalled (``increases_only``).

river's detectors take one value at a time, so :meth:`ConceptDriftMonitor.update` loops in Python over the batch
(ADWIN: about 1-2M records/s); that is the detector's own cost, not avoidable with numpy.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import BadRecordError, ConfigError

DetectorName = Literal["adwin", "page_hinkley", "hddm_a", "kswin"]
DEFAULT_ADWIN_DELTA: Final[float] = 0.01
_FACTORIES: Final[Mapping[str, tuple[str, str]]] = {  # river module and class, imported on first use
    "adwin": ("river.drift", "ADWIN"),
    "page_hinkley": ("river.drift", "PageHinkley"),
    "hddm_a": ("river.drift.binary", "HDDMA"),
    "kswin": ("river.drift", "KSWIN"),
}


def _factory(name: str) -> Callable[..., Any]:
    module, attr = _FACTORIES[name]
    factory: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return factory
_DEFAULT_PARAMS: Final[Mapping[str, Mapping[str, Any]]] = {
    "adwin": {"delta": DEFAULT_ADWIN_DELTA},
    "page_hinkley": {},
    "hddm_a": {},
    "kswin": {"seed": 0},
}


@dataclass(frozen=True, slots=True)
class ConceptDriftConfig:
    detector: DetectorName = "adwin"
    params: Mapping[str, Any] | None = None   # None: the documented defaults above
    cooldown: int = 500
    clear_after: int = 5_000
    increases_only: bool = True

    def __post_init__(self) -> None:
        if self.detector not in _FACTORIES:
            raise ConfigError(f"unknown concept-drift detector {self.detector!r}; choose from {sorted(_FACTORIES)}")
        if self.cooldown < 0 or self.clear_after < 0:
            raise ConfigError("cooldown and clear_after must be >= 0")


@dataclass(frozen=True, slots=True)
class DriftSignal:
    index: int            # position within the batch passed to update()
    record: int           # position in the whole stream seen by this monitor (0-based)
    detector: str
    error_before: float   # running error mean just before the detection (nan when unknown)
    error_after: float    # the detector's estimate right after it (nan when unknown)


def make_detector(detector: DetectorName, params: Mapping[str, Any] | None = None) -> Any:
    if detector not in _FACTORIES:
        raise ConfigError(f"unknown concept-drift detector {detector!r}")
    kwargs = dict(_DEFAULT_PARAMS[detector] if params is None else params)
    try:
        return _factory(detector)(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad parameters for {detector}: {exc}") from exc


class ConceptDriftMonitor:
    """One model's error stream → drift signals, with cool-down and clearing."""

    def __init__(self, config: ConceptDriftConfig | None = None) -> None:
        self.config = config or ConceptDriftConfig()
        self._detector = make_detector(self.config.detector, self.config.params)
        self._seen = 0
        self._last_signal: int | None = None
        self._sum = 0.0
        self._count = 0

    @property
    def records_seen(self) -> int:
        return self._seen

    @property
    def in_drift(self) -> bool:
        return self._last_signal is not None and self._seen - self._last_signal <= self.config.clear_after

    def _estimate(self) -> float:
        value = getattr(self._detector, "estimation", None)
        return float(value) if isinstance(value, (int, float)) else math.nan

    def update(self, errors: ArrayLike) -> list[DriftSignal]:
        """Feed a batch of per-record errors; returns the signals raised within it (index in the batch)."""
        values: NDArray[np.float64] = np.asarray(errors, dtype=np.float64).reshape(-1)
        if not np.isfinite(values).all():
            raise BadRecordError("non_finite_error", "concept-drift errors must be finite numbers")
        signals: list[DriftSignal] = []
        det = self._detector
        cfg = self.config
        for i, x in enumerate(values.tolist()):
            det.update(x)
            self._sum += x
            self._count += 1
            if not det.drift_detected:
                continue
            record = self._seen + i
            before = (self._sum - x) / (self._count - 1) if self._count > 1 else math.nan
            after = self._estimate()
            self._sum, self._count = (after, 1) if math.isfinite(after) else (0.0, 0)
            if self._last_signal is not None and record + 1 - self._last_signal <= cfg.cooldown:
                continue
            if cfg.increases_only and math.isfinite(after) and math.isfinite(before) and after <= before:
                continue
            self._last_signal = record + 1
            signals.append(DriftSignal(i, record, cfg.detector, before, after))
        self._seen += len(values)
        return signals


def error_stream(y_true: ArrayLike, y_pred: ArrayLike, *, classification: bool) -> NDArray[np.float64]:
    """Per-record errors: 1.0 where a classifier is wrong (else 0.0), the absolute error for regression."""
    truth, pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if truth.shape != pred.shape:
        raise BadRecordError("shape_mismatch", "y_true and y_pred must have the same length")
    out: NDArray[np.float64]
    if classification:
        out = (truth != pred).astype(np.float64)
    else:
        out = np.abs(pred.astype(np.float64) - truth.astype(np.float64))
    return out
