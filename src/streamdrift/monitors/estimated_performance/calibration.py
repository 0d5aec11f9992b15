"""The calibration map of a binary classifier's scores and the estimated-performance baseline section.

The map is fitted on the baseline's labelled scores as **isotonic regression** by pool-adjacent-violators (PAV)
over the fine score histogram the model-quality baseline already holds (``n_bins`` equal bins of [0, 1],
positives and negatives per bin): each bin gets the positive rate of its PAV block, weighted by the bin's count.
Empty bins take the value of the block they fall in (between two blocks: the lower one's). Applying the map is a
table lookup per score (vectorized). ``method="histogram"`` keeps the raw per-bin positive rate of coarser bins
(histogram binning, not monotone).

The section (``Baseline.estimated_performance``, versioned) holds the map, the decision threshold, the baseline's
realised metrics (the rule's reference) and the estimate of the same metrics on the baseline itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import BaselineError
from streamdrift.monitors.base import check_section_version
from streamdrift.monitors.model_quality.metrics import MetricValue, ProblemType

SECTION_VERSION: Final[int] = 1
CalibrationMethod = Literal["isotonic", "histogram"]
HISTOGRAM_BINS: Final[int] = 32  # bins of the histogram-binning map (coarse enough for stable rates)


def score_bins(scores: NDArray[np.float64], n_bins: int) -> NDArray[np.intp]:
    """The bin of each score (clipped into [0, 1]; NaN must be removed first), as the quality state bins them."""
    return np.minimum((np.clip(scores, 0.0, 1.0) * n_bins).astype(np.intp), n_bins - 1)


def pav(rates: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Isotonic (non-decreasing) least-squares fit of ``rates`` with ``weights`` (pool adjacent violators).

    Zero-weight points take the value of the block before them (the first block's value at the start). The loop
    runs once per point of the histogram (a fixed 1024 at most), never per record."""
    keep = np.flatnonzero(weights > 0)
    if keep.size == 0:
        return np.full(rates.shape, np.nan)
    values: list[float] = []
    mass: list[float] = []
    length: list[int] = []
    for r, w in zip(rates[keep].tolist(), weights[keep].tolist(), strict=True):
        values.append(r)
        mass.append(w)
        length.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            w2, v2, l2 = mass.pop(), values.pop(), length.pop()
            w1 = mass[-1]
            values[-1] = (values[-1] * w1 + v2 * w2) / (w1 + w2)
            mass[-1] = w1 + w2
            length[-1] += l2
    fitted = np.repeat(np.asarray(values), np.asarray(length))
    out = np.empty(rates.shape)
    position = np.searchsorted(keep, np.arange(rates.size), side="right") - 1  # last kept point at or before
    out[:] = fitted[np.maximum(position, 0)]
    return out


def fit_calibration(pos_hist: ArrayLike, neg_hist: ArrayLike, method: CalibrationMethod = "isotonic"
                    ) -> NDArray[np.float64]:
    """Calibrated probability per score bin from the baseline's positive / negative score histograms."""
    pos, neg = np.asarray(pos_hist, dtype=np.float64), np.asarray(neg_hist, dtype=np.float64)
    total = pos + neg
    if total.sum() == 0 or pos.sum() == 0 or neg.sum() == 0:
        raise BaselineError("estimated performance needs labelled scores of both classes in the baseline")
    if method == "histogram":
        n = pos.size
        group = np.arange(n) * HISTOGRAM_BINS // n
        gp, gt = np.bincount(group, pos, HISTOGRAM_BINS), np.bincount(group, total, HISTOGRAM_BINS)
        rate = np.divide(gp + 0.5, gt + 1.0)  # a half-count prior keeps empty groups at 0.5
        return np.asarray(rate[group], dtype=np.float64)
    rates = np.divide(pos, total, out=np.zeros_like(pos), where=total > 0)
    return pav(rates, total)


@dataclass(frozen=True)
class CalibrationMap:
    """Calibrated probability per score bin (``values[b]`` for scores in ``[b/n, (b+1)/n)``) and the baseline's
    record count per score bin (the weight behind each value: its uncertainty)."""

    values: NDArray[np.float64]
    method: CalibrationMethod = "isotonic"
    counts: NDArray[np.float64] | None = None

    def block_weights(self, n_bins: int) -> NDArray[np.float64]:
        """Baseline records behind the calibrated values falling in each of ``n_bins`` equal bins of [0, 1]
        (a block: a run of score bins sharing one value, e.g. one PAV block). Zero without the counts."""
        out = np.zeros(n_bins)
        if self.counts is None:
            return out
        starts = np.flatnonzero(np.r_[True, self.values[1:] != self.values[:-1]])
        weights = np.add.reduceat(self.counts, starts)
        bins = np.minimum((self.values[starts] * n_bins).astype(np.intp), n_bins - 1)
        out += np.bincount(bins, weights, minlength=n_bins)
        return out

    @property
    def n_bins(self) -> int:
        return int(self.values.size)

    def apply(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities of finite scores (NaN stays NaN)."""
        out = np.full(scores.shape, np.nan)
        ok = np.isfinite(scores)
        out[ok] = self.values[score_bins(scores[ok], self.n_bins)]
        return out


def _metric_dict(metrics: Mapping[str, MetricValue]) -> dict[str, dict[str, float | None]]:
    return {k: {"value": _num(v.value), "standard_error": _num(v.standard_error)} for k, v in metrics.items()}


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _metric_values(raw: Any) -> dict[str, MetricValue]:
    if not isinstance(raw, Mapping):
        raise BaselineError("estimated_performance: metrics must be an object")
    out = {}
    for name, entry in raw.items():
        value, se = entry.get("value"), entry.get("standard_error")
        out[str(name)] = MetricValue(float("nan") if value is None else float(value),
                                     float("nan") if se is None else float(se))
    return out


@dataclass(frozen=True)
class EstimatedPerformanceBaseline:
    """The ``estimated_performance`` section of a baseline (binary: the map of the score to P(positive);
    multiclass: of the predicted class's score to P(the prediction is right), threshold 0)."""

    calibration: CalibrationMap
    threshold: float
    metrics: Mapping[str, MetricValue]  # realised on the baseline: the rule's reference
    estimated: Mapping[str, MetricValue]  # the estimate on the baseline itself (how well the map fits)
    n: int
    problem_type: ProblemType = ProblemType.BINARY

    def to_dict(self) -> dict[str, Any]:
        return {"version": SECTION_VERSION, "problem_type": self.problem_type.value,
                "method": self.calibration.method, "threshold": self.threshold, "n_bins": self.calibration.n_bins,
                "calibration": [round(float(v), 9) for v in self.calibration.values], "n": self.n,
                **({"counts": [int(c) for c in self.calibration.counts]} if self.calibration.counts is not None
                   else {}),
                "metrics": _metric_dict(self.metrics), "estimated_metrics": _metric_dict(self.estimated)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EstimatedPerformanceBaseline:
        check_section_version(data, "estimated_performance", SECTION_VERSION)
        try:
            problem_type = ProblemType(data["problem_type"])
            if problem_type is ProblemType.REGRESSION:
                raise BaselineError("estimated performance of a regression model is not supported")
            values = np.asarray(data["calibration"], dtype=np.float64)
            if values.ndim != 1 or values.size != int(data["n_bins"]) or values.size < 2:
                raise BaselineError("estimated_performance: calibration must list one value per score bin")
            if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
                raise BaselineError("estimated_performance: calibrated probabilities must be in [0, 1]")
            threshold = float(data["threshold"])
            if not 0.0 <= threshold <= 1.0:
                raise BaselineError(f"estimated_performance: threshold {threshold} is not in [0, 1]")
            counts = np.asarray(data["counts"], dtype=np.float64) if data.get("counts") is not None else None
            if counts is not None and (counts.shape != values.shape or not (counts >= 0).all()):
                raise BaselineError("estimated_performance: counts must list one count >= 0 per score bin")
            method = data.get("method", "isotonic")
            if method not in ("isotonic", "histogram"):
                raise BaselineError(f"estimated_performance: unknown calibration method {method!r}")
            return cls(CalibrationMap(values, method, counts), threshold, _metric_values(data["metrics"]),
                       _metric_values(data.get("estimated_metrics") or {}), int(data["n"]), problem_type)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BaselineError(f"invalid estimated_performance section: {exc!r}") from exc
