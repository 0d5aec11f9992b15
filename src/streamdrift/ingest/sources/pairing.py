"""Request / response pairing for the presets that log them as separate messages (``oip-v2`` by ``id``,
``kserve-cloudevents`` by ``ce_id``).

The first half of a pair waits in a :class:`PairStore` (one per capture partition, like the label join's store)
until its other half comes; a half that waited longer than the TTL in event time (the latest Kafka timestamp
of the partition when its partner comes, or when :meth:`PairStore.expire` sweeps) or that the ``max_pending``
bound pushes out expires and is counted (``expired``). A second half of the same role for a waiting id replaces
it (counted ``duplicate``). Whether two halves pair depends only on the partition's sequence of messages, not
on how polls cut it: a replay pairs alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streamdrift.ingest.sources.presets import Half

__all__ = ["Matched", "PairStore", "Paired"]


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 us more to build, one per message
class Paired:
    """A complete pair: the merged document (the request's part, then the response's), the headers of both
    messages (the later one's win) and the request's Kafka timestamp."""

    doc: dict[str, Any]
    headers: dict[str, bytes]
    timestamp_ms: int
    key: bytes | None


@dataclass(slots=True)
class _Waiting:
    pair_id: str
    role: str
    value: bytes  # the message as it came: a poll read column-wise (.nativepoll) reads it again when it pairs
    headers: dict[str, bytes]
    timestamp_ms: int
    key: bytes | None
    seq: int  # the store's count of halves offered before it
    half: Half | None = None  # decoded (the per-document paths); else decoded when the other half needs it


Decoder = Callable[[bytes, dict[str, bytes]], Half]


@dataclass(slots=True)
class Matched:
    """A pair completed by message ``index`` of a poll read column-wise: its request and its response, each
    the message's position in the poll (an int) or the half that waited from an earlier poll."""

    index: int
    request: int | _Waiting
    response: int | _Waiting
    timestamp_ms: int  # the request's Kafka timestamp
    key: bytes | None


class PairStore:
    """Halves waiting for their other half, oldest first; outcomes counted in :attr:`outcomes`."""

    def __init__(self, ttl_ms: int, max_pending: int, decode: Decoder | None = None, *,
                 max_bytes: int = 1 << 62) -> None:
        """``decode``: a waiting half's message -> its :class:`Half` (the preset's decoding), for a half that
        waited undecoded (:meth:`match`) when the per-document path pairs it. At most ``max_pending`` halves
        and ``max_bytes`` of their messages wait: beyond either the oldest expire."""
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self.bytes = 0  # of the waiting halves' messages
        self._decode = decode
        self._waiting: dict[str, _Waiting] = {}
        self.outcomes: Counter[str] = Counter()  # paired, expired, duplicate
        self._clock_ms: int | None = None  # the latest Kafka timestamp seen
        self._seq = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def half_of(self, w: _Waiting) -> Half:
        if w.half is None:
            if self._decode is None:
                raise ValueError("a half waited undecoded in a store without a decoder")
            w.half = self._decode(w.value, w.headers)
        return w.half

    def offer(self, half: Half, headers: dict[str, bytes], timestamp_ms: int, key: bytes | None,
              value: bytes = b"") -> Paired | None:
        """The pair ``half`` completes, or None when it waits (or replaced a waiting half of its role)."""
        done = self.offer_many([half], [headers], [timestamp_ms], [key], [value])
        return done[0][1] if done else None

    def offer_many(self, halves: list[Half], headers: list[dict[str, bytes]], stamps: list[int],
                   keys: list[bytes | None], values: Sequence[bytes] | None = None) -> list[tuple[int, Paired]]:
        """:meth:`offer` of each half in turn (the same outcomes and store), without a call per half: (position,
        pair) of each pair completed."""
        matched = self.match([h.pair_id for h in halves], [h.role for h in halves], stamps, keys, headers,
                             values if values is not None else [b""] * len(halves), halves)
        out: list[tuple[int, Paired]] = []
        for m in matched:
            req = halves[m.request] if isinstance(m.request, int) else self.half_of(m.request)
            resp = halves[m.response] if isinstance(m.response, int) else self.half_of(m.response)
            other = m.response if m.request == m.index else m.request
            earlier = other.headers if isinstance(other, _Waiting) else headers[other]
            out.append((m.index, Paired({**req.part, **resp.part}, {**earlier, **headers[m.index]},
                                        m.timestamp_ms, m.key)))
        return out

    def match(self, ids: Sequence[str], roles: Sequence[str], stamps: Sequence[int], keys: Sequence[bytes | None],
              headers: Sequence[dict[str, bytes]], values: Sequence[bytes],
              halves: Sequence[Half] | None = None) -> list[Matched]:
        """Offer a poll's halves (``ids[i]``, ``roles[i]``: ``"request"`` / ``"response"``) in turn: the pairs
        they complete, in order. One dict operation per message and no document: the poll's values are read
        column-wise by the caller (:mod:`.nativepoll`), or decoded (``halves``)."""
        waiting, clock, max_pending, ttl, max_bytes = (self._waiting, self._clock_ms, self.max_pending, self.ttl_ms,
                                                       self.max_bytes)
        base, nbytes = self._seq, self.bytes  # the bytes of the waiting halves, kept in a local in the loop
        out: list[Matched] = []
        append = out.append
        paired = duplicate = expired = 0
        for i, (pid, role, stamp) in enumerate(zip(ids, roles, stamps, strict=True)):
            if clock is None or stamp > clock:
                clock = stamp
            other = waiting.pop(pid, None)
            if other is not None:
                nbytes -= len(other.value)
                if other.timestamp_ms < clock - ttl:
                    expired += 1
                    other = None
            if other is not None:
                if other.role != role:
                    paired += 1
                    ref: int | _Waiting = other.seq - base if other.seq >= base else other
                    key = keys[i]
                    if role == "response":
                        append(Matched(i, ref, i, other.timestamp_ms, key if key is not None else other.key))
                    else:
                        append(Matched(i, i, ref, stamp, key if key is not None else other.key))
                    continue
                duplicate += 1
            value = values[i]
            waiting[pid] = _Waiting(pid, role, value, headers[i], stamp, keys[i], base + i,
                                    None if halves is None else halves[i])
            nbytes += len(value)
            while len(waiting) > max_pending or nbytes > max_bytes:
                nbytes -= len(waiting.pop(next(iter(waiting))).value)
                expired += 1
        self.bytes = nbytes
        self._clock_ms = clock
        self._seq = base + len(ids)
        for name, n in (("paired", paired), ("duplicate", duplicate), ("expired", expired)):
            if n:
                self.outcomes[name] += n
        return out

    def expire(self) -> int:
        """Drop the halves older than the TTL before the latest timestamp seen; how many expired."""
        if self._clock_ms is None:
            return 0
        horizon = self._clock_ms - self.ttl_ms
        old = [pid for pid, w in self._waiting.items() if w.timestamp_ms < horizon]
        for pid in old:
            self.bytes -= len(self._waiting.pop(pid).value)
        if old:
            self.outcomes["expired"] += len(old)
        return len(old)

    def take_outcomes(self) -> Counter[str]:
        out, self.outcomes = self.outcomes, Counter()
        return out
