"""Request / response pairing for the presets that log them as separate messages (``oip-v2`` by ``id``,
``kserve-cloudevents`` by ``ce_id``).

The first half of a pair waits in a :class:`PairStore` (one per capture partition, like the label join's store)
until its other half comes; a half that waited longer than the TTL in event time (the latest Kafka timestamp
of the partition when its partner comes, or when :meth:`PairStore.expire` sweeps) or that the ``max_pending``
bound pushes out expires and is counted (``expired``). A second half of the same role for a waiting id replaces
it (counted ``duplicate``). Whether two halves pair depends only on the partition's sequence of messages, not
on how polls cut it: a replay pairs alike.

The halves wait in the native table (``streamdrift._native.PairTable``, native/src/pairtable.rs), which offers a
poll's halves in one call with no Python object per message and gives the pairs column-wise (:class:`Matches`);
the Python loop it replaced stays as the reference (``PairStore(native=False)``), and
tests/unit/ingest/sources/test_pairtable.py checks that both match, expire and count alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift import _native
from streamdrift.ingest.sources.presets import Half

__all__ = ["Matched", "Matches", "PairStore", "Paired"]


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


class Matches:
    """The pairs a poll's halves completed, column-wise (:meth:`PairStore.match_columns`): per pair the index of
    the message that completed it, its request and response (the message's position in the poll, or ``-(k + 1)``
    for ``carried[k]``, a half that waited from an earlier poll), the request's Kafka timestamp and the key."""

    __slots__ = ("carried", "index", "keys", "request", "response", "timestamps")

    def __init__(self, index: NDArray[np.int64], request: NDArray[np.int64], response: NDArray[np.int64],
                 timestamps: NDArray[np.int64], keys: list[bytes | None], carried: list[_Waiting]) -> None:
        self.index, self.request, self.response = index, request, response
        self.timestamps, self.keys, self.carried = timestamps, keys, carried

    def __len__(self) -> int:
        return len(self.keys)

    def positions(self, role: str, n: int) -> NDArray[np.int64]:
        """The request's (``role``) or response's message of each pair: its position in a poll of ``n`` messages,
        or ``n + k`` for ``carried[k]`` (the carried halves' messages read after the poll's)."""
        refs = self.request if role == "request" else self.response
        return np.where(refs >= 0, refs, n - 1 - refs)

    def rows(self) -> list[Matched]:
        """One :class:`Matched` per pair (the slow paths)."""
        carried = self.carried

        def ref(r: int) -> int | _Waiting:
            return r if r >= 0 else carried[-r - 1]

        return [Matched(i, ref(q), ref(p), t, k) for i, q, p, t, k in zip(
            self.index.tolist(), self.request.tolist(), self.response.tolist(), self.timestamps.tolist(),
            self.keys, strict=True)]


class PairStore:
    """Halves waiting for their other half, oldest first; outcomes counted in :attr:`outcomes`. The halves wait
    in the native table (``streamdrift._native.PairTable``: no Python object per message); ``native`` False:
    in a dict, matched by a Python loop (the reference the tests compare the table with)."""

    def __init__(self, ttl_ms: int, max_pending: int, decode: Decoder | None = None, *,
                 max_bytes: int = 1 << 62, native: bool = True) -> None:
        """``decode``: a waiting half's message -> its :class:`Half` (the preset's decoding), for a half that
        waited undecoded (:meth:`match`) when the per-document path pairs it. At most ``max_pending`` halves
        and ``max_bytes`` of their messages wait: beyond either the oldest expire."""
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self._decode = decode
        self._table = _native.PairTable(ttl_ms, max_pending, max_bytes) if native else None
        self._waiting: dict[str, _Waiting] = {}
        self.bytes = 0  # of the waiting halves' messages
        self.outcomes: Counter[str] = Counter()  # paired, expired, duplicate
        self._clock_ms: int | None = None  # the latest Kafka timestamp seen (the Python loop's)
        self._seq = 0

    def __len__(self) -> int:
        return len(self._table) if self._table is not None else len(self._waiting)

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
        they complete, in order (:meth:`match_columns`, one :class:`Matched` per pair)."""
        requests = bytes(r == "request" for r in roles)
        return self.match_columns(ids, requests, stamps, keys, headers, values, halves).rows()

    def match_columns(self, ids: Sequence[str], requests: bytes, stamps: Sequence[int],
                      keys: Sequence[bytes | None], headers: Sequence[dict[str, bytes]], values: Sequence[bytes],
                      halves: Sequence[Half] | None = None) -> Matches:
        """Offer a poll's halves (``ids[i]``; ``requests[i]`` nonzero for a request, else a response) in turn:
        the pairs they complete, in order, column-wise. No document: the poll's values are read column-wise by
        the caller (:mod:`.nativepoll`), or decoded (``halves``)."""
        if self._table is None:
            return self._match_python(ids, requests, stamps, keys, headers, values, halves)
        index, request, response, times, found, carried, counts = self._table.match_poll(
            _listed(ids), requests, _listed(stamps), _listed(keys), _listed(headers), _listed(values),
            None if halves is None else _listed(halves))
        self._count(*counts)
        self.bytes = self._table.nbytes
        return Matches(np.frombuffer(index, dtype=np.int64), np.frombuffer(request, dtype=np.int64),
                       np.frombuffer(response, dtype=np.int64), np.frombuffer(times, dtype=np.int64), found,
                       [_Waiting(*c) for c in carried])

    def _count(self, paired: int, duplicate: int, expired: int) -> None:
        for name, n in (("paired", paired), ("duplicate", duplicate), ("expired", expired)):
            if n:
                self.outcomes[name] += n

    def _match_python(self, ids: Sequence[str], requests: bytes, stamps: Sequence[int],
                      keys: Sequence[bytes | None], headers: Sequence[dict[str, bytes]], values: Sequence[bytes],
                      halves: Sequence[Half] | None) -> Matches:
        """:meth:`match_columns` by a Python loop over a dict (one dict operation per message)."""
        waiting, clock, max_pending, ttl, max_bytes = (self._waiting, self._clock_ms, self.max_pending, self.ttl_ms,
                                                       self.max_bytes)
        base, nbytes = self._seq, self.bytes  # the bytes of the waiting halves, kept in a local in the loop
        index: list[int] = []
        reqs: list[int] = []
        resps: list[int] = []
        times: list[int] = []
        found: list[bytes | None] = []
        carried: list[_Waiting] = []
        paired = duplicate = expired = 0
        for i, (pid, flag, stamp) in enumerate(zip(ids, requests, stamps, strict=True)):
            role = _ROLES[flag != 0]
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
                    if other.seq >= base:
                        ref = other.seq - base
                    else:
                        carried.append(other)
                        ref = -len(carried)
                    key = keys[i]
                    index.append(i)
                    if role == "response":
                        reqs.append(ref)
                        resps.append(i)
                        times.append(other.timestamp_ms)
                    else:
                        reqs.append(i)
                        resps.append(ref)
                        times.append(stamp)
                    found.append(key if key is not None else other.key)
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
        self._count(paired, duplicate, expired)
        return Matches(np.array(index, dtype=np.int64), np.array(reqs, dtype=np.int64),
                       np.array(resps, dtype=np.int64), np.array(times, dtype=np.int64), found, carried)

    def expire(self) -> int:
        """Drop the halves older than the TTL before the latest timestamp seen; how many expired."""
        if self._table is not None:
            n = self._table.expire()
            self.bytes = self._table.nbytes
        else:
            if self._clock_ms is None:
                return 0
            horizon = self._clock_ms - self.ttl_ms
            old = [pid for pid, w in self._waiting.items() if w.timestamp_ms < horizon]
            for pid in old:
                self.bytes -= len(self._waiting.pop(pid).value)
            n = len(old)
        if n:
            self.outcomes["expired"] += n
        return n

    def take_outcomes(self) -> Counter[str]:
        out, self.outcomes = self.outcomes, Counter()
        return out


_ROLES: Final = ("response", "request")


def _listed(values: Sequence[Any]) -> list[Any]:
    return values if isinstance(values, list) else list(values)
