"""Folding monitor-state blobs (model quality, bias, attribution) into one, as the merger does per delta."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.errors import ParameterMismatchError, SerializationError
from streamdrift.monitors.attribution import AttributionState
from streamdrift.monitors.bias import BiasConfig, BiasState, FacetSpec, OutcomeSpec
from streamdrift.monitors.model_quality import BinaryQualityState, state_from_bytes
from streamdrift.monitors.states import merge_state_blobs
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.accumulator import WindowAccumulator
from streamdrift.window.partials import PartialDelta


def _quality(seed: int, n: int = 50) -> BinaryQualityState:
    rng = np.random.default_rng(seed)
    state = BinaryQualityState.empty()
    state.update(rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n).astype(float), rng.random(n))
    return state


def test_merged_blob_equals_merging_the_states() -> None:
    states = [_quality(s) for s in range(5)]
    expected = _quality(0)
    for s in states[1:]:
        expected.merge(s)
    merged = state_from_bytes(merge_state_blobs([s.to_bytes() for s in states]))
    assert isinstance(merged, BinaryQualityState)
    assert (merged.n, merged.tp, merged.fp, merged.fn, merged.tn) == (expected.n, expected.tp, expected.fp,
                                                                     expected.fn, expected.tn)
    assert merged.to_bytes() == expected.to_bytes()


def test_bias_and_attribution_blobs_fold_too() -> None:
    config = BiasConfig((FacetSpec("g", values=("f",)),), OutcomeSpec(values=(1,)), OutcomeSpec(values=(1,)))
    a, b = BiasState.empty(config), BiasState.empty(config)
    a.update({"g": np.array(["f", "m"], dtype=object)}, np.array([1, 0]))
    b.update({"g": np.array(["f"], dtype=object)}, np.array([1]))
    assert int(BiasState.from_bytes(merge_state_blobs([a.to_bytes(), b.to_bytes()])).n_records[0]) == 3
    x, y = AttributionState.empty(["u", "v"]), AttributionState.empty(["u", "v"])
    x.update_columns({"u": np.array([1.0, -1.0]), "v": np.array([0.5, 0.5])})
    y.update_columns({"u": np.array([2.0]), "v": np.array([0.0])})
    folded = AttributionState.from_bytes(merge_state_blobs([x.to_bytes(), y.to_bytes()]))
    assert folded.to_bytes() == x.merge(y).to_bytes()


def test_blobs_that_do_not_fold_raise() -> None:
    with pytest.raises(SerializationError):
        merge_state_blobs([b"garbage", _quality(1).to_bytes()])
    profile = DatasetProfile.empty(ProfileParams()).to_bytes()
    with pytest.raises(ParameterMismatchError):
        merge_state_blobs([profile, profile])


def test_an_hour_of_label_deltas_keeps_one_state_in_the_accumulator() -> None:
    """A labels stage receives a delta per partition per commit; the stored accumulator must not grow with
    their states (only their ids, for idempotence)."""
    empty = DatasetProfile.empty(ProfileParams())
    acc = WindowAccumulator("m", 0, 60_000, first_seen_ms=0)
    sizes = []
    for i in range(200):
        extras = {"model_quality": _quality(i).to_bytes()}
        acc.add_delta(PartialDelta("m", None, 0, 60_000, f"cap#monitors@{i}", i % 4, i, 0, empty, extras,
                                   stage="labels"))
        sizes.append(len(acc.to_bytes()))
    [blob] = acc.extras["model_quality"]
    assert state_from_bytes(blob).n == 200 * 50
    per_delta = (sizes[-1] - sizes[99]) / 100
    one_state = min(len(_quality(i).to_bytes()) for i in range(200))  # what keeping every blob would add
    assert per_delta < 100 < one_state  # a delta id, not a state
    restored = WindowAccumulator.from_bytes(acc.to_bytes())
    assert restored.extras == acc.extras and restored.seen_delta_ids == acc.seen_delta_ids
