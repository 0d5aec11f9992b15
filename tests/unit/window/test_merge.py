from __future__ import annotations

import numpy as np
import orjson
import pytest

from streamdrift.columns.columns import columns_from_rows
from streamdrift.errors import CorruptBlobError, MergeError, VersionMismatchError
from streamdrift.ingest.records import parse_capture
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.accumulator import CloseTracker, WindowAccumulator
from streamdrift.window.merger import WindowMerger
from streamdrift.window.partials import (
    PartialDelta,
    WindowClosed,
    decode_partial,
    encode_partial,
    partial_from_window,
)
from streamdrift.window.windows import PartitionWindows, WindowSpec

SIZE = 60_000
T0 = 1_718_000_040_000
N_PARTITIONS = 3
KLL_EPS = 0.0133  # KLL k=200 normalized rank error, single-sided, 99%


def _records(rng: np.random.Generator, n: int) -> list[bytes]:
    x = rng.normal(10, 3, n)
    cats = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    out = []
    for i in range(n):
        feats: dict[str, object] = {"x": float(x[i]), "cat": str(cats[i]), "k": int(i % 7)}
        if i % 10 == 0:
            del feats["x"]  # missing
        out.append(
            orjson.dumps({"model_id": "m", "timestamp": T0 + int(rng.integers(0, SIZE)), "features": feats})
        )
    return out


def _deltas_of(values: list[bytes], partition: int, n_polls: int) -> list[PartialDelta]:
    """Profile one partition's records poll by poll, draining deltas at every 'commit'."""
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=SIZE))
    out = []
    offset = 0
    for chunk in np.array_split(np.arange(len(values)), n_polls):
        batches, dead = parse_capture([values[i] for i in chunk])
        assert dead == []
        pw.add_many(batches)
        offset += len(chunk)
        out += [
            partial_from_window(d, source_topic="cap", partition=partition, end_offset=offset)
            for d in pw.drain_deltas()
        ]
    return out


def test_merge_of_deltas_equals_profile_of_all_rows_and_duplicates_are_ignored() -> None:
    rng = np.random.default_rng(11)
    parts = [_records(rng, 4000) for _ in range(N_PARTITIONS)]
    deltas = [d for p, values in enumerate(parts) for d in _deltas_of(values, p, n_polls=5)]
    assert len(deltas) == N_PARTITIONS * 5
    # at-least-once: every delta delivered twice, the duplicates through the wire format, shuffled
    wire = [decode_partial(encode_partial(d)) for d in deltas]
    delivered = deltas + [d for d in wire if isinstance(d, PartialDelta)]
    order = rng.permutation(len(delivered))
    acc = WindowAccumulator.for_delta(deltas[0], now_ms=0)
    added = [acc.add_delta(delivered[i]) for i in order]
    assert sum(added) == len(deltas)

    direct = DatasetProfile.empty()
    for values in parts:
        [b], _ = parse_capture(values)
        direct.update(b.features)

    assert acc.n_records == direct.n_records == N_PARTITIONS * 4000
    assert acc.profile.n_records == direct.n_records
    for name in ("x", "cat", "k"):
        got, want = acc.profile.features[name], direct.features[name]
        assert got.type_counts.tolist() == want.type_counts.tolist()
        assert got.n_missing == want.n_missing
    gx, wx = acc.profile.features["x"].numeric, direct.features["x"].numeric
    assert (gx.count, gx.min, gx.max) == (wx.count, wx.min, wx.max)
    assert gx.mean == pytest.approx(wx.mean, rel=1e-12)
    assert gx.m2 == pytest.approx(wx.m2, rel=1e-9)
    # quantiles of the merged KLL vs the exact distribution of all rows, within the sketch's rank error
    all_x = np.sort(np.concatenate([
        np.array([orjson.loads(v)["features"].get("x", np.nan) for v in values], dtype=float) for values in parts
    ]))  # fmt: skip
    all_x = all_x[~np.isnan(all_x)]
    ranks = np.linspace(0.05, 0.95, 19)
    q = gx.kll.quantiles(ranks)
    true_ranks = np.searchsorted(all_x, q, side="right") / all_x.size
    assert np.max(np.abs(true_ranks - ranks)) <= KLL_EPS
    assert acc.profile.features["cat"].categorical.frequencies() == direct.features["cat"].categorical.frequencies()


def test_completion_and_close_tracker() -> None:
    tracker = CloseTracker()
    # partition 0 closes the window before any delta of model m arrives
    tracker.observe(WindowClosed("cap", 0, T0, T0 + SIZE, T0 + SIZE + 5))
    rng = np.random.default_rng(2)
    [d] = _deltas_of(_records(rng, 50), partition=1, n_polls=1)
    acc = WindowAccumulator.for_delta(d, now_ms=123)
    acc.mark_closed_many(tracker.closed_partitions(acc.window_end_ms))
    assert acc.add_delta(d)
    assert acc.partitions_closed == {0}
    assert not acc.is_complete(2)
    tracker.observe(WindowClosed("cap", 1, T0, T0 + SIZE, T0 + SIZE + 1, ("m",)))
    acc.mark_closed(1)
    assert acc.is_complete(2) and not acc.is_complete(3)
    assert tracker.closed_partitions(T0 + 2 * SIZE) == frozenset()
    assert tracker.watermark(0) == T0 + SIZE + 5
    back = CloseTracker.from_bytes(tracker.to_bytes())
    assert back.closed_partitions(T0 + SIZE) == {0, 1} and back.watermark(1) == T0 + SIZE + 1


def test_accumulator_round_trip_keeps_idempotence() -> None:
    rng = np.random.default_rng(5)
    d1, d2 = _deltas_of(_records(rng, 200), partition=0, n_polls=2)
    d1 = PartialDelta(**{**d1.__dict__, "model_version": "7", "extras": {"mq": b"abc"}})
    acc = WindowAccumulator.for_delta(d1, now_ms=42)
    assert acc.add_delta(d1)
    acc.mark_closed(2)
    back = WindowAccumulator.from_bytes(acc.to_bytes())
    assert (back.model_id, back.model_version, back.first_seen_ms, back.n_records) == ("m", "7", 42, d1.n_records)
    assert back.partitions_closed == {2}
    assert back.extras == {"mq": [b"abc"]}
    assert back.seen_delta_ids == {d1.delta_id}
    assert not back.add_delta(d1)  # already merged before the round trip
    assert back.add_delta(d2)
    assert back.n_records == back.profile.n_records == 200


def test_wrong_window_and_corrupt_blobs() -> None:
    rng = np.random.default_rng(6)
    [d] = _deltas_of(_records(rng, 20), partition=0, n_polls=1)
    acc = WindowAccumulator("other", d.window_start_ms, d.window_end_ms, first_seen_ms=0)
    with pytest.raises(MergeError):
        acc.add_delta(d)
    blob = WindowAccumulator.for_delta(d, now_ms=0).to_bytes()
    for bad in (blob[:3], b"XXXX" + blob[4:], blob[:40]):
        with pytest.raises(CorruptBlobError):
            WindowAccumulator.from_bytes(bad)
    with pytest.raises(VersionMismatchError):
        WindowAccumulator.from_bytes(blob[:4] + b"\x09" + blob[5:])
    with pytest.raises(CorruptBlobError):
        CloseTracker.from_bytes(blob)


def test_accumulator_of_an_earlier_build_times_out_from_its_first_seen() -> None:
    """Accumulators stored before closing_since_ms existed: a partly closed one must still time out."""
    acc = WindowAccumulator("m", 0, 60_000, first_seen_ms=1234)
    acc.mark_closed(0)
    assert acc.closing_since_ms is None  # as an earlier build stored it
    assert WindowAccumulator.from_bytes(acc.to_bytes()).closing_since_ms == 1234
    untouched = WindowAccumulator("m", 0, 60_000, first_seen_ms=1234)
    assert WindowAccumulator.from_bytes(untouched.to_bytes()).closing_since_ms is None  # nobody closed it yet


def _wide_delta(partition: int, names: list[str], offset: int = 10) -> PartialDelta:
    profile = DatasetProfile.empty()
    profile.update(columns_from_rows([{name: float(i) for name in names} for i in range(5)]))
    return PartialDelta("m", None, 0, SIZE, "cap", partition, offset, 5, profile)


def test_a_merged_window_holds_at_most_max_features_with_the_baselines_first() -> None:
    """Each data plane caps its own deltas, but a window merges the deltas of every partition and commit: the
    merger caps the merged profile too; names it has keep their place, the baseline's come next, the rest in
    name order; what is left out is counted and its values are not merged."""
    baseline = {"b0", "b1"}
    merger = WindowMerger({}, 2, 10**12, lambda: 0, max_features=6, reserved=lambda model: baseline)
    merger.handle(_wide_delta(0, ["x0", "x1", "x2", "x3"]))
    merger.handle(_wide_delta(1, ["y0", "y1", "b1", "x0", "b0"]))
    merger.handle(_wide_delta(1, ["z0"], offset=20))
    assert merger.features_dropped == 2 + 1  # y0 and y1 had no room after the baseline's two; then z0
    closing = [WindowClosed("cap", p, 0, SIZE, SIZE) for p in (0, 1)]
    (window,) = [w for marker in closing for w in merger.handle(marker)]
    profile = window.profile
    assert sorted(profile.features) == ["b0", "b1", "x0", "x1", "x2", "x3"]
    assert profile.n_records == 15
    assert (profile.features["x0"].n_present, profile.features["x1"].n_present) == (10, 5)  # B's x0 merged
    assert (profile.features["b0"].n_present, profile.features["b0"].n_missing) == (5, 10)


def test_an_uncapped_merger_keeps_every_feature() -> None:
    merger = WindowMerger({}, 1, 10**12, lambda: 0)
    merger.handle(_wide_delta(0, [f"f{i}" for i in range(40)]))
    merger.handle(_wide_delta(0, [f"g{i}" for i in range(40)], offset=20))
    (window,) = merger.handle(WindowClosed("cap", 0, 0, SIZE, SIZE))
    assert len(window.profile.features) == 80 and merger.features_dropped == 0


def test_a_delta_replayed_after_its_window_was_released_is_ignored() -> None:
    """The control plane's table can be ahead of its committed offsets (faust drains the table writes of events
    read after the offsets it commits): after a crash it reads again deltas of windows it released and forgot.
    Such a delta's partition closed the window before; merging it opened a second window of its records only,
    at once complete (every partition's watermark is past it), and released a second, smaller copy."""
    merger = WindowMerger({}, 2, 10**12, lambda: 0, keep_released=True)
    first, second = _wide_delta(0, ["a"]), _wide_delta(1, ["a"])
    merger.handle(first)
    merger.handle(second)
    (window,) = [w for p in (0, 1) for w in merger.handle(WindowClosed("cap", p, 0, SIZE, SIZE))]
    assert window.n_records == 10
    merger.forget(window)
    assert merger.handle(second) == [] and merger.replayed == 1 and merger.open_windows() == 0
    later = PartialDelta("m", None, SIZE, 2 * SIZE, "cap", 1, 30, 5, first.profile)  # the next window: merged
    assert merger.handle(later) == [] and merger.open_windows() == 1 and merger.replayed == 1
