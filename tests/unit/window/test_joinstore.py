"""Label/prediction join store: both arrival orders, duplicates, expiry, spill to segments and SQLite."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from streamdrift.errors import BadRecordError, ConfigError
from streamdrift.settings import LabelSettings, Settings
from streamdrift.window import joinspill, joinstore
from streamdrift.window.joinstore import JoinResult, JoinStore, MemoryBudget
from streamdrift.worker.joinrestore import new_store


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


# one operation: ("p", [(id, ts), ...]) predictions, ("l", [id, ...], now) labels, ("e", now) expire
_Op = tuple[str, list[tuple[int, int]], list[int], int]
_timed_ops: st.SearchStrategy[list[_Op]] = st.lists(st.one_of(
    st.tuples(st.just("p"), st.lists(st.tuples(st.integers(0, 15), st.integers(0, 40)), min_size=1, max_size=8),
              st.just([]), st.just(0)),
    st.tuples(st.just("l"), st.just([]), st.lists(st.integers(0, 15), min_size=1, max_size=8), st.integers(0, 50)),
    st.tuples(st.just("e"), st.just([]), st.just([]), st.integers(0, 70)),
), max_size=25)
_TTL = 10


class _Reference:
    """The join's semantics on plain dicts: id -> prediction ts / label arrival / matched prediction ts."""

    def __init__(self) -> None:
        self.preds: dict[int, int] = {}
        self.labels: dict[int, int] = {}
        self.done: dict[int, int] = {}

    def predictions(self, batch: list[tuple[int, int]]) -> tuple[list[tuple[str, int, float, int]], int]:
        rows: list[tuple[str, int, float, int]] = []
        dup = 0
        for i, t in batch:
            if i in self.preds or i in self.done:
                dup += 1
            elif i in self.labels:
                rows.append((f"id{i}", t, float(t), self.labels.pop(i)))
                self.done[i] = t
            else:
                self.preds[i] = t
        return rows, dup

    def add_labels(self, ids: list[int], now: int) -> tuple[list[tuple[str, int, float, int]], int, int]:
        rows: list[tuple[str, int, float, int]] = []
        dup = unmatched = 0
        for i in ids:
            if i in self.done or i in self.labels:
                dup += 1
            elif i in self.preds:
                t = self.done[i] = self.preds.pop(i)
                rows.append((f"id{i}", t, float(t), now))
            else:
                self.labels[i] = now
                unmatched += 1
        return rows, dup, unmatched

    def expire(self, now: int) -> tuple[int, int]:
        cutoff = now - _TTL
        old_preds = [i for i, t in self.preds.items() if t < cutoff]
        old_labels = [i for i, a in self.labels.items() if a < cutoff]
        for i in old_preds:
            del self.preds[i]
        for i in old_labels:
            del self.labels[i]
        for i in [i for i, t in self.done.items() if t + _TTL < now]:
            del self.done[i]
        return len(old_preds), len(old_labels)


def _rows(result: JoinResult) -> list[tuple[str, int, float, int]]:
    r = result.rows
    return list(zip(r.inference_ids, r.timestamps_ms.tolist(), [float(p) for p in r.y_pred.tolist()],
                    [int(v) for v in r.labels.tolist()], strict=True))


@contextmanager
def _tiny_bloom_filter() -> Iterator[None]:
    """A one-word Bloom filter for the spilled keys: almost every key is flagged (false positives) and looked
    up in the segments."""
    with mock.patch.object(joinspill, "BLOOM_MIN_KEYS", 1), mock.patch.object(joinspill, "BLOOM_BITS_PER_KEY", 1):
        yield


@given(_timed_ops)
@settings(max_examples=200, deadline=None)
def test_join_with_expiry_matches_a_reference_in_memory_and_spilled(ops: list[_Op]) -> None:
    """Out-of-order timestamps, expiry and label arrivals against the reference, through a store that never
    spills and stores that spill (limit 3, so most entries live in segments: partly expired ones, rows matched in
    place; and labels in SQLite), with float predictions (packed in memory) and text predictions (tuples),
    with a real Bloom filter and with a one-word one (false positives): the same rows and counts from every
    store."""
    with _tiny_bloom_filter():
        tiny = [(JoinStore(None, max_memory_items=3, ttl_ms=_TTL), False),
                (JoinStore(None, max_memory_items=1, ttl_ms=_TTL), True)]
    stores = [(JoinStore(None, max_memory_items=10_000, ttl_ms=_TTL), False),
              (JoinStore(None, max_memory_items=3, ttl_ms=_TTL), False),
              (JoinStore(None, max_memory_items=3, ttl_ms=_TTL), True), *tiny]
    with _tiny_bloom_filter():  # the filters are built as the stores spill
        _replay(stores, ops)
    for store, _ in stores:
        store.close()


@given(_timed_ops)
@settings(max_examples=100, deadline=None)
def test_join_is_exact_when_spilled_key_hashes_collide(ops: list[_Op]) -> None:
    """Key hashes of 3 values (most spilled keys share their hash with others, in a segment and across them,
    and in the spilled labels' hashes): keys are still told apart by their text."""
    with mock.patch.object(joinspill, "KEY_HASH", lambda key: hash(key) % 3):
        stores = [(JoinStore(None, max_memory_items=10_000, ttl_ms=_TTL), False),
                  (JoinStore(None, max_memory_items=2, ttl_ms=_TTL), False),
                  (JoinStore(None, max_memory_items=1, ttl_ms=_TTL), True)]
        _replay(stores, ops)
    for store, _ in stores:
        store.close()


def _replay(stores: list[tuple[JoinStore, bool]], ops: list[_Op]) -> None:
    """Every operation through every store and the reference, each checked against it."""
    ref = _Reference()
    for kind, batch, ids, now in ops:
        _check_op(stores, ref, kind, batch, ids, now)


def _check_op(stores: list[tuple[JoinStore, bool]], ref: _Reference, kind: str, batch: list[tuple[int, int]],
              ids: list[int], now: int) -> None:
    if kind == "p":
        want_rows, dup = ref.predictions(batch)
        stamps = [t for _, t in batch]
        for store, text in stores:
            y_pred: list[str] | NDArray[np.float64] = ([str(t) for t in stamps] if text
                                                       else np.array(stamps, dtype=np.float64))
            r = store.add_predictions(["m"] * len(batch), [f"id{i}" for i, _ in batch], np.array(stamps),
                                      y_pred, np.array(stamps, dtype=np.float64) / 100)
            assert _rows(r) == want_rows
            assert (r.counts.matched, r.counts.duplicate_prediction) == (len(want_rows), dup)
            assert r.rows.score.tolist() == [t / 100 for _, t, _, _ in want_rows]
    elif kind == "l":
        want_rows, dup, unmatched = ref.add_labels(ids, now)
        for store, _ in stores:
            r = store.add_labels(["m"] * len(ids), [f"id{i}" for i in ids], [now] * len(ids), now_ms=now)
            assert _rows(r) == want_rows
            assert (r.counts.matched, r.counts.duplicate_label, r.counts.unmatched_label) == \
                (len(want_rows), dup, unmatched)
    else:
        expired = ref.expire(now)
        for store, _ in stores:
            counts = store.expire(now)
            assert (counts.expired_prediction, counts.expired_label) == expired
    for store, _ in stores:
        assert (store.pending_predictions, store.pending_labels) == (len(ref.preds), len(ref.labels))
        assert store.memory_items <= store.max_memory_items
        assert store.spilled_items + store.memory_items == len(ref.preds) + len(ref.labels) + len(ref.done)


def test_spilled_segments_expire_whole_or_in_part(tmp_path: Path) -> None:
    """Segments are dropped (their files too) once all their rows expired; a partly expired segment keeps its
    younger rows, found afterwards; the Bloom filter shrinks with the spilled keys; close removes the files."""
    n = 30_000
    store = JoinStore(tmp_path / "j.db", max_memory_items=100, ttl_ms=1000)
    for start in range(0, n, 5000):
        store.add_predictions(["m"] * 5000, _ids(start, 5000), np.arange(start, start + 5000), np.zeros(5000))
    assert store.spilled_items > n - 100
    segments = store._segments
    assert segments is not None and len(segments.segments) >= 6
    files = sorted((tmp_path / "j.db.segments").iterdir())
    assert len(files) == len(segments.segments)
    counts = store.expire(now_ms=21_500)  # ts < 20,500 expire: some segments whole, one in part
    assert counts.expired_prediction == 20_500
    assert store.pending_predictions == n - 20_500
    assert len(sorted((tmp_path / "j.db.segments").iterdir())) < len(files)
    assert any(seg.epos > 0 for seg in segments.segments)  # partly expired
    r = store.add_predictions(["m"] * 4, ["id25000", "id5", "id20499", "id20500"], [25_000, 5, 1, 1],
                              np.zeros(4))
    assert r.counts.duplicate_prediction == 2  # id25000, id20500 are spilled; id5, id20499 expired: new again
    r = store.add_labels(["m"] * 4, ["id29000", "id5", "id7", "id20500"], [1, 1, 1, 1], now_ms=21_500)
    assert r.rows.inference_ids == ["id29000", "id5", "id20500"] and r.counts.unmatched_label == 1
    r = store.add_labels(["m"] * 2, ["id29000", "id20500"], [1, 1], now_ms=21_500)  # matched in place
    assert r.counts.duplicate_label == 2
    r = store.add_predictions(["m"], ["id29000"], [29_000], np.zeros(1))
    assert r.counts.duplicate_prediction == 1
    counts = store.expire(now_ms=10**6)
    assert counts.expired_prediction == n - 20_500 + 2 - 3  # id5, id20499 new again; 3 matched (not pending)
    assert store.pending_predictions == 0 and store.spilled_items == 0
    assert segments.segments == [] and not any((tmp_path / "j.db.segments").iterdir())
    store.close()
    assert not (tmp_path / "j.db.segments").exists()


def test_spilled_keys_are_exact_under_bloom_false_positives() -> None:
    """With a one-word Bloom filter every new key is looked up in the segments; none is taken for another."""
    with _tiny_bloom_filter():
        store = JoinStore(None, max_memory_items=50, ttl_ms=10**9)
        store.add_predictions(["m"] * 500, _ids(0, 500), np.arange(500), np.arange(500, dtype=np.float64))
        assert store._segments is not None and bool(store._segments.bloom.words.all())
        r = store.add_predictions(["m"] * 500, _ids(500, 500), np.arange(500), np.zeros(500))
        assert r.counts.duplicate_prediction == 0 and store.pending_predictions == 1000
        r = store.add_predictions(["m", "x"], ["id3", "id3"], [0, 0], np.zeros(2))  # model id differs
        assert r.counts.duplicate_prediction == 1
        r = store.add_labels(["m"] * 3, ["id10", "id1000", "id10"], [1, 1, 1], now_ms=0)
        assert (r.counts.matched, r.counts.unmatched_label, r.counts.duplicate_label) == (1, 1, 1)
        assert r.rows.y_pred.tolist() == [10.0] and r.rows.timestamps_ms.tolist() == [10]
        store.close()


def test_memory_budget_is_shared_by_the_open_stores() -> None:
    budget = MemoryBudget(40, floor=5)
    a = JoinStore(None, ttl_ms=10**9, budget=budget)
    a.add_predictions(["m"] * 30, _ids(0, 30), np.arange(30), np.zeros(30))
    assert a.max_memory_items == 40 and a.memory_items == 30 and a.spilled_items == 0
    b = JoinStore(None, ttl_ms=10**9, budget=budget)
    assert a.max_memory_items == b.max_memory_items == 20
    a.expire(now_ms=0)  # a store over its new share spills down at its next call
    assert a.memory_items <= 20 and a.pending_predictions == 30
    stores = [JoinStore(None, ttl_ms=10**9, budget=budget) for _ in range(10)]
    assert budget.stores == 12 and b.max_memory_items == 5  # the floor
    for s in stores:
        s.close()
    b.close()
    assert budget.stores == 1 and a.max_memory_items == 40
    r = a.add_labels(["m"] * 30, _ids(0, 30), np.ones(30), now_ms=0)
    assert r.counts.matched == 30 and r.rows.timestamps_ms.tolist() == list(range(30))
    a.close()


def test_new_store_takes_a_share_of_the_process_budget() -> None:
    settings = Settings(group_id="g", labels=LabelSettings(max_memory_items=100_000))
    budget = MemoryBudget(settings.labels.max_memory_items)
    stores = [new_store(settings, p, budget) for p in range(4)]
    assert [s.max_memory_items for s in stores] == [25_000] * 4
    for s in stores:
        s.close()


def test_a_batch_with_a_key_that_cannot_be_made_changes_nothing() -> None:
    """Every key of a batch is made (UTF-8 text) before the native table changes: a lone surrogate in an id
    raises, and the label waiting for the batch's first row is still there for a later prediction."""
    store = JoinStore(None, max_memory_items=100, ttl_ms=10**9)
    store.add_labels("m", ["a"], [1], now_ms=0)
    with pytest.raises(UnicodeEncodeError):
        store.add_predictions("m", ["a", "\ud800"], [1, 2], np.zeros(2))
    with pytest.raises(UnicodeEncodeError):
        store.add_labels("m", ["b", "\ud800"], [1, 1], now_ms=0)
    assert (store.pending_labels, store.pending_predictions, store.memory_items) == (1, 0, 1)
    r = store.add_predictions("m", ["a"], [1], np.array([0.5]))
    assert r.counts.matched == 1 and r.rows.inference_ids == ["a"] and r.rows.y_pred.tolist() == [0.5]
    store.close()


class _Model(str):
    """A str subclass whose str() is not its value: keys use str() everywhere."""

    def __str__(self) -> str:
        return f"model:{super().__str__()}"


@given(st.lists(st.tuples(st.sampled_from(["m", "churn-v2", "é", _Model("a")]),
                          st.text(max_size=40) | st.none() | st.integers()),
                max_size=50), st.sampled_from([0.001, 0.1, 0.5, 0.99]))
@settings(max_examples=200, deadline=None)
def test_the_native_join_sample_is_the_python_one(rows: list[tuple[str, Any]], rate: float) -> None:
    """The native join sample is the rule earlier versions computed in Python (CRC-32 of the key's text, Fibonacci
    mix): a prediction and its label must land on the same side in every process and version."""
    models, ids = [m for m, _ in rows], [i for _, i in rows]
    keys = [f"{m!s}\x1f{i!s}" for m, i in zip(models, ids, strict=True)]
    crc = np.fromiter(map(zlib.crc32, map(str.encode, keys)), dtype=np.uint64, count=len(keys))
    with np.errstate(over="ignore"):
        mixed = (crc * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)  # the rule as earlier stores computed it
    python = mixed < np.uint64(int(rate * 2**32))
    assert joinstore._sampled(models, ids, rate).tolist() == python.tolist()
    assert joinstore.join_sample(models, ids, rate).tolist() == (python & np.array([i is not None for i in ids],
                                                                                    dtype=bool)).tolist()


def _in_time_order(ops: list[_Op]) -> list[_Op]:
    """The same operations with prediction times that never go back (the common stream), labels and expiries
    moving with them: the table's queues stay in time order and expire from their front."""
    clock = 0
    out: list[_Op] = []
    for kind, batch, ids, now in ops:
        if kind == "p":
            timed = []
            for i, dt in batch:
                clock += dt % 3
                timed.append((i, clock))
            out.append((kind, timed, ids, now))
        else:
            out.append((kind, batch, ids, clock + now % 12))
    return out


@given(_timed_ops.map(_in_time_order))
@settings(max_examples=200, deadline=None)
def test_join_in_time_order_matches_the_reference(ops: list[_Op]) -> None:
    """In-order predictions (expiry from the front of the table's queues; a waiting label matched by a later
    prediction queues its key again) against the reference, in memory and spilling."""
    stores = [(JoinStore(None, max_memory_items=10_000, ttl_ms=_TTL), False),
              (JoinStore(None, max_memory_items=10_000, ttl_ms=_TTL), True),
              (JoinStore(None, max_memory_items=3, ttl_ms=_TTL), False)]
    _replay(stores, ops)
    for store, _ in stores:
        store.close()
