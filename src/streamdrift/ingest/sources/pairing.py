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
from dataclasses import dataclass
from typing import Any

from streamdrift.ingest.sources.presets import Half

__all__ = ["PairStore", "Paired"]


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
    half: Half
    headers: dict[str, bytes]
    timestamp_ms: int
    key: bytes | None


class PairStore:
    """Halves waiting for their other half, oldest first; outcomes counted in :attr:`outcomes`."""

    def __init__(self, ttl_ms: int, max_pending: int) -> None:
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        self._waiting: dict[str, _Waiting] = {}
        self.outcomes: Counter[str] = Counter()  # paired, expired, duplicate
        self._clock_ms: int | None = None  # the latest Kafka timestamp seen

    def __len__(self) -> int:
        return len(self._waiting)

    def offer(self, half: Half, headers: dict[str, bytes], timestamp_ms: int, key: bytes | None) -> Paired | None:
        """The pair ``half`` completes, or None when it waits (or replaced a waiting half of its role)."""
        if self._clock_ms is None or timestamp_ms > self._clock_ms:
            self._clock_ms = timestamp_ms
        other = self._waiting.pop(half.pair_id, None)
        if other is not None and other.timestamp_ms < self._clock_ms - self.ttl_ms:
            self.outcomes["expired"] += 1  # too old to pair, whether or not a sweep removed it yet
            other = None
        if other is not None and other.half.role != half.role:
            self.outcomes["paired"] += 1
            first, second = (other.half, half) if other.half.role == "request" else (half, other.half)
            stamp = other.timestamp_ms if other.half.role == "request" else timestamp_ms
            return Paired({**first.part, **second.part}, {**other.headers, **headers}, stamp,
                          key if key is not None else other.key)
        if other is not None:
            self.outcomes["duplicate"] += 1
        self._waiting[half.pair_id] = _Waiting(half, headers, timestamp_ms, key)
        while len(self._waiting) > self.max_pending:
            del self._waiting[next(iter(self._waiting))]
            self.outcomes["expired"] += 1
        return None

    def offer_many(self, halves: list[Half], headers: list[dict[str, bytes]], stamps: list[int],
                   keys: list[bytes | None]) -> list[tuple[int, Paired]]:
        """:meth:`offer` of each half in turn (the same outcomes and store), without a call per half: (position,
        pair) of each pair completed."""
        waiting, clock, max_pending = self._waiting, self._clock_ms, self.max_pending
        out: list[tuple[int, Paired]] = []
        paired = duplicate = expired = 0
        for i, half in enumerate(halves):
            stamp = stamps[i]
            if clock is None or stamp > clock:
                clock = stamp
            other = waiting.pop(half.pair_id, None)
            if other is not None and other.timestamp_ms < clock - self.ttl_ms:
                expired += 1
                other = None
            if other is not None:
                if other.half.role != half.role:
                    paired += 1
                    if other.half.role == "request":
                        doc, at = {**other.half.part, **half.part}, other.timestamp_ms
                    else:
                        doc, at = {**half.part, **other.half.part}, stamp
                    key = keys[i]
                    out.append((i, Paired(doc, {**other.headers, **headers[i]}, at,
                                          key if key is not None else other.key)))
                    continue
                duplicate += 1
            waiting[half.pair_id] = _Waiting(half, headers[i], stamp, keys[i])
            while len(waiting) > max_pending:
                del waiting[next(iter(waiting))]
                expired += 1
        self._clock_ms = clock
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
            del self._waiting[pid]
        if old:
            self.outcomes["expired"] += len(old)
        return len(old)

    def take_outcomes(self) -> Counter[str]:
        out, self.outcomes = self.outcomes, Counter()
        return out
