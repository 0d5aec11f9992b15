"""Label/prediction join store: both arrival orders, duplicates, expiry, spill to SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.errors import BadRecordError, ConfigError
from streamdrift.joinstore import JoinStore


def _ids(start: int, n: int) -> list[str]:
    return [f"id{i}" for i in range(start, start + n)]


def test_prediction_first_then_label() -> None:
    with JoinStore(None, max_memory_items=1000, ttl_ms=10_000) as store:
        r = store.add_predictions(["m"] * 3, _ids(0, 3), [100, 200, 300], [0.0, 1.0, 1.0], [0.1, 0.9, 0.8])
        assert len(r.rows) == 0 and store.pending_predictions == 3
        r = store.add_labels(["m", "m", "other"], ["id2", "id0", "id1"], [1, 0, 1], now_ms=1000)
        assert r.counts.matched == 2 and r.counts.unmatched_label == 1
        assert r.rows.inference_ids == ["id2", "id0"]
        assert r.rows.timestamps_ms.tolist() == [300, 100]  # prediction time: window accounting
        assert r.rows.score.tolist() == [0.8, 0.1] and r.rows.labels.tolist() == [1.0, 0.0]


def test_label_first_duplicates_and_expiry() -> None:
    store = JoinStore(None, max_memory_items=1000, ttl_ms=1000)
    r = store.add_labels(["m"] * 3, _ids(0, 3), ["a", "b", "c"], now_ms=0)
    assert r.counts.unmatched_label == 3
    r = store.add_predictions(["m"] * 2, _ids(0, 2), [10, 20], ["a", "x"])
    assert r.rows.labels.tolist() == ["a", "b"] and r.rows.y_pred.tolist() == ["a", "x"]
    r = store.add_labels(["m", "m"], ["id0", "id2"], ["a", "c"], now_ms=50)
    assert r.counts.duplicate_label == 2  # id0 already matched, id2 still pending
    r = store.add_predictions(["m"], ["id0"], [30], ["a"])
    assert r.counts.duplicate_prediction == 1
    store.add_predictions(["m"], ["id9"], [40], ["z"])
    counts = store.expire(now_ms=1500)
    assert (counts.expired_label, counts.expired_prediction) == (1, 1)
    assert store.pending_labels == 0 and store.pending_predictions == 0


def test_spill_to_disk_keeps_joining(tmp_path: Path) -> None:
    n, cap = 5000, 500
    rng = np.random.default_rng(0)
    store = JoinStore(tmp_path / "join.db", max_memory_items=cap, ttl_ms=10**9)
    ts = np.arange(n, dtype=np.int64)
    for start in range(0, n, 1000):
        store.add_predictions(["m"] * 1000, _ids(start, 1000), ts[start : start + 1000],
                              rng.random(1000), rng.random(1000))
        assert store.memory_items <= cap
    assert store.pending_predictions == n and store.spilled_items >= n - cap
    order = rng.permutation(n)
    matched = 0
    for start in range(0, n, 700):
        idx = order[start : start + 700]
        r = store.add_labels(["m"] * idx.size, [f"id{i}" for i in idx], idx % 2, now_ms=n)
        matched += r.counts.matched
        assert r.rows.timestamps_ms.tolist() == idx.tolist()  # each label finds its own prediction
        assert store.memory_items <= cap
    assert matched == n and store.pending_predictions == 0
    r = store.add_labels(["m"], ["id5"], [1], now_ms=n)  # matched key spilled to disk: still a duplicate
    assert r.counts.duplicate_label == 1
    assert store.memory_bytes() > 0
    store.close()


def test_spilled_entries_expire(tmp_path: Path) -> None:
    store = JoinStore(tmp_path / "j.db", max_memory_items=10, ttl_ms=100)
    store.add_predictions(["m"] * 50, _ids(0, 50), np.arange(50), np.zeros(50))
    store.add_labels(["m"] * 30, _ids(100, 30), np.ones(30), now_ms=0)
    counts = store.expire(now_ms=1000)
    assert (counts.expired_prediction, counts.expired_label) == (50, 30)
    assert store.pending_predictions == 0 and store.pending_labels == 0


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        JoinStore(None, max_memory_items=0)
    with pytest.raises(BadRecordError):
        JoinStore().add_predictions(["m"], ["a"], [1, 2], [0.0])


_ops = st.lists(st.tuples(st.booleans(), st.lists(st.integers(0, 12), min_size=1, max_size=8)), max_size=12)


@given(_ops)
@settings(max_examples=150, deadline=None)
def test_join_matches_a_reference_in_any_order(ops: list[tuple[bool, list[int]]]) -> None:
    """Batches of predictions (bulk path while no label waits) and labels against a plain-dict reference:
    the first prediction of a key wins, a label joins at most once, everything else is a duplicate."""
    store = JoinStore(None, max_memory_items=10_000, ttl_ms=10**9)
    preds: dict[int, int] = {}
    labels: set[int] = set()
    done: set[int] = set()
    for t, (is_label, ids) in enumerate(ops):
        names = [f"id{i}" for i in ids]
        if is_label:
            r = store.add_labels(["m"] * len(ids), names, [1] * len(ids), now_ms=t)
            matched = dup = 0
            for i in ids:
                if i in done or i in labels:
                    dup += 1
                elif i in preds:
                    matched += 1
                    done.add(i)
                    del preds[i]
                else:
                    labels.add(i)
            assert (r.counts.matched, r.counts.duplicate_label) == (matched, dup)
        else:
            r = store.add_predictions(["m"] * len(ids), names, [t] * len(ids), [float(t)] * len(ids))
            matched = dup = 0
            for i in ids:
                if i in preds or i in done:
                    dup += 1
                elif i in labels:
                    matched += 1
                    labels.discard(i)
                    done.add(i)
                else:
                    preds[i] = t
            assert (r.counts.matched, r.counts.duplicate_prediction) == (matched, dup)
            assert r.rows.y_pred.tolist() == [float(t)] * matched
    assert (store.pending_predictions, store.pending_labels) == (len(preds), len(labels))
