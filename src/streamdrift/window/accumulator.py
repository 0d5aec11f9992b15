"""Idempotent merge of per-partition deltas into one (model, window) profile.

The control plane keeps one :class:`WindowAccumulator` per (model, window) in a faust table (as
:meth:`WindowAccumulator.to_bytes`). Delivery into the merger is at-least-once: a delta whose id
``(source topic, partition, end offset)`` was merged before is ignored. A window is complete when every capture
partition has sent its ``WindowClosed`` marker. Markers are broadcast to every ``partials`` partition and may
arrive before the first delta of a model, so :class:`CloseTracker` remembers, per capture partition, up to which
window end it has closed; a new accumulator starts from it.

Extras (model-quality / bias / attribution states) are folded into one state per name as deltas arrive
(:func:`streamdrift.monitors.states.merge_state_blobs`): a labels stage open for an hour receives a delta from
every partition at every commit, and keeping them all would grow the stored accumulator without bound. States
that cannot be merged (unreadable, or of different configs) stay a list, for the evaluation to report.

Deltas split into parts (:mod:`streamdrift.window.parts`: too large for one Kafka message) are kept in
``extras`` under the reserved name :data:`~streamdrift.window.parts.PARTS_EXTRA` until all their parts arrived
(so the blob format is unchanged and a restarted control plane completes them from its table), then merged as
one delta. Duplicates of a part, or of any part of a delta already merged, are ignored. A window released with
parts still waiting leaves those deltas out (:meth:`WindowAccumulator.incomplete_deltas` says how many).

Blob format: magic ``b"SDWA"`` | version u8 | header length u32 | JSON header | profile bytes, then the extras
(lengths in the header).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any, Final, TypeVar

import orjson

from streamdrift.errors import CorruptBlobError, MergeError, StreamdriftError, VersionMismatchError
from streamdrift.monitors.states import merge_state_blobs
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.partials import PartialDelta, WindowClosed
from streamdrift.window.parts import PARTS_EXTRA, combine, part_key, pending_ids, stored_delta, stored_part

__all__ = ["CloseTracker", "WindowAccumulator"]

_MAGIC: Final[bytes] = b"SDWA"
_TRACKER_MAGIC: Final[bytes] = b"SDCT"
_VERSION: Final[int] = 1
_PREFIX: Final[struct.Struct] = struct.Struct(">4sBI")

DeltaId = tuple[str, int, int]
T = TypeVar("T")


class WindowAccumulator:
    """The merged state of one (model, window)."""

    __slots__ = ("_parts", "_seen", "closing_since_ms", "extras", "features_dropped", "first_seen_ms", "model_id",
                 "model_version", "n_records", "partitions_closed", "profile", "window_end_ms",
                 "window_start_ms")  # fmt: skip

    def __init__(
        self,
        model_id: str,
        window_start_ms: int,
        window_end_ms: int,
        *,
        first_seen_ms: int,
        params: ProfileParams | None = None,
    ) -> None:
        self.model_id = model_id
        self.model_version: str | None = None
        self.window_start_ms = window_start_ms
        self.window_end_ms = window_end_ms
        self.first_seen_ms = first_seen_ms  # wall clock of the first delta or marker
        self.closing_since_ms: int | None = None  # wall clock when the first partition closed it (merge timeout)
        self.profile = DatasetProfile.empty(params if params is not None else ProfileParams())
        self.n_records = 0
        self.partitions_closed: frozenset[int] = frozenset()
        self.extras: dict[str, list[bytes]] = {}
        self.features_dropped = 0  # feature columns of deltas left out by the cap (in memory, for the metric)
        self._seen: set[DeltaId] = set()
        self._parts: dict[tuple[DeltaId, int], PartialDelta] = {}  # kept parts as given (not stored: decoded
        # again from extras after a restart), so completing a delta does not decode its parts a second time

    @classmethod
    def for_delta(cls, d: PartialDelta, *, now_ms: int) -> WindowAccumulator:
        return cls(d.model_id, d.window_start_ms, d.window_end_ms, first_seen_ms=now_ms, params=d.profile.params)

    @property
    def seen_delta_ids(self) -> frozenset[DeltaId]:
        return frozenset(self._seen)

    def add_delta(self, d: PartialDelta, cap: tuple[int, AbstractSet[str]] | None = None) -> bool:
        """Merge ``d``; False (and no change) when a delta with its id was merged already, or ``d`` is a part
        kept already. A part is kept until its delta's last part arrives, which merges the whole delta (True
        both times). Parts that do not fit together raise :class:`CorruptBlobError` and change nothing.
        ``cap``: (max features, names admitted first) of the merged profile
        (:meth:`~streamdrift.profile.profiles.DatasetProfile.merge_capped`)."""
        if (d.model_id, d.window_start_ms, d.window_end_ms) != (
            self.model_id, self.window_start_ms, self.window_end_ms,
        ):  # fmt: skip
            raise MergeError(
                f"delta for {d.model_id}@{d.window_start_ms} given to the accumulator of "
                f"{self.model_id}@{self.window_start_ms}"
            )
        if d.delta_id in self._seen:
            return False
        if PARTS_EXTRA in d.extras:
            raise CorruptBlobError(f"delta {d.delta_id} has an extra with the reserved name {PARTS_EXTRA!r}")
        whole = None
        if d.part is not None:
            kept, whole = self._add_part(d, *d.part)
            if whole is None:
                return kept
            d = whole
        if cap is None:
            self.profile.merge(d.profile)  # raises before any change (params or domains differ)
        else:
            self.features_dropped += self.profile.merge_capped(d.profile, *cap)
        if whole is not None:
            self._drop_parts(d.delta_id)
        self.n_records += d.n_records
        if d.model_version is not None:
            self.model_version = d.model_version
        for name, blob in d.extras.items():
            self._add_extra(name, blob)
        self._seen.add(d.delta_id)
        return True

    def _add_part(self, d: PartialDelta, index: int, count: int) -> tuple[bool, PartialDelta | None]:
        """Keep part ``d`` (``index`` of ``count``): (False, None) for a part kept before, (True, None) when
        kept now, (True, the whole delta) when it was the last one missing (nothing changed yet)."""
        stored = self.extras.get(PARTS_EXTRA, [])
        mine = {}
        for blob in stored:
            delta_id, i, n = part_key(blob)
            if delta_id == d.delta_id:
                if n != count:
                    raise CorruptBlobError(f"part {d.part} of delta {d.delta_id}: an earlier part said {n} parts")
                mine[i] = blob
        if index in mine:
            return False, None
        if len(mine) + 1 < count:
            self.extras[PARTS_EXTRA] = [*stored, stored_part(d)]
            self._parts[(d.delta_id, index)] = d
            return True, None
        kept = [self._parts.get((d.delta_id, i)) or stored_delta(blob) for i, blob in mine.items()]
        return True, combine([d, *kept])

    def _drop_parts(self, delta_id: DeltaId) -> None:
        self._parts = {key: part for key, part in self._parts.items() if key[0] != delta_id}
        rest = [blob for blob in self.extras.get(PARTS_EXTRA, ()) if part_key(blob)[0] != delta_id]
        if rest:
            self.extras[PARTS_EXTRA] = rest
        else:
            self.extras.pop(PARTS_EXTRA, None)

    def incomplete_deltas(self) -> int:
        """Deltas of which only some parts arrived (left out of the merged profile until the rest arrive)."""
        return len(pending_ids(self.extras))

    def monitor_extras(self) -> dict[str, list[bytes]]:
        """The monitors' states (``extras`` without the parts of incomplete deltas)."""
        return {name: list(blobs) for name, blobs in self.extras.items() if name != PARTS_EXTRA}

    def _add_extra(self, name: str, blob: bytes) -> None:
        blobs = self.extras.setdefault(name, [])
        blobs.append(blob)
        if len(blobs) > 1:
            with contextlib.suppress(StreamdriftError):  # kept apart: the evaluation reports what does not merge
                self.extras[name] = [merge_state_blobs(blobs)]

    def mark_closed(self, partition: int) -> None:
        self.partitions_closed = self.partitions_closed | {partition}

    def mark_closed_many(self, partitions: Iterable[int]) -> None:
        self.partitions_closed = self.partitions_closed | frozenset(partitions)

    def is_complete(self, n_partitions: int) -> bool:
        """True when capture partitions ``0 .. n_partitions-1`` have all closed this window."""
        return self.partitions_closed.issuperset(range(n_partitions))

    # ------------------------------------------------------------ serialization (faust table values)

    def to_bytes(self) -> bytes:
        profile = self.profile.to_bytes()
        extras = [(name, blob) for name, blobs in self.extras.items() for blob in blobs]
        header = orjson.dumps({
            "model_id": self.model_id, "model_version": self.model_version,
            "window_start_ms": self.window_start_ms, "window_end_ms": self.window_end_ms,
            "first_seen_ms": self.first_seen_ms, "closing_since_ms": self.closing_since_ms,
            "n_records": self.n_records,
            "partitions_closed": sorted(self.partitions_closed),
            "seen": sorted([list(i) for i in self._seen]),
            "profile_len": len(profile), "extras": [[name, len(blob)] for name, blob in extras],
        })  # fmt: skip
        return b"".join([_PREFIX.pack(_MAGIC, _VERSION, len(header)), header, profile, *(b for _, b in extras)])

    @classmethod
    def from_bytes(cls, blob: bytes) -> WindowAccumulator:
        header, body = _open(bytes(blob), _MAGIC, "window accumulator")
        try:
            acc = cls(
                _typed(header["model_id"], str), _typed(header["window_start_ms"], int),
                _typed(header["window_end_ms"], int), first_seen_ms=_typed(header["first_seen_ms"], int),
            )  # fmt: skip
            version = header["model_version"]
            acc.model_version = None if version is None else _typed(version, str)
            acc.n_records = _typed(header["n_records"], int)
            closing = header.get("closing_since_ms")  # absent in accumulators of earlier builds: then timed
            acc.closing_since_ms = None if closing is None else _typed(closing, int)  # from first_seen_ms
            acc.partitions_closed = frozenset(_typed(p, int) for p in header["partitions_closed"])
            if acc.closing_since_ms is None and acc.partitions_closed:
                acc.closing_since_ms = acc.first_seen_ms
            acc._seen = {(_typed(t, str), _typed(p, int), _typed(o, int)) for t, p, o in header["seen"]}
            profile_len = _typed(header["profile_len"], int)
            pos = profile_len
            for name, length in header["extras"]:
                acc.extras.setdefault(_typed(name, str), []).append(body[pos : pos + _typed(length, int)])
                pos += length
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptBlobError(f"window accumulator header is malformed: {exc!r}") from None
        if pos != len(body):
            raise CorruptBlobError("window accumulator payload lengths do not add up")
        acc.profile = DatasetProfile.from_bytes(body[:profile_len])
        return acc

    def __repr__(self) -> str:
        return (
            f"WindowAccumulator({self.model_id!r}, [{self.window_start_ms}, {self.window_end_ms}), "
            f"n_records={self.n_records}, deltas={len(self._seen)}, closed={sorted(self.partitions_closed)})"
        )


class CloseTracker:
    """Per capture partition, the latest window end its markers closed (markers come in window order)."""

    __slots__ = ("_closed_through", "_watermarks")

    def __init__(self) -> None:
        self._closed_through: dict[int, int] = {}
        self._watermarks: dict[int, int] = {}

    def observe(self, marker: WindowClosed) -> None:
        p = marker.partition
        self._closed_through[p] = max(self._closed_through.get(p, marker.window_end_ms), marker.window_end_ms)
        self._watermarks[p] = max(self._watermarks.get(p, marker.watermark_ms), marker.watermark_ms)

    def closed_partitions(self, window_end_ms: int) -> frozenset[int]:
        """Partitions that have closed the window ending at ``window_end_ms``."""
        return frozenset(p for p, end in self._closed_through.items() if end >= window_end_ms)

    def watermark(self, partition: int) -> int | None:
        return self._watermarks.get(partition)

    def to_bytes(self) -> bytes:
        header = orjson.dumps({"closed": sorted(self._closed_through.items()), "wm": sorted(self._watermarks.items())})
        return _PREFIX.pack(_TRACKER_MAGIC, _VERSION, len(header)) + header

    @classmethod
    def from_bytes(cls, blob: bytes) -> CloseTracker:
        header, body = _open(bytes(blob), _TRACKER_MAGIC, "close tracker")
        out = cls()
        try:
            out._closed_through = {_typed(p, int): _typed(e, int) for p, e in header["closed"]}
            out._watermarks = {_typed(p, int): _typed(w, int) for p, w in header["wm"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptBlobError(f"close tracker is malformed: {exc!r}") from None
        if body:
            raise CorruptBlobError("close tracker has trailing bytes")
        return out


def _typed(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _open(blob: bytes, magic: bytes, what: str) -> tuple[dict[str, Any], bytes]:
    if len(blob) < _PREFIX.size:
        raise CorruptBlobError(f"{what} blob too short ({len(blob)} bytes)")
    got_magic, version, head_len = _PREFIX.unpack_from(blob)
    if got_magic != magic:
        raise CorruptBlobError(f"not a {what} blob (bad magic)")
    if version != _VERSION:
        raise VersionMismatchError(f"{what} format version {version}; this build reads {_VERSION}")
    end = _PREFIX.size + head_len
    if end > len(blob):
        raise CorruptBlobError(f"{what} blob truncated")
    try:
        header = orjson.loads(blob[_PREFIX.size : end])
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"{what} header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise CorruptBlobError(f"{what} header is not an object")
    return header, blob[end:]
