from __future__ import annotations

from collections import Counter

import numpy as np
import orjson
import pytest

from streamdrift.errors import ConfigError
from streamdrift.ingest.records import CaptureBatch, parse_capture
from streamdrift.window.windows import PartitionWindows, WindowSpec, window_starts

SIZE = 60_000
T0 = 1_718_000_040_000  # a multiple of SIZE


def _batch(ts: list[int], model: str = "m", start_index: int = 0) -> CaptureBatch:
    values = [
        orjson.dumps({"model_id": model, "timestamp": t, "features": {"x": float(i), "c": f"k{i % 3}"}})
        for i, t in enumerate(ts)
    ]
    [b], dead = parse_capture(values)
    assert dead == []
    return CaptureBatch(
        b.model_id, b.model_version, b.timestamps_ms, b.inference_ids, b.features, b.prediction, b.score,
        b.attributions, b.source_index + start_index,
    )


def _counts(pw: PartitionWindows) -> dict[tuple[str, int], int]:
    return {(d.model_id, d.window_start_ms): d.n_records for d in pw.drain_deltas()}


def test_window_starts_floor() -> None:
    ts = np.array([0, 59_999, 60_000, 119_999, T0 + 5], dtype=np.int64)
    assert window_starts(ts, SIZE).tolist() == [0, 0, 60_000, 60_000, T0]


def test_spec_validation() -> None:
    with pytest.raises(ConfigError):
        WindowSpec(0)
    with pytest.raises(ConfigError):
        WindowSpec(10, lateness_ms=-1)
    with pytest.raises(ConfigError):
        WindowSpec(10, late_policy="keep")  # type: ignore[arg-type]


def test_assignment_and_profiles_per_window() -> None:
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=10 * SIZE))
    ts = [T0 + 1, T0 + SIZE + 2, T0 + 3, T0 + 2 * SIZE, T0 + SIZE + 9]
    res = pw.add(_batch(ts))
    assert (res.n_added, res.n_late) == (5, 0)
    deltas = pw.drain_deltas()
    assert [(d.window_start_ms, d.window_end_ms, d.n_records) for d in deltas] == [
        (T0, T0 + SIZE, 2),
        (T0 + SIZE, T0 + 2 * SIZE, 2),
        (T0 + 2 * SIZE, T0 + 3 * SIZE, 1),
    ]
    # the profile holds exactly the rows of its window
    first = deltas[0].profile
    assert first.n_records == 2
    assert first.features["x"].numeric.min == 0.0 and first.features["x"].numeric.max == 2.0
    assert pw.open_windows == [T0, T0 + SIZE, T0 + 2 * SIZE]


def test_watermark_is_max_minus_lateness_and_monotone() -> None:
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=5_000))
    assert pw.watermark_ms is None
    pw.add(_batch([T0 + 20_000, T0 + 10_000]))
    assert pw.watermark_ms == T0 + 15_000
    pw.add(_batch([T0 + 12_000]))
    assert pw.watermark_ms == T0 + 15_000
    pw.advance_idle(T0 + 100_000)
    assert pw.watermark_ms == T0 + 95_000
    pw.advance_idle(T0)
    assert pw.watermark_ms == T0 + 95_000


def test_late_rows_dropped_row_by_row() -> None:
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=1_000))
    # row 1 moves the watermark to T0+SIZE+4000 >= end of window T0: row 2 (window T0) is late; row 0 was not
    res = pw.add(_batch([T0 + 5, T0 + SIZE + 5_000, T0 + 10]))
    assert (res.n_added, res.n_late, res.n_late_dropped, res.n_late_redirected) == (2, 1, 1, 0)
    assert _counts(pw) == {("m", T0): 1, ("m", T0 + SIZE): 1}


def test_late_rows_redirected_to_oldest_open_window() -> None:
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=1_000, late_policy="oldest_open"))
    res = pw.add(_batch([T0 + SIZE + 5_000, T0 + 10, T0 - 3 * SIZE]))
    assert (res.n_added, res.n_late, res.n_late_dropped, res.n_late_redirected) == (3, 2, 0, 2)
    # redirected into the window holding the watermark (T0+SIZE+4000)
    assert _counts(pw) == {("m", T0 + SIZE): 3}


def test_due_windows_include_empty_ones_and_close_returns_models() -> None:
    pw = PartitionWindows(WindowSpec(SIZE))
    pw.add(_batch([T0 + 1], "a"))
    pw.add(_batch([T0 + 2], "b", start_index=1))
    assert pw.due_windows() == []
    pw.add(_batch([T0 + 3 * SIZE + 1], "a", start_index=2))
    assert pw.due_windows() == [(T0 + i * SIZE, T0 + (i + 1) * SIZE) for i in range(3)]
    assert pw.close(T0) == ["a", "b"]
    assert pw.close(T0 + SIZE) == []  # a window no record of this partition fell into
    assert pw.due_windows() == [(T0 + 2 * SIZE, T0 + 3 * SIZE)]
    pw.close(T0 + 2 * SIZE)
    assert pw.due_windows() == []
    assert pw.open_windows == [T0 + 3 * SIZE]


def test_rows_for_a_closed_window_are_late() -> None:
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=5 * SIZE))
    pw.add(_batch([T0 + 1, T0 + SIZE + 1]))
    pw.drain_deltas()
    assert pw.close(T0 + SIZE) == ["m"]  # closed early (not due yet)
    res = pw.add(_batch([T0 + SIZE + 2, T0 + 3]))
    assert (res.n_added, res.n_late) == (1, 1)
    assert _counts(pw) == {("m", T0): 1}


def test_idle_partition_emits_closing_markers() -> None:
    pw = PartitionWindows(WindowSpec(SIZE))
    assert pw.due_windows() == []
    pw.advance_idle(T0 + 30_000)
    assert pw.due_windows() == [(T0 - SIZE, T0)]
    assert pw.close(T0 - SIZE) == []
    pw.advance_idle(T0 + 2 * SIZE)
    assert pw.due_windows() == [(T0, T0 + SIZE), (T0 + SIZE, T0 + 2 * SIZE)]


def test_restored_watermark_makes_same_late_decisions() -> None:
    pw = PartitionWindows(WindowSpec(SIZE), watermark_ms=T0 + SIZE + 5)
    res = pw.add(_batch([T0 + 1, T0 + SIZE + 1, T0 + 2 * SIZE]))
    assert (res.n_added, res.n_late) == (2, 1)
    # window T0 was closed before the restart: only T0+SIZE (passed by the last row) is due
    assert pw.due_windows() == [(T0 + SIZE, T0 + 2 * SIZE)]
    assert pw.close(T0) == []


def test_drain_resets() -> None:
    pw = PartitionWindows(WindowSpec(SIZE))
    pw.add(_batch([T0 + 1, T0 + 2]))
    assert pw.has_pending
    assert _counts(pw) == {("m", T0): 2}
    assert not pw.has_pending and pw.drain_deltas() == []
    pw.add(_batch([T0 + 3]))
    [d] = pw.drain_deltas()
    assert (d.n_records, d.profile.n_records) == (1, 1)


def test_add_many_decides_in_source_order_across_models() -> None:
    ts_a = [T0 + 10, T0 + 20]  # source positions 0 and 2
    ts_b = [T0 + 2 * SIZE]  # source position 1: makes the watermark pass window T0 before row 2
    a = _batch(ts_a, "a")
    a = CaptureBatch(a.model_id, None, a.timestamps_ms, a.inference_ids, a.features, None, None, None,
                     np.array([0, 2]))
    b = _batch(ts_b, "b", start_index=1)
    pw = PartitionWindows(WindowSpec(SIZE))
    ra, rb = pw.add_many([a, b])
    assert (ra.n_added, ra.n_late, rb.n_added) == (1, 1, 1)


@pytest.mark.parametrize("policy", ["drop", "oldest_open"])
def test_same_input_any_batch_split_same_counts(policy: str) -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    ts = (T0 + np.cumsum(rng.integers(0, 400, n)) - rng.integers(0, 90_000, n) * (rng.random(n) < 0.1)).tolist()
    spec = WindowSpec(SIZE, lateness_ms=20_000, late_policy=policy)  # type: ignore[arg-type]
    results: list[tuple[dict[tuple[str, int], int], tuple[int, int, int]]] = []
    for n_splits in (1, 7, 50):
        pw = PartitionWindows(spec)
        cuts = np.sort(rng.choice(np.arange(1, n), n_splits - 1, replace=False))
        totals: Counter[tuple[str, int]] = Counter()
        late = dropped = 0
        for part_idx, part in enumerate(np.split(np.arange(n), cuts)):
            res = pw.add(_batch([ts[i] for i in part], start_index=int(part[0])))
            late += res.n_late
            dropped += res.n_late_dropped
            if part_idx % 3 == 0:  # drain and close at arbitrary points, as commits would
                totals.update(_counts(pw))
                for start, _ in pw.due_windows():
                    pw.close(start)
        totals.update(_counts(pw))
        results.append((dict(totals), (late, dropped, sum(totals.values()))))
    assert results[0][1][0] > 0  # the input does contain late rows
    assert results[0][1][2] + results[0][1][1] == n
    assert all(r == results[0] for r in results[1:])


@pytest.mark.parametrize("layout", ["runs", "interleaved"])
def test_window_subsets_profile_exactly_their_rows(layout: str) -> None:
    """Rows of one batch split over two windows (contiguous runs are sliced, others gathered) are profiled
    exactly: counts, sums and categorical frequencies per window match the rows in it."""
    n = 40
    second = np.arange(n) >= n // 2 if layout == "runs" else np.arange(n) % 2 == 1
    ts = [T0 + SIZE + 1 if s else T0 + 1 for s in second.tolist()]
    pw = PartitionWindows(WindowSpec(SIZE, lateness_ms=10 * SIZE))
    pw.add(_batch(ts))
    deltas = {d.window_start_ms: d for d in pw.drain_deltas()}
    for start, mask in ((T0, ~second), (T0 + SIZE, second)):
        rows = np.flatnonzero(mask)
        fp = deltas[start].profile.features
        assert deltas[start].n_records == rows.size
        assert fp["x"].numeric.count == rows.size and fp["x"].numeric.sum == float(rows.sum())
        assert fp["c"].categorical.frequencies() == dict(Counter(f"k{i % 3}" for i in rows.tolist()))
