"""The mergeable window state of segments: one data-quality profile per segment value, at most ``max_values`` of
them; rows of further values go to the pooled :data:`~streamdrift.monitors.segments.spec.OTHER` profile and are
counted (``pooled_rows``), so a window's state stays bounded whatever the traffic sends.

Blob: the shared envelope (kind SEGMENTS; parameter slot: ``max_values``) around a JSON header (each segment's
name and blob length, the pooled rows) and the nested profile blobs. Merging unites the segments; when the union
is over the cap, the segments with the fewest rows (ties: the larger name) are pooled, so the result does not
depend on the order of the merges.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Self

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.columns.columns import Categories, Column, Columns, take, take_column
from streamdrift.errors import CorruptBlobError, MergeError, SerializationError
from streamdrift.monitors.segments.spec import DEFAULT_MAX_VALUES, OTHER
from streamdrift.profile.dataset import DatasetProfile
from streamdrift.profile.sketches import BlobKind, pack_envelope, unpack_envelope

_LEN: Final[struct.Struct] = struct.Struct("<I")
#: Rows kept pending before they are profiled (see :meth:`SegmentStates.add`): bounds the memory they hold.
MAX_PENDING_ROWS: Final[int] = 1 << 16


@dataclass(slots=True)
class _Pending:
    columns: Columns  # the rows' tested features
    targets: list[str]  # the profile each distinct segment of the rows goes to (its own, or OTHER)
    inverse: NDArray[np.intp]  # each row's index into targets


@dataclass(slots=True)
class SegmentStates:
    """The profiles of one window's segments."""

    max_values: int = DEFAULT_MAX_VALUES
    profiles: dict[str, DatasetProfile] = field(default_factory=dict)
    pooled_rows: int = 0  # rows of segment values beyond the cap (profiled in OTHER)
    _pending: list[_Pending] = field(default_factory=list)
    _assigned: set[str] = field(default_factory=set)  # segments with a profile, or rows pending for one
    _pending_rows: int = 0

    @property
    def named(self) -> list[str]:
        if self._pending:
            raise MergeError("segment states have pending rows: settle() them first")
        return sorted(name for name in self.profiles if name != OTHER)

    def add(self, columns: Columns, names: list[str], inverse: NDArray[np.intp],
            empty: Callable[[], DatasetProfile]) -> None:
        """Rows of the window: ``names`` the distinct segments, ``inverse`` each row's index into them. They are
        profiled later, many polls at once (a segment's few rows per poll would cost a profile update each):
        at :meth:`settle`, or once :data:`MAX_PENDING_ROWS` are pending. Which segments get a profile (the
        first ``max_values``) is decided now, in arrival order."""
        counts = np.bincount(inverse, minlength=len(names))
        targets = []
        for name, count in zip(names, counts.tolist(), strict=True):
            if name not in self._assigned and name != OTHER and len(self._assigned - {OTHER}) >= self.max_values:
                self.pooled_rows += count
                name = OTHER
            self._assigned.add(name)
            targets.append(name)
        self._pending.append(_Pending(columns, targets, inverse))
        self._pending_rows += columns.n_rows
        if self._pending_rows >= MAX_PENDING_ROWS:
            self.settle(empty)

    def settle(self, empty: Callable[[], DatasetProfile]) -> None:
        """Profile the pending rows: one profile update per segment."""
        if not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        columns = pending[0].columns if len(pending) == 1 else concat([p.columns for p in pending])
        targets = sorted({t for p in pending for t in p.targets})
        index = {t: i for i, t in enumerate(targets)}
        codes = np.concatenate([np.fromiter((index[t] for t in p.targets), dtype=np.intp,
                                            count=len(p.targets))[p.inverse] for p in pending])
        if len(targets) > 1:  # one gather in segment order, then each segment's rows are a slice (views)
            order = np.argsort(codes, kind="stable")
            columns = take(columns, order)
        ends = np.cumsum(np.bincount(codes, minlength=len(targets))).tolist()
        for target, start, end in zip(targets, [0, *ends[:-1]], ends, strict=True):
            if end == start:
                continue
            profile = self.profiles.get(target)
            if profile is None:
                profile = self.profiles[target] = empty()
            part = columns if end - start == columns.n_rows else Columns(
                end - start, {n: take_column(c, slice(start, end)) for n, c in columns.columns.items()})
            profile.update(part)

    def merge(self, other: SegmentStates) -> Self:
        if not isinstance(other, SegmentStates):
            raise MergeError(f"cannot merge {type(other).__name__} into SegmentStates")
        if self._pending or other._pending:
            raise MergeError("segment states have pending rows: settle() them first")
        if other.max_values != self.max_values:
            raise MergeError(f"segment states of caps {self.max_values} and {other.max_values} do not merge")
        for name, profile in other.profiles.items():
            mine = self.profiles.get(name)
            if mine is None:
                self.profiles[name] = profile.copy()
            else:
                mine.merge(profile)
        self.pooled_rows += other.pooled_rows
        self._cap()
        self._assigned = set(self.profiles)
        return self

    def _cap(self) -> None:
        named = self.named
        if len(named) <= self.max_values:
            return
        ranked = sorted(named, key=lambda n: (-self.profiles[n].n_records, n))
        for name in ranked[self.max_values:]:
            profile = self.profiles.pop(name)
            self.pooled_rows += profile.n_records
            other = self.profiles.get(OTHER)
            if other is None:
                self.profiles[OTHER] = profile
            else:
                other.merge(profile)

    def to_bytes(self) -> bytes:
        if self._pending:
            raise SerializationError("segment states have pending rows: settle() them first")
        blobs = [(name, self.profiles[name].to_bytes(nested=True)) for name in sorted(self.profiles)]
        return _pack(self.max_values, self.pooled_rows, blobs)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Self:
        max_values, pooled, entries = _open(blob)
        state = cls(max_values, {}, pooled)
        for name, nested in entries:
            try:
                state.profiles[name] = DatasetProfile.from_bytes(nested, nested=True)
            except SerializationError as exc:
                raise CorruptBlobError(f"segments blob: {exc}") from exc
        state._assigned = set(state.profiles)
        return state


def concat(parts: list[Columns]) -> Columns:
    """The rows of ``parts`` one after the other (a feature absent from a part is missing there; text codes are
    dropped: each part has its own dictionary)."""
    names = list(dict.fromkeys(name for part in parts for name in part.columns))
    out = {}
    for name in names:
        cols = [part.columns.get(name) or Column.missing(part.n_rows) for part in parts]
        numbers = np.concatenate([c.numbers for c in cols])
        kinds = np.concatenate([c.kinds for c in cols])
        strings = None
        if any(c.strings is not None for c in cols):
            strings = np.concatenate([c.strings if c.strings is not None else np.full(len(c), None, dtype=object)
                                      for c in cols])
        out[name] = Column(numbers, kinds, strings, _categories(cols))
    return Columns(sum(part.n_rows for part in parts), out)


def _categories(cols: list[Column]) -> Categories | None:
    """One dictionary for the parts' text codes (a profile counts codes without hashing strings), when every
    part with text rows has codes; Python work per distinct value, not per row."""
    if not all(c.categories is not None or c.strings is None for c in cols):
        return None
    values: dict[str, int] = {}
    codes = []
    for c in cols:
        if c.categories is None:
            codes.append(np.full(len(c), -1, dtype=np.intp))
            continue
        remap = np.fromiter((values.setdefault(v, len(values)) for v in c.categories.values.tolist()),
                            dtype=np.intp, count=c.categories.values.size)
        own = c.categories.codes
        codes.append(np.where(own >= 0, remap[np.maximum(own, 0)], -1))
    if not values:
        return None
    return Categories(np.concatenate(codes), np.array(list(values), dtype=object))


def split_states(blob: bytes, max_bytes: int) -> list[bytes]:
    """A segments blob as several, each of whole segments and (when it can be) at most ``max_bytes``: their
    merge is the state of ``blob`` (disjoint segments; the pooled rows go with the first). The profiles' bytes
    are cut apart, not decoded."""
    max_values, pooled, entries = _open(blob)
    chunks: list[list[tuple[str, bytes]]] = []
    used = max_bytes
    for name, nested in entries:
        if used + len(nested) > max_bytes and (not chunks or chunks[-1]):
            chunks.append([])
            used = 0
        chunks[-1].append((name, nested))
        used += len(nested)
    if len(chunks) <= 1:
        return [bytes(blob)]
    return [_pack(max_values, pooled if i == 0 else 0, chunk) for i, chunk in enumerate(chunks)]


def _pack(max_values: int, pooled_rows: int, entries: list[tuple[str, bytes]]) -> bytes:
    """A segments blob: the header (each segment's name and length, the pooled rows), then the profiles."""
    header = orjson.dumps({"segments": [[name, len(b)] for name, b in entries], "pooled_rows": pooled_rows})
    payload = b"".join([_LEN.pack(len(header)), header, *(b for _, b in entries)])
    return pack_envelope(BlobKind.SEGMENTS, (max_values, 0, 0), payload)


def _open(blob: bytes) -> tuple[int, int, list[tuple[str, bytes]]]:
    """A segments blob's cap of segment values, pooled rows and each segment's profile bytes (not decoded)."""
    env = unpack_envelope(blob, BlobKind.SEGMENTS, None, n_params=1)
    payload = env.payload
    try:
        (head_len,) = _LEN.unpack_from(payload)
        header = orjson.loads(payload[_LEN.size:_LEN.size + head_len])
        pos = _LEN.size + head_len
        entries = []
        for name, length in header["segments"]:
            if not isinstance(name, str) or not isinstance(length, int) or length < 0:
                raise CorruptBlobError(f"segments blob: bad entry {[name, length]!r}")
            entries.append((name, payload[pos:pos + length]))
            pos += length
        pooled = int(header["pooled_rows"])
    except (struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CorruptBlobError(f"segments blob: {exc!r}") from None
    if pos != len(payload):
        raise CorruptBlobError("segments blob: lengths do not add up")
    return int(env.params[0]), pooled, entries
