"""The labels stage of a partition (label join, model-quality states per window) and the data stage's
per-window states of the other monitors (bias)."""

from __future__ import annotations

import numpy as np

from streamdrift.ingest.records import (
    CaptureBatch,
    LabelBatch,
    encode_capture_record,
    encode_label_record,
    parse_capture,
    parse_labels,
)
from streamdrift.monitors.bias import (
    BiasBaseline,
    BiasConfig,
    BiasDriftConfig,
    BiasState,
    FacetSpec,
    OutcomeSpec,
)
from streamdrift.monitors.bias.monitor import BiasMonitor
from streamdrift.monitors.model_quality import BinaryQualityState, state_from_bytes
from streamdrift.monitors.registry import ModelMonitors, MonitorConfig, monitors_for
from streamdrift.window.joinstore import JoinStore, join_sample
from streamdrift.window.labels import PartitionLabels
from streamdrift.window.windows import PartitionWindows, WindowSpec

SIZE = 1000
NO_BASELINE = monitors_for(None, MonitorConfig())


def _monitors() -> PartitionLabels:
    return PartitionLabels(JoinStore(None, ttl_ms=10_000), SIZE, lambda model: NO_BASELINE)


def _pred_batch(rows: list[tuple[str, int, int, float, str]]) -> CaptureBatch:
    values = [encode_capture_record("m", features={"gender": g}, inference_id=i, timestamp_ms=t,
                                    prediction={"label": p, "score": s}) for i, t, p, s, g in rows]
    batches, dead = parse_capture(values)
    assert not dead and len(batches) == 1
    return batches[0]


def _label_batch(rows: list[tuple[str, int, int]]) -> LabelBatch:
    labels, dead = parse_labels([encode_label_record("m", i, y, t) for i, t, y in rows])
    assert not dead
    return labels


def test_labels_join_in_either_order_and_count_in_the_prediction_window() -> None:
    mon = _monitors()
    # label of a first, prediction later; prediction of b first, label later (in the next window's time)
    mon.add_labels(_label_batch([("a", 100, 1)]))
    streams = mon.add_captures([_pred_batch([("a", 50, 1, 0.9, "f"), ("b", 900, 0, 0.2, "m"),
                                           ("c", 1500, 1, 0.7, "m")])])
    assert [s.errors.tolist() for s in streams] == [[0.0]]  # a joined: predicted 1, label 1
    streams = mon.add_labels(_label_batch([("b", 1200, 1), ("b", 1250, 1), ("zzz", 1300, 0)]))
    assert [s.errors.tolist() for s in streams] == [[1.0]]  # b: predicted 0, label 1
    drained = mon.drain()
    state = state_from_bytes(drained[("m", 0)]["model_quality"])
    assert isinstance(state, BinaryQualityState) and (state.tp, state.fn, state.n) == (1, 1, 2)
    assert ("m", 1000) not in drained  # c has no label yet
    outcomes = mon.take_outcomes()
    assert outcomes[("m", "matched")] == 2 and outcomes[("m", "duplicate")] == 1
    assert outcomes[("m", "early")] == 2  # a's label and zzz's waited for a prediction
    mon.expire(1300 + 10_001)
    assert mon.take_outcomes()[("", "unmatched")] == 1  # zzz never got its prediction


def test_label_after_the_data_close_still_counts_in_its_window() -> None:
    mon = _monitors()
    mon.add_captures([_pred_batch([("a", 10, 1, 0.9, "f"), ("b", 20, 0, 0.1, "f")])])
    assert mon.close_labels(999) == 0  # labels watermark not past its end: the labels stage of [0, 1000) is open
    [stream] = mon.add_labels(_label_batch([("a", 2000, 1)]))
    assert stream.errors.tolist() == [0.0]
    state = state_from_bytes(mon.drain()[("m", 0)]["model_quality"])
    assert state.n == 1
    assert mon.take_outcomes()[("m", "matched")] == 1


def test_label_after_the_labels_close_is_late_but_feeds_concept_drift() -> None:
    mon = _monitors()
    mon.add_captures([_pred_batch([("a", 10, 1, 0.9, "f"), ("b", 1010, 0, 0.1, "f")])])
    assert mon.close_labels(1500) == 1000 and mon.close_labels(1999) is None
    [stream] = mon.add_labels(_label_batch([("a", 2000, 0), ("b", 2000, 0)]))
    assert stream.errors.tolist() == [1.0, 0.0]  # the late row's error still reaches the detector
    drained = mon.drain()
    assert ("m", 0) not in drained and state_from_bytes(drained[("m", 1000)]["model_quality"]).n == 1
    outcomes = mon.take_outcomes()
    assert (outcomes[("m", "late")], outcomes[("m", "matched")]) == (1, 1)


def test_bias_state_per_window_from_capture_rows() -> None:
    config = BiasConfig((FacetSpec("gender", values=("f",)),), OutcomeSpec(values=(1,)), OutcomeSpec(values=(1,)))
    bias = BiasMonitor(BiasBaseline((), config), config, BiasDriftConfig())
    monitors = ModelMonitors(None, (*NO_BASELINE.data, bias))
    windows = PartitionWindows(WindowSpec(SIZE), monitors_of=lambda model: monitors)
    windows.add(_pred_batch([("a", 10, 1, 0.9, "f"), ("b", 20, 0, 0.1, "f"), ("c", 30, 1, 0.8, "m"),
                             ("d", 1100, 1, 0.8, "m")]))
    drained = {d.window_start_ms: d for d in windows.drain_deltas()}
    w0 = BiasState.from_bytes(drained[0].extras["bias"])
    assert int(w0.n_records[0]) == 3 and int(BiasState.from_bytes(drained[1000].extras["bias"]).n_records[0]) == 1
    assert (int(w0.counts[0, 1].sum()), int(w0.counts[0, 0].sum())) == (2, 1)  # two rows of f (group d), one of m
    # rows of a window behind the watermark (late) are left out, with the profile's rows
    windows.add(_pred_batch([("e", 3000, 1, 0.9, "f")]))
    windows.add(_pred_batch([("f", 40, 1, 0.9, "f")]))
    assert {d.window_start_ms for d in windows.drain_deltas()} == {3000}


def test_join_sample_is_deterministic_and_near_its_rate() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    for ids in ([f"m-{i}" for i in range(n)], [f"{v:032x}" for v in rng.integers(0, 2**62, n)]):
        for rate in (0.05, 0.3, 0.7):
            mask = join_sample("m", ids, rate)
            assert np.array_equal(mask, join_sample(["m"] * n, np.array(ids, dtype=object), rate))  # per-row ids
            bound = 5 * (rate * (1 - rate) / n) ** 0.5  # 5 binomial standard deviations
            assert abs(mask.mean() - rate) <= bound, (rate, mask.mean())
        # a smaller rate keeps a subset of a larger one's sample
        assert not np.any(join_sample("m", ids, 0.1) & ~join_sample("m", ids, 0.4))
    assert join_sample("m", ["a", None, "b"], 1.0).tolist() == [True, False, True]
    assert not join_sample("m", [None] * 5, 0.99).any()
    assert join_sample("m", ids, 0.3).tolist() != join_sample("other", ids, 0.3).tolist()  # the model is in the key


def test_join_sample_rate_joins_exactly_the_sampled_keys() -> None:
    rows = [(f"k{i}", 100 + i, i % 2, 0.5, "f") for i in range(400)]
    labels = [(f"k{i}", 150 + i, (i // 2) % 2) for i in range(400)]
    half_store = JoinStore(None, ttl_ms=10_000, sample_rate=0.5)
    full, half = _monitors(), PartitionLabels(half_store, SIZE, lambda m: NO_BASELINE)
    joined: dict[str, list[float]] = {}
    for name, mon in (("full", full), ("half", half)):
        streams = mon.add_captures([_pred_batch(rows)])
        streams += mon.add_labels(_label_batch(labels))
        joined[name] = [e for s in streams for e in s.errors.tolist()]
    sampled = join_sample("m", [r[0] for r in rows], 0.5)
    assert 150 < int(sampled.sum()) < 250
    full_errors = np.array(joined["full"])
    assert joined["half"] == full_errors[sampled].tolist()  # the same rows, in the same order
    state = state_from_bytes(half.drain()[("m", 0)]["model_quality"])
    assert isinstance(state, BinaryQualityState) and state.n == int(sampled.sum())
    outcomes = half.take_outcomes()
    assert outcomes[("m", "sampled_out")] == 400 - int(sampled.sum())
    assert outcomes[("m", "matched")] == int(sampled.sum())
    assert half.store.pending_predictions == 0 and half.store.pending_labels == 0


