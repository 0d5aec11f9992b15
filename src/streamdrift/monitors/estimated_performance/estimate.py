"""Estimated binary-classification metrics of a window from calibrated probabilities alone (CBPE).

With calibrated probabilities ``p_i`` and predicted classes ``yhat_i``, each record's label is Bernoulli(p_i), so
the expected confusion matrix is ``E[TP] = sum_{yhat=1} p``, ``E[FP] = n_1 - E[TP]``, ``E[FN] = sum_{yhat=0} p``,
``E[TN] = n_0 - E[FN]``. With ``A = sum_{yhat=1} p`` and ``B = sum_{yhat=0} p``:

* accuracy = (A + n_0 - B) / n, precision = A / n_1, recall = A / (A + B), F1 = 2A / (n_1 + A + B);
* the standard error of each is the standard deviation of the *realised* metric given the scores (labels
  independent Bernoulli): ``Var(TP) = sum_{yhat=1} p(1-p)`` and ``Var(FN) = sum_{yhat=0} p(1-p)``, through the
  delta method for recall and F1. The realised value falls within ``estimate +- 1.96 SE`` about 95% of the time
  when the calibration holds;
* ROC AUC from the calibrated-score histogram: bin ``b`` holds ``sum p`` expected positives and ``count - sum p``
  expected negatives (ties within a bin count one half, as the realised AUC); SE by Hanley-McNeil on the expected
  class sizes.

The calibration map itself is uncertain: each calibrated value is a positive rate over ``W`` baseline records
(its PAV block), with variance ``v(1-v)/W``, shared by every window record in that block. With the map given, a
histogram bin of ``c`` records adds ``c^2 v(1-v)/W`` to the variance of ``E[TP]`` (bins at or above the
threshold's calibrated value) or of ``E[FN]`` (below), so the interval covers the fitting error too.
"""

from __future__ import annotations

import math

import numpy as np

from streamdrift.monitors.estimated_performance.calibration import CalibrationMap
from streamdrift.monitors.estimated_performance.state import EstimatedPerformanceState
from streamdrift.monitors.model_quality.metrics import MetricValue, ProblemType, QualityMetrics


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def _sqrt(var: float) -> float:
    return math.sqrt(var) if var >= 0 and math.isfinite(var) else float("nan")


def float_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC of (possibly fractional) per-bin positive / negative weights, ties within a bin one half."""
    p_total, n_total = float(pos.sum()), float(neg.sum())
    if p_total <= 0 or n_total <= 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float((pos * neg_below).sum() + 0.5 * (pos * neg).sum()) / (p_total * n_total)


def hanley_mcneil(auc: float, n_pos: float, n_neg: float) -> float:
    if n_pos <= 0 or n_neg <= 0 or not math.isfinite(auc):
        return float("nan")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.25 / (n_pos * n_neg + 1.0)))


def calibration_variance(state: EstimatedPerformanceState, calibration: CalibrationMap) -> tuple[float, float]:
    """The variance the map's fitting error adds to ``E[TP]`` and to ``E[FN]`` (see the module docs)."""
    weights = calibration.block_weights(state.n_bins)
    count = state.hist_count.astype(np.float64)
    v = np.divide(state.sums()[2], count, out=np.zeros_like(count), where=count > 0)
    var = np.divide(count * count * v * (1.0 - v), weights, out=np.zeros_like(count), where=weights > 0)
    cut = calibration.apply(np.array([state.threshold]))[0]
    positive = v >= cut
    return float(var[positive].sum()), float(var[~positive].sum())


def estimate_metrics(state: EstimatedPerformanceState, calibration: CalibrationMap | None = None,
                     problem_type: ProblemType = ProblemType.BINARY) -> QualityMetrics:
    """The window's estimated accuracy, precision, recall, F1 and ROC AUC with standard errors (names as the
    realised metrics of :mod:`streamdrift.monitors.model_quality.metrics`); ``calibration``: the map the
    probabilities came from, for its fitting error (without: the label noise alone).

    Multiclass: ``p`` is the probability that the predicted class is right (the state's threshold is 0, so every
    record counts as "predicted positive"): the estimated accuracy is ``sum p / n`` alone."""
    if problem_type is ProblemType.MULTICLASS:
        return _multiclass(state, calibration)
    n0, n1 = float(state.counts[0]), float(state.counts[1])
    n = n0 + n1
    psum, p2sum, hist_psum = state.sums()
    a, b = float(psum[1]), float(psum[0])
    va = max(a - float(p2sum[1]), 0.0)  # sum p(1-p) over predicted positives
    vb = max(b - float(p2sum[0]), 0.0)
    if calibration is not None and n > 0:
        ca, cb = calibration_variance(state, calibration)
        va, vb = va + ca, vb + cb
    metrics: dict[str, MetricValue] = {}
    if n > 0:
        metrics["accuracy"] = MetricValue((a + n0 - b) / n, _sqrt(va + vb) / n)
        metrics["precision"] = MetricValue(_ratio(a, n1) if n1 else 0.0, _sqrt(va) / n1 if n1 else float("nan"))
        pos = a + b
        recall_var = (b * b * va + a * a * vb) / pos**4 if pos > 0 else float("nan")
        metrics["recall"] = MetricValue(_ratio(a, pos) if pos > 0 else 0.0, _sqrt(recall_var))
        den = n1 + a + b
        f1_var = (4 * (n1 + b) ** 2 * va + 4 * a * a * vb) / den**4 if den > 0 else float("nan")
        metrics["f1"] = MetricValue(_ratio(2 * a, den) if den > 0 else 0.0, _sqrt(f1_var))
        expected_pos = hist_psum
        expected_neg = np.maximum(state.hist_count - hist_psum, 0.0)
        auc = float_auc(expected_pos, expected_neg)
        metrics["auc"] = MetricValue(auc, hanley_mcneil(auc, float(expected_pos.sum()), float(expected_neg.sum())))
    expected = {"0": {"0": round(n0 - b), "1": round(n1 - a)}, "1": {"0": round(b), "1": round(a)}}
    return QualityMetrics(ProblemType.BINARY, int(n), metrics, expected)


def _multiclass(state: EstimatedPerformanceState, calibration: CalibrationMap | None) -> QualityMetrics:
    n = state.n
    psum, p2sum, _ = state.sums()
    right = float(psum.sum())
    var = max(right - float(p2sum.sum()), 0.0)
    if calibration is not None and n > 0:
        var += sum(calibration_variance(state, calibration))
    metrics = {"accuracy": MetricValue(right / n, _sqrt(var) / n)} if n > 0 else {}
    return QualityMetrics(ProblemType.MULTICLASS, n, metrics)
