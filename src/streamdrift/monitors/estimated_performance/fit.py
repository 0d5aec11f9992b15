"""Fitting the estimated-performance section on a baseline's binary model-quality state (see
:mod:`streamdrift.monitors.estimated_performance.calibration`)."""

from __future__ import annotations

import numpy as np

from streamdrift.errors import BaselineError
from streamdrift.monitors.estimated_performance.calibration import (
    CalibrationMap,
    CalibrationMethod,
    EstimatedPerformanceBaseline,
    fit_calibration,
)
from streamdrift.monitors.estimated_performance.estimate import estimate_metrics
from streamdrift.monitors.estimated_performance.state import EstimatedPerformanceState
from streamdrift.monitors.model_quality.metrics import ProblemType, compute_metrics
from streamdrift.monitors.model_quality.state import BinaryQualityState, MulticlassQualityState


def realised_state(quality: BinaryQualityState, threshold: float) -> BinaryQualityState:
    """The baseline's confusion counts of ``score >= threshold`` from its score histograms (the predicted class
    the estimate uses), with the same histograms: its metrics are the rule's reference."""
    n_bins = quality.n_bins
    cut = int(np.ceil(threshold * n_bins - 1e-9))  # bins at or above the threshold (exact at bin edges)
    pos, neg = quality.pos_hist, quality.neg_hist
    out = BinaryQualityState.empty(threshold, n_bins)
    out.tp, out.fn = int(pos[cut:].sum()), int(pos[:cut].sum())
    out.fp, out.tn = int(neg[cut:].sum()), int(neg[:cut].sum())
    out.pos_hist, out.neg_hist = pos.copy(), neg.copy()
    out.n_scored = quality.n_scored
    out.log_loss_sum, out.log_loss_sq_sum = quality.log_loss_sum, quality.log_loss_sq_sum
    return out


def build_section(quality: BinaryQualityState, method: CalibrationMethod = "isotonic") -> EstimatedPerformanceBaseline:
    """Fit the map on a baseline's binary quality state and record the realised and estimated metrics."""
    if quality.n_scored == 0:
        raise BaselineError("estimated performance needs the baseline's scores (--score)")
    calibration = CalibrationMap(fit_calibration(quality.pos_hist, quality.neg_hist, method), method,
                                 (quality.pos_hist + quality.neg_hist).astype(np.float64))
    realised = compute_metrics(realised_state(quality, quality.threshold))
    # the estimate on the baseline: every bin's count at its calibrated probability, as a window would see it
    counts = quality.pos_hist + quality.neg_hist
    centres = (np.arange(quality.n_bins) + 0.5) / quality.n_bins
    state = EstimatedPerformanceState.empty(quality.threshold)
    state.update(np.repeat(centres, counts), np.repeat(calibration.values, counts))
    return EstimatedPerformanceBaseline(calibration, quality.threshold, realised.metrics,
                                        estimate_metrics(state, calibration).metrics, int(counts.sum()))


def build_multiclass_section(correctness: BinaryQualityState, quality: MulticlassQualityState,
                             method: CalibrationMethod = "isotonic") -> EstimatedPerformanceBaseline:
    """A multiclass model's map of the predicted class's score to the probability that the prediction is right
    (``correctness``: right = positive, by that score), and the baseline's realised metrics: estimated accuracy."""
    if correctness.n_scored == 0:
        raise BaselineError("estimated performance needs the baseline's scores (--score)")
    calibration = CalibrationMap(fit_calibration(correctness.pos_hist, correctness.neg_hist, method), method,
                                 (correctness.pos_hist + correctness.neg_hist).astype(np.float64))
    counts = correctness.pos_hist + correctness.neg_hist
    centres = (np.arange(correctness.n_bins) + 0.5) / correctness.n_bins
    state = EstimatedPerformanceState.empty(0.0)
    state.update(np.repeat(centres, counts), np.repeat(calibration.values, counts))
    estimated = estimate_metrics(state, calibration, ProblemType.MULTICLASS)
    return EstimatedPerformanceBaseline(calibration, 0.0, compute_metrics(quality).metrics, estimated.metrics,
                                        int(counts.sum()), ProblemType.MULTICLASS)
