"""Request / response pairing: a poll decoded and offered at once (``oip-v2``'s poll decoder and
``PairStore.offer_many``) pairs, expires and counts exactly as message by message, across polls, with repeated
ids, responses first, bad messages and a small ``max_pending``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import oip_request, oip_response, oip_tensor

from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser, Messages
from streamdrift.ingest.sources.pairing import PairStore
from streamdrift.ingest.sources.presets import Half

T0 = 1_718_000_000_000
SOURCE = SourceSettings.model_validate({"name": "s", "topic": "t", "preset": "oip-v2", "pairing": {
    "ttl_seconds": 5, "max_pending": 4}, "mapping": {
    "model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": ["a", "b"]},
    "prediction": "/outputs/out", "inference_id": "/id"}})

message = st.one_of(
    st.tuples(st.just("request"), st.integers(0, 6), st.integers(1, 3)),
    st.tuples(st.just("response"), st.integers(0, 6), st.integers(1, 3)),
    st.tuples(st.just("bad"), st.integers(0, 6), st.just(1)),
)


def _value(kind: str, rid: int, n: int) -> bytes:
    if kind == "request":
        return oip_request(f"r{rid}", [oip_tensor("input-0", [[float(rid), float(i)] for i in range(n)])])
    if kind == "response":
        return oip_response(f"r{rid}", "m", [oip_tensor("out", [rid % 2] * n, "INT64")])
    return orjson.dumps({"id": f"r{rid}", "neither": True})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(message, st.integers(0, 4000)), min_size=1, max_size=8), min_size=1, max_size=4),
       st.integers(1, 4))
def test_a_poll_at_once_pairs_as_message_by_message(polls: list[list[tuple[tuple[str, int, int], int]]],
                                                    chunk: int) -> None:
    """... and as in chunks of a poll, or in other polls: pairing depends on the sequence of messages only."""
    results = []
    for poll_path, cut in ((True, None), (False, None), (True, chunk)):
        if cut is not None:  # the same messages, cut into polls of ``chunk``
            flat = [m for poll in polls for m in poll]
            polls = [flat[i:i + cut] for i in range(0, len(flat), cut)]
        parser = MappedParser(SOURCE, poll_path=poll_path)
        pairs = parser.new_pairs()
        assert pairs is not None
        seen: list[Any] = []
        seen_polls: list[list[bytes]] = []
        dead_seen: list[tuple[int, str]] = []
        outcomes: Counter[str] = Counter()
        clock = T0
        for poll in polls:
            values, stamps = [], []
            for (kind, rid, n), step in poll:
                clock += step
                values.append(_value(kind, rid, n))
                stamps.append(clock)
            batches, dead = parser.parse(Messages(values, [None] * len(values), [None] * len(values), stamps), pairs)
            offset = sum(map(len, seen_polls))
            seen_polls.append(values)
            seen.extend((b.model_id, i, offset + s, t) for b in batches for i, s, t in zip(
                b.inference_ids.tolist(), b.source_index.tolist(), b.timestamps_ms.tolist(), strict=True))
            dead_seen.extend((offset + d.index, d.reason) for d in dead)
            outcomes.update(pairs.take_outcomes())
        results.append((sorted(seen), dead_seen, len(pairs), +outcomes))
    assert results[0] == results[1] == results[2]


def test_offer_many_is_offer_in_turn() -> None:
    halves = [Half("a", "request", {"x": 1}), Half("b", "response", {"y": 2}), Half("a", "request", {"x": 3}),
              Half("a", "response", {"y": 4}), Half("c", "request", {}), Half("d", "request", {})]
    stamps = [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5]
    one, many = PairStore(10_000, 2), PairStore(10_000, 2)
    singly = [(i, one.offer(h, {}, stamps[i], None)) for i, h in enumerate(halves)]
    at_once = many.offer_many(halves, [{}] * 6, stamps, [None] * 6)
    assert [(i, p) for i, p in singly if p is not None] == at_once
    assert at_once[0][1].doc == {"x": 3, "y": 4} and at_once[0][1].timestamp_ms == T0 + 2
    assert one.take_outcomes() == many.take_outcomes() == {"paired": 1, "duplicate": 1, "expired": 1}
    assert len(one) == len(many) == 2


def test_waiting_halves_are_bounded_in_bytes_oldest_first() -> None:
    """Beyond ``max_bytes`` of waiting messages the oldest halves expire (counted), as beyond ``max_pending``; a
    pair or an expiry gives its bytes back."""
    store = PairStore(10_000, 100, max_bytes=250)
    ids, roles = ["a", "b", "c", "b"], ["request", "request", "request", "response"]
    values = [b"x" * 100, b"y" * 100, b"z" * 100, b"w" * 10]
    matched = store.match(ids, roles, [T0, T0 + 1, T0 + 2, T0 + 3], [None] * 4, [{}] * 4, values)
    assert [(m.index, m.request, m.response) for m in matched] == [(3, 1, 3)]  # b paired: within this poll
    assert store.take_outcomes() == {"expired": 1, "paired": 1}  # a pushed out by c (300 > 250 bytes)
    assert len(store) == 1 and store.bytes == 100  # c waits
    store.match(["c"], ["response"], [T0 + 20_000], [None], [{}], [b"v"])  # too late: c expired
    assert store.take_outcomes() == {"expired": 1} and len(store) == 1 and store.bytes == 1
    store.expire()
    assert store.bytes == 1  # the response waits (not older than the TTL before the latest timestamp)
