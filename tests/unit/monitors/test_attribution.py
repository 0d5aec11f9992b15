"""Attribution state, NDCG as SageMaker defines it, the attribution drift check."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from numpy.typing import NDArray

from streamdrift.errors import (
    ConfigError,
    CorruptBlobError,
    EvaluationError,
    MergeError,
    ParameterMismatchError,
    VersionMismatchError,
)
from streamdrift.monitors.attribution import (
    AttributionBaseline,
    AttributionDriftConfig,
    AttributionState,
    evaluate_attribution,
    ndcg,
)

FEATURES = ("a", "b", "c", "d")
SCALES = np.array([1.0, 0.4, 0.2, 0.1])


def _attributions(rng: np.random.Generator, n: int, scales: NDArray[np.float64] = SCALES) -> NDArray[np.float64]:
    return np.asarray(rng.normal(0.0, 1.0, (n, scales.size)) * scales, dtype=np.float64)


def test_update_is_mean_absolute_value_with_missing() -> None:
    state = AttributionState.empty(("x", "y"))
    state.update(np.array([[1.0, -2.0], [-3.0, np.nan], [0.5, 4.0]]))
    assert state.counts.tolist() == [3, 2]
    assert state.mean_abs().tolist() == pytest.approx([4.5 / 3, 3.0])
    assert state.n_records == 3
    state.update_columns({"y": np.array([1.0])})
    assert state.counts.tolist() == [3, 3]


def test_merge_equals_sequential_update() -> None:
    rng = np.random.default_rng(0)
    whole = AttributionState.empty(FEATURES)
    merged = AttributionState.empty(FEATURES)
    for _ in range(4):
        batch = _attributions(rng, 500)
        batch[rng.random(batch.shape) < 0.05] = np.nan
        part = AttributionState.empty(FEATURES)
        part.update(batch)
        whole.update(batch)
        merged.merge(part)
    assert np.array_equal(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.abs_sums, whole.abs_sums, rtol=1e-12)
    with pytest.raises(MergeError):
        merged.merge(AttributionState.empty(("a", "b")))


def test_round_trip_and_bad_blobs() -> None:
    state = AttributionState.empty(FEATURES)
    state.update(_attributions(np.random.default_rng(1), 100))
    blob = state.to_bytes()
    back = AttributionState.from_bytes(blob, expected=FEATURES)
    assert back.features == FEATURES
    assert np.array_equal(back.abs_sums, state.abs_sums) and np.array_equal(back.counts, state.counts)
    for bad in (blob[:3], b"NOPE" + blob[4:], blob[:-1], blob[:15]):
        with pytest.raises(CorruptBlobError):
            AttributionState.from_bytes(bad)
    with pytest.raises(VersionMismatchError):
        AttributionState.from_bytes(blob[:4] + struct.pack("<H", 2) + blob[6:])
    with pytest.raises(ParameterMismatchError):
        AttributionState.from_bytes(blob, expected=("a",))
    with pytest.raises(EvaluationError):
        state.update(np.zeros((3, 2)))
    with pytest.raises(ConfigError):
        AttributionState.empty(("a", "a"))


def test_ndcg_identical_ranking_is_one() -> None:
    base = np.array([0.5, 0.3, 0.1, 0.05])
    assert ndcg(base, base) == 1.0
    assert ndcg(base, base * 7 + 1) == 1.0  # only the window's order matters


def test_ndcg_swapped_top_two_by_the_formula() -> None:
    base = np.array([0.5, 0.3, 0.1, 0.05])
    window = np.array([0.3, 0.5, 0.1, 0.05])
    ideal = 0.5 / math.log2(2) + 0.3 / math.log2(3) + 0.1 / math.log2(4) + 0.05 / math.log2(5)
    dcg = 0.3 / math.log2(2) + 0.5 / math.log2(3) + 0.1 / math.log2(4) + 0.05 / math.log2(5)
    assert ndcg(base, window) == pytest.approx(dcg / ideal, rel=1e-12)
    assert ndcg(base, window) < 1.0
    # reversing the whole ranking is worse than swapping the top two
    assert ndcg(base, np.array([0.0, 1.0, 2.0, 3.0])) < ndcg(base, window)


def test_ndcg_ties_do_not_count_as_swaps() -> None:
    base = np.array([0.5, 0.5, 0.1])
    assert ndcg(base, np.array([0.2, 0.2, 0.2])) == 1.0


def test_evaluate_flags_a_swap_and_not_noise() -> None:
    rng = np.random.default_rng(2)
    baseline = AttributionBaseline.from_array(_attributions(rng, 50_000), FEATURES)
    quiet = AttributionState.empty(FEATURES)
    quiet.update(_attributions(rng, 2000))
    swapped = AttributionState.empty(FEATURES)
    swapped.update(_attributions(rng, 2000, SCALES[[1, 0, 2, 3]]))
    ok = evaluate_attribution(quiet, baseline)
    bad = evaluate_attribution(swapped, baseline)
    assert ok.status == "ok" and not ok.drifted and ok.ndcg is not None and ok.ndcg > 0.99
    assert bad.drifted and bad.ndcg is not None and bad.ndcg < 0.9
    assert bad.window_ranking[:2] == ("b", "a") and bad.baseline_ranking[:2] == ("a", "b")


def test_evaluate_needs_enough_records_and_the_baseline_features() -> None:
    rng = np.random.default_rng(3)
    baseline = AttributionBaseline.from_array(_attributions(rng, 1000), FEATURES)
    small = AttributionState.empty(FEATURES)
    small.update(_attributions(rng, 50, SCALES[::-1].copy()))
    result = evaluate_attribution(small, baseline, AttributionDriftConfig(min_records=100))
    assert result.status == "insufficient_data" and result.ndcg is None and not result.drifted
    with pytest.raises(EvaluationError):
        evaluate_attribution(AttributionState.empty(("a", "b")), baseline)
    with pytest.raises(ConfigError):
        AttributionDriftConfig(threshold=1.5)


def test_baseline_dict_round_trip_and_validation() -> None:
    baseline = AttributionBaseline.from_columns({"x": np.array([1.0, -3.0]), "y": np.array([0.5, 0.5])})
    assert baseline.as_mapping() == {"x": 2.0, "y": 0.5}
    assert AttributionBaseline.from_dict(baseline.to_dict()) == baseline
    with pytest.raises(ConfigError):
        AttributionBaseline(("x",), (-1.0,))
    with pytest.raises(ConfigError):
        AttributionBaseline.from_dict({"version": 1})
