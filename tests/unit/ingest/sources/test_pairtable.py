"""The native pair table (``streamdrift._native.PairTable``, behind ``PairStore``) matches, expires, bounds and
counts exactly as the Python loop it replaced (``PairStore(native=False)``): the same pairs (positions, carried
halves, timestamps, keys), the same outcomes and the same halves left waiting, over several polls, with
repeated ids, duplicates, halves older than the TTL, ``max_pending`` and ``max_bytes`` pushing the oldest out and
sweeps (``expire``) between polls; and it refuses malformed input before it changes anything."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.ingest.sources.pairing import Matches, PairStore, _Waiting
from streamdrift.ingest.sources.presets import Half

T0 = 1_718_000_000_000

half = st.tuples(st.integers(0, 7), st.booleans(), st.integers(-300, 2_500), st.integers(0, 40),
                 st.one_of(st.none(), st.sampled_from([b"k1", b"k2"])))
poll = st.lists(half, max_size=12)


def _waiting(w: _Waiting) -> tuple[Any, ...]:
    return (w.pair_id, w.role, w.value, w.headers, w.timestamp_ms, w.key, w.seq, w.half)


def _view(m: Matches) -> tuple[Any, ...]:
    return (m.index.tolist(), m.request.tolist(), m.response.tolist(), m.timestamps.tolist(), m.keys,
            [_waiting(w) for w in m.carried])


def _offer(store: PairStore, halves: list[tuple[int, bool, int, int, bytes | None]], clock: int,
           decoded: bool) -> tuple[Matches, int]:
    ids = [f"r{i}" for i, *_ in halves]
    stamps = []
    for _, _, step, _, _ in halves:
        clock += step  # steps back too: Kafka timestamps of a partition need not grow
        stamps.append(clock)
    values = [b"v" * n for *_, n, _ in halves]
    headers: list[dict[str, bytes]] = [{"h": bytes([j])} for j in range(len(halves))]
    keys = [k for *_, k in halves]
    requests = bytes(r for _, r, *_ in halves)
    parts = [Half(i, "request" if r else "response", {"j": j}) for j, (i, r) in enumerate(zip(ids, requests, strict=True))]
    return store.match_columns(ids, requests, stamps, keys, headers, values, parts if decoded else None), clock


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(poll, st.booleans()), min_size=1, max_size=6), st.integers(1, 6),
       st.sampled_from([40, 90, 1 << 62]), st.integers(0, 2_000), st.booleans())
def test_the_native_table_pairs_as_the_python_loop(polls: list[tuple[list[Any], bool]], max_pending: int,
                                                   max_bytes: int, ttl_ms: int, decoded: bool) -> None:
    stores = [PairStore(ttl_ms, max_pending, max_bytes=max_bytes, native=native) for native in (True, False)]
    seen: list[list[Any]] = [[], []]
    for store, out in zip(stores, seen, strict=True):
        clock = T0
        for halves, sweep in polls:
            matched, clock = _offer(store, halves, clock, decoded)
            out.append((_view(matched), len(store), store.bytes))
            if sweep:
                out.append(("expired", store.expire(), len(store), store.bytes))
        out.append(+store.take_outcomes())
    assert seen[0] == seen[1]


def test_duplicates_expiry_and_carried_halves() -> None:
    """The cases one by one: a pair within a poll, a response first, a duplicate request replacing the waiting
    one, a half too old for its partner, a half carried from an earlier poll, and the sweep."""
    for native in (True, False):
        store = PairStore(1_000, 10, native=native)
        m = store.match_columns(["a", "b", "a", "b", "c"], bytes([1, 0, 0, 0, 1]),
                                [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4], [b"ka", None, None, b"kb", None],
                                [{}] * 5, [b"1", b"22", b"333", b"4444", b"55555"])
        assert _view(m)[:5] == ([2], [0], [2], [T0], [b"ka"])  # a paired (the request's key and time)
        assert store.take_outcomes() == Counter({"paired": 1, "duplicate": 1})  # b's response replaced
        assert len(store) == 2 and store.bytes == 4 + 5  # b (the second response) and c wait
        m = store.match_columns(["c", "b"], bytes([0, 1]), [T0 + 900, T0 + 1_500], [None, None], [{}] * 2,
                                [b"x", b"y"])
        assert _view(m)[:5] == ([0], [-1], [0], [T0 + 4], [None])  # c's request waited from the last poll
        assert [w.pair_id for w in m.carried] == ["c"] and m.positions("request", 2).tolist() == [2]
        assert store.take_outcomes() == Counter({"paired": 1, "expired": 1})  # b's response too old for it
        assert len(store) == 1 and store.bytes == 1
        assert store.match_columns([], b"", [], [], [], []).index.size == 0
        store.match_columns(["z"], b"\x01", [T0 + 3_000], [None], [{}], [b"zz"])
        assert store.expire() == 1 and store.take_outcomes() == Counter({"expired": 1})  # b's request swept
        assert len(store) == 1 and store.bytes == 2


def test_the_bounds_push_out_the_oldest_first() -> None:
    for native in (True, False):
        store = PairStore(10_000, 2, max_bytes=10, native=native)
        store.match_columns(["a", "b"], b"\x01\x01", [T0, T0 + 1], [None] * 2, [{}] * 2, [b"1234", b"1234"])
        store.match_columns(["a"], b"\x01", [T0 + 2], [None], [{}], [b"12"])  # a again: now the newest
        store.match_columns(["c"], b"\x01", [T0 + 3], [None], [{}], [b"1"])  # 3 pending > 2: b goes
        assert store.take_outcomes() == Counter({"duplicate": 1, "expired": 1})
        m = store.match_columns(["a"], b"\x00", [T0 + 4], [None], [{}], [b""])
        assert m.index.tolist() == [0] and len(store) == 1  # a pairs; c waits
        store.match_columns(["d"], b"\x01", [T0 + 6], [None], [{}], [b"x" * 11])  # c, then d itself, go
        assert len(store) == 0 and store.bytes == 0
        assert store.take_outcomes() == Counter({"paired": 1, "expired": 2})


@pytest.mark.parametrize("native", [True, False])
def test_malformed_input_is_refused(native: bool) -> None:
    store = PairStore(1_000, 10, native=native)
    store.match_columns(["a"], b"\x01", [T0], [None], [{}], [b"x"])
    with pytest.raises(ValueError):
        store.match_columns(["b", "c"], b"\x01", [T0, T0], [None] * 2, [{}] * 2, [b"", b""])  # a role short
    if native:  # the table is untouched: checked before anything changes
        with pytest.raises(TypeError):
            store.match_columns([b"a"], b"\x00", [T0], [None], [{}], [b"y"])  # type: ignore[list-item]
        assert len(store) == 1 and store.bytes == 1 and not store.take_outcomes()
        m = store.match_columns(["a"], b"\x00", [T0], [None], [{}], [b""])
        assert m.index.tolist() == [0] and m.request.tolist() == [-1]


def test_rows_give_the_waiting_halves() -> None:
    store = PairStore(1_000, 10)
    store.match_columns(["a"], b"\x01", [T0], [b"k"], [{"h": b"1"}], [b"req"], [Half("a", "request", {"x": 1})])
    rows = store.match(["a"], ["response"], [T0 + 1], [None], [{}], [b"resp"])
    assert len(rows) == 1 and rows[0].index == 0 and rows[0].response == 0 and rows[0].key == b"k"
    w = rows[0].request
    assert isinstance(w, _Waiting) and (w.value, w.headers, w.seq) == (b"req", {"h": b"1"}, 0)
    assert store.half_of(w) == Half("a", "request", {"x": 1}) and rows[0].timestamp_ms == T0
    assert np.array_equal(store.match_columns([], b"", [], [], [], []).timestamps, np.array([], dtype=np.int64))
