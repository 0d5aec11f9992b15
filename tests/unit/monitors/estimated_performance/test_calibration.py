from __future__ import annotations

import numpy as np
import pytest

from streamdrift.errors import BaselineError
from streamdrift.monitors.estimated_performance.calibration import (
    CalibrationMap,
    EstimatedPerformanceBaseline,
    fit_calibration,
    pav,
)
from streamdrift.monitors.estimated_performance.fit import build_section
from streamdrift.monitors.model_quality.state import BinaryQualityState


def _brute_isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted isotonic regression by the min-max formula: f_i = max_{a<=i} min_{b>=i} mean_w(y[a..b])."""
    n = y.size
    out = np.empty(n)
    for i in range(n):
        out[i] = max(min(float(np.average(y[a:b + 1], weights=w[a:b + 1])) for b in range(i, n))
                     for a in range(i + 1))
    return out


def test_pav_matches_the_min_max_formula_on_random_inputs() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(1, 25))
        y, w = rng.random(n), rng.integers(1, 20, n).astype(np.float64)
        fitted = pav(y, w)
        np.testing.assert_allclose(fitted, _brute_isotonic(y, w), atol=1e-12)
        assert (np.diff(fitted) >= -1e-12).all()
        assert np.dot(fitted, w) == pytest.approx(np.dot(y, w))  # PAV keeps the weighted total


def test_pav_known_example_and_empty_points() -> None:
    np.testing.assert_allclose(pav(np.array([0.1, 0.5, 0.3, 0.7]), np.ones(4)), [0.1, 0.4, 0.4, 0.7])
    # zero-weight points take the value of the block before them (the first block's at the start)
    fitted = pav(np.array([0.0, 0.2, 0.0, 0.9, 0.0]), np.array([0.0, 1.0, 0.0, 1.0, 0.0]))
    np.testing.assert_allclose(fitted, [0.2, 0.2, 0.2, 0.9, 0.9])


def test_isotonic_map_recovers_calibrated_scores() -> None:
    rng = np.random.default_rng(5)
    score = rng.random(400_000)
    label = (rng.random(score.size) < score).astype(np.float64)
    state = BinaryQualityState.empty()
    state.update(label, score=score)
    values = fit_calibration(state.pos_hist, state.neg_hist)
    centres = (np.arange(values.size) + 0.5) / values.size
    # about 390 records a bin: a single bin's rate has SE <= 0.025; PAV pools bins, so the mean error is far below
    assert np.abs(values - centres).mean() < 0.01
    assert (np.diff(values) >= 0).all()
    coarse = fit_calibration(state.pos_hist, state.neg_hist, "histogram")  # 32 groups of 12.5k: SE <= 0.0045
    assert np.abs(coarse - centres).max() < 1 / 64 + 0.02


def test_one_class_baseline_cannot_be_calibrated() -> None:
    with pytest.raises(BaselineError, match="both classes"):
        fit_calibration(np.zeros(8), np.ones(8))


def test_section_round_trips_and_rejects_bad_versions() -> None:
    rng = np.random.default_rng(7)
    score = rng.random(20_000)
    state = BinaryQualityState.empty()
    state.update((rng.random(score.size) < score).astype(np.float64), score=score)
    section = build_section(state)
    back = EstimatedPerformanceBaseline.from_dict(section.to_dict())
    np.testing.assert_allclose(back.calibration.values, section.calibration.values, atol=1e-9)
    assert back.metrics["accuracy"].value == pytest.approx(section.metrics["accuracy"].value)
    assert back.n == 20_000 and back.threshold == 0.5
    # on its own baseline the estimate matches the realised accuracy (isotonic keeps each block's positives)
    assert back.estimated["accuracy"].value == pytest.approx(back.metrics["accuracy"].value, abs=0.01)
    for bad in ({**section.to_dict(), "version": 99}, {**section.to_dict(), "calibration": [0.5, 2.0]},
                {**section.to_dict(), "problem_type": "regression"}):
        with pytest.raises(BaselineError):
            EstimatedPerformanceBaseline.from_dict(bad)


def test_block_weights_sum_the_baseline_counts_of_each_value() -> None:
    cal = CalibrationMap(np.array([0.1, 0.1, 0.5, 0.5, 0.5, 0.95]), "isotonic", np.array([3.0, 1, 2, 2, 0, 7]))
    weights = cal.block_weights(10)
    assert weights[1] == 4 and weights[5] == 4 and weights[9] == 7 and weights.sum() == 15
