"""The label join's spill to disk (see :mod:`streamdrift.window.joinstore`): pending predictions and matched keys as
immutable segment files with a Bloom filter over their keys in RAM (waiting labels: :mod:`.labelspill`, SQLite).

* Predictions and matched keys spill as immutable *segments* (:class:`Segments`): one file per spill, written
  with a few vectorized writes (times, packed float values, the 64-bit hash of each key sorted with its row,
  times sorted with their row, the keys' UTF-8 text; values other than floats as plain typed columns,
  :mod:`.spillvalues`: nothing read back from disk is ever unpickled). In RAM: a blocked
  Bloom filter over the live spilled keys (~2 bytes a key, rebuilt as keys are added and expire) and one state
  byte per spilled row (dead / matched / pending: the tombstones). A batch of new keys costs a Bloom probe; only
  the keys it flags are looked up in the segments (``searchsorted`` over a memory map opened for the lookup)
  and confirmed by their text. A label that matches a spilled prediction turns its row into a matched key in
  place. Expiry drops a segment whose rows are all older than the cutoff and ends the rows of a partly expired
  one through its time order (O(rows expired)).
* Segment files are created ``0600`` in a ``0700`` directory (a private temporary one by default; see
  :mod:`.spilldir` for a configured one), and a segment whose size differs from what was written is refused
  (JoinStoreError), never read past its end.
* Waiting labels (rare: they spill only once no prediction is left in memory) spill to SQLite
  (:class:`streamdrift.window.labelspill.LabelSpill`).

Key hashes are the native join table's (``streamdrift._native.key_hashes``: random keys per process), or
``KEY_HASH`` of the key text when a test sets it (to make keys collide).
"""

from __future__ import annotations

import itertools
import mmap
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray

from streamdrift import _native
from streamdrift.errors import JoinStoreError
from streamdrift.window.spilldir import DIR_MODE, create_private_file
from streamdrift.window.spillvalues import SpilledValues, encode_rows

KEY_SEP: Final[str] = "\x1f"
# the spilled keys' Bloom filter: bits per key of its capacity, capacity = BLOOM_SLACK x the live spilled keys
# (at least BLOOM_MIN_KEYS) when it is (re)built; it is rebuilt once that many keys were added since
BLOOM_BITS_PER_KEY: int = 10
BLOOM_SLACK: float = 1.5
BLOOM_MIN_KEYS: int = 1 << 16
KEY_HASH: Callable[[str], int] | None = None  # of a join key's text, instead of the native hash (a test sets it)
# a spilled row's state (one byte in RAM): expired, matched key, pending float prediction, other pending one
DEAD, DONE, PACKED, OTHER = 0, 1, 2, 3


class KeyLookup(Protocol):
    """Join keys by position: a list, or :class:`Keys`."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int, /) -> str: ...


class Keys:
    """The join keys (``model_id KEY_SEP inference_id``) of a batch's rows, made as text only when asked for."""

    __slots__ = ("ids", "models")

    def __init__(self, models: str | list[Any], ids: list[Any]) -> None:
        self.models, self.ids = models, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> str:
        model = self.models if isinstance(self.models, str) else self.models[i]
        return f"{model!s}{KEY_SEP}{self.ids[i]!s}"  # str() of each part, as the native table makes keys

    def all(self) -> list[str]:
        return [self[i] for i in range(len(self.ids))]

    def hashes(self) -> NDArray[np.int64]:
        if KEY_HASH is not None:
            return hash_keys(self.all())
        return np.frombuffer(_native.key_hashes(self.models, self.ids), dtype=np.int64)


@dataclass(slots=True)
class Columns:
    """Entries (pending predictions: bytes or tuples; matched keys: int; None: no entry) as columns: kind, time,
    prediction and score of the PACKED ones (NaN elsewhere), the values of the OTHER ones (None elsewhere)."""

    kinds: NDArray[np.uint8]
    t: NDArray[np.int64]
    p: NDArray[np.float64]
    s: NDArray[np.float64]
    others: list[Any] | None

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        others: list[Any] | None = None
        if any(c.others is not None for c in parts):
            others = []
            for c in parts:
                others += c.others if c.others is not None else [None] * c.kinds.size
        return Columns(np.concatenate([c.kinds for c in parts]), np.concatenate([c.t for c in parts]),
                        np.concatenate([c.p for c in parts]), np.concatenate([c.s for c in parts]), others)


def hash_keys(keys: list[str]) -> NDArray[np.int64]:
    """The 64-bit hashes of join keys given as text: the native table's (or ``KEY_HASH``'s)."""
    if KEY_HASH is not None:
        return np.fromiter(map(KEY_HASH, keys), dtype=np.int64, count=len(keys))
    return np.frombuffer(_native.hash_keys(keys), dtype=np.int64)


def sorted_hits(haystack: NDArray[np.int64], needles: NDArray[np.int64]) -> NDArray[np.intp]:
    """Positions (ascending) of the needles found in the sorted ``haystack``."""
    if haystack.size == 0 or needles.size == 0:
        return np.zeros(0, dtype=np.intp)
    order = np.argsort(needles)  # sorted needles: searchsorted walks the array once, not at random
    wanted = needles[order]
    at = np.searchsorted(haystack, wanted)
    np.minimum(at, haystack.size - 1, out=at)
    return np.sort(order[haystack[at] == wanted])


class Bloom:
    """A blocked Bloom filter over 64-bit hashes (native: ``native/src/bloom.rs``): a key sets 5 bits of one
    64-bit word (word: the hash modulo the words; bits: five 6-bit fields of its upper half), so a probe is one
    random read per key."""

    def __init__(self, capacity: int, bits_per_key: int) -> None:
        self._filter = _native.BloomFilter(capacity, bits_per_key)

    @property
    def capacity(self) -> int:
        return self._filter.capacity

    @property
    def added(self) -> int:
        return self._filter.added

    @property
    def words(self) -> NDArray[np.uint64]:
        return np.frombuffer(self._filter.words(), dtype=np.uint64)

    def nbytes(self) -> int:
        return self._filter.nbytes()

    def add(self, hashes: NDArray[np.int64]) -> None:
        self._filter.add(np.ascontiguousarray(hashes, dtype=np.int64).tobytes())

    def maybe(self, hashes: NDArray[np.int64]) -> NDArray[np.bool_]:
        return np.frombuffer(self._filter.maybe(np.ascontiguousarray(hashes, dtype=np.int64).tobytes()),
                             dtype=np.bool_)


class Segment:
    """One spill: ``n`` rows in a file (layout below) and their states in RAM. Rows keep their spill order; the
    hashes are sorted with the row of each (``hrow``), the times too (``trow``); ``epos``: the rows before it in
    time order have expired."""

    __slots__ = ("blob", "epos", "n", "other", "path", "pending", "state", "tmax", "tmin")

    def __init__(self, path: Path, n: int, blob: int, other: int, state: NDArray[np.uint8], tmin: int,
                 tmax: int) -> None:
        self.path, self.n, self.blob, self.other = path, n, blob, other
        self.state = state
        self.pending = int(np.count_nonzero(state >= PACKED))
        self.epos, self.tmin, self.tmax = 0, tmin, tmax

    @property
    def live(self) -> int:
        return self.n - self.epos

    def hashes(self, lookups: int) -> NDArray[np.int64]:
        """The sorted hashes, for ``lookups`` binary searches: read at once (a copy, freed after use), unless so
        few searches touch a small part of them (then a memory map: a page fault per page touched)."""
        if self.n > 2048 * lookups:
            return self.open().hashes
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return np.frombuffer(os.pread(fd, 8 * self.n, 24 * self.n), dtype=np.int64)
        finally:
            os.close(fd)

    @property
    def size(self) -> int:
        """The file's bytes (layout: :class:`SegmentView`)."""
        return 56 * self.n + 8 + self.blob + self.other

    def open(self) -> SegmentView:
        try:
            with open(self.path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # ValueError: an empty file
            raise JoinStoreError(f"cannot read join spill segment {self.path}: {exc}") from exc
        if (size := len(mm)) != self.size:
            mm.close()
            raise JoinStoreError(f"join spill segment {self.path} has {size} bytes, {self.size} were written")
        return SegmentView(self, mm)


class SegmentView:
    """A segment's columns over a memory map (unmapped when the view and its arrays are gone). File layout, n
    rows: t, p, s, hashes sorted, t sorted (int64/float64 each), key text offsets (n + 1 int64), hrow, trow
    (int32 each), the keys' UTF-8 text, the rows' (time, prediction, score) tuples as a :mod:`.spillvalues`
    section (None but for the OTHER rows; absent when there are none)."""

    def __init__(self, seg: Segment, mm: mmap.mmap) -> None:
        n = seg.n
        self.mm = mm
        self.t = np.frombuffer(mm, np.int64, n, 0)
        self.p = np.frombuffer(mm, np.float64, n, 8 * n)
        self.s = np.frombuffer(mm, np.float64, n, 16 * n)
        self.hashes = np.frombuffer(mm, np.int64, n, 24 * n)
        self.tsorted = np.frombuffer(mm, np.int64, n, 32 * n)
        self.offsets = np.frombuffer(mm, np.int64, n + 1, 40 * n)
        self.hrow = np.frombuffer(mm, np.int32, n, 48 * n + 8)
        self.trow = np.frombuffer(mm, np.int32, n, 52 * n + 8)
        self.text_at = 56 * n + 8
        self.other_at = self.text_at + seg.blob
        self.other_size = seg.other
        self.n, self.path = n, seg.path

    def others(self) -> SpilledValues:
        """The (time, prediction, score) of the OTHER rows, by row (``.row(i)``)."""
        values = SpilledValues(self.mm, self.other_at, self.other_size, self.n, str(self.path))
        if values.width != 3:
            raise JoinStoreError(f"join spill segment {self.path}: {values.width} values a row, 3 were written")
        return values


@dataclass(slots=True)
class Hit:
    """A live spilled row of a key: its segment and row, and its pending (ts, y_pred, score) or None (matched)."""

    seg: Segment
    row: int
    value: tuple[int, Any, Any] | None


class Segments:
    """Spilled pending predictions and matched keys (see the module docs)."""

    def __init__(self, directory: Path | None) -> None:
        if directory is None:
            self.dir = Path(tempfile.mkdtemp(prefix="streamdrift-join-"))  # 0700
        else:
            shutil.rmtree(directory, ignore_errors=True)  # segments never survive a restart
            try:
                directory.mkdir(mode=DIR_MODE, parents=True)
            except OSError as exc:
                raise JoinStoreError(f"cannot create join spill directory {directory}: {exc}") from exc
            self.dir = directory
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.segments: list[Segment] = []
        self.live = 0
        self.pending = 0
        self._seq = itertools.count()
        self.bloom = Bloom(BLOOM_MIN_KEYS, BLOOM_BITS_PER_KEY)

    def add(self, text: bytes, offsets: NDArray[np.int64], cols: Columns, hashes: NDArray[np.int64]) -> None:
        """Spill entries (pending predictions and matched keys, as columns) as one segment: their keys' UTF-8
        text, where each starts in it (and the end), and their hashes."""
        n = cols.kinds.size
        if n == 0:
            return
        t, p, s, kinds = cols.t, cols.p, cols.s, cols.kinds
        if KEY_HASH is not None:
            bounds = offsets.tolist()
            hashes = hash_keys([text[a:b].decode() for a, b in itertools.pairwise(bounds)])
        sorted_raw, hrow_raw = _native.sorted_hashes(np.ascontiguousarray(hashes, dtype=np.int64))
        hsorted, hrow = np.frombuffer(sorted_raw, dtype=np.int64), np.frombuffer(hrow_raw, dtype=np.int32)
        trow = np.argsort(t, kind="stable").astype(np.int32)
        other = encode_rows(cols.others, 3) if cols.others else b""
        tsorted = t[trow]
        path = self.dir / f"{next(self._seq):08d}.seg"
        try:
            with create_private_file(path) as f:
                for column in (t, p, s, hsorted, tsorted, offsets, hrow, trow):
                    f.write(np.ascontiguousarray(column).data)
                f.write(text)
                f.write(other)
        except OSError as exc:
            raise JoinStoreError(f"cannot write join spill segment {path}: {exc}") from exc
        seg = Segment(path, n, len(text), len(other), kinds, int(tsorted[0]), int(tsorted[-1]))
        self.segments.append(seg)
        self.live += n
        self.pending += seg.pending
        if self.bloom.added + n > self.bloom.capacity:
            self._rebuild()  # the new segment's keys included
        else:
            self.bloom.add(hashes)

    def find(self, keys: KeyLookup, hashes: NDArray[np.int64]) -> dict[int, Hit]:
        """The live spilled rows of ``keys`` (whose ``hashes`` are given), by position in ``keys``: the Bloom
        filter first, then the segments for the keys it flags, each confirmed by its text (a key given twice is
        found at both positions)."""
        if not keys or self.live == 0:
            return {}
        flagged = np.flatnonzero(self.bloom.maybe(hashes))
        if flagged.size == 0:
            return {}
        wanted = hashes[flagged]
        order = np.argsort(wanted)
        needles = wanted[order]
        which = flagged[order].tolist()
        out: dict[int, Hit] = {}
        for seg in self.segments:
            if seg.live:
                self._find_in(seg, keys, which, needles, out)
        return out

    def _find_in(self, seg: Segment, keys: KeyLookup, which: list[int], needles: NDArray[np.int64],
                 out: dict[int, Hit]) -> None:
        hs = seg.hashes(needles.size)
        at = np.searchsorted(hs, needles)
        found = np.flatnonzero(hs[np.minimum(at, seg.n - 1)] == needles)
        if found.size == 0:
            return
        view = seg.open()
        mm, text = view.mm, view.text_at
        pos = at[found]
        rows = view.hrow[pos].astype(np.intp)
        starts = (view.offsets[rows] + text).tolist()
        ends = (view.offsets[rows + 1] + text).tolist()
        other_rows: list[tuple[int, int]] = []  # (position in keys, row) of pending rows of other values
        for i, j, row, start, end, kind, t, p, s in zip(
                found.tolist(), pos.tolist(), rows.tolist(), starts, ends, seg.state[rows].tolist(),
                view.t[rows].tolist(), view.p[rows].tolist(), view.s[rows].tolist(), strict=True):
            at_key = which[i]
            key = keys[at_key]
            if mm[start:end] != key.encode():  # another key of that hash (64-bit collision): the next rows
                found_row = self._collision(view, seg, j, key)
                if found_row is None:
                    continue
                row, kind = found_row, int(seg.state[found_row])
                t, p, s = int(view.t[row]), float(view.p[row]), float(view.s[row])
            if kind == DONE:
                out[at_key] = Hit(seg, row, None)
            elif kind == PACKED:
                out[at_key] = Hit(seg, row, (t, p, s))
            elif kind == OTHER:
                other_rows.append((at_key, row))
        if other_rows:
            values = view.others().rows([row for _, row in other_rows])
            for (at_key, row), value in zip(other_rows, values, strict=True):
                if value is None:
                    raise JoinStoreError(f"join spill segment {seg.path}: row {row} has no value")
                t, y_pred, score = value
                out[at_key] = Hit(seg, row, (int(t), y_pred, score))

    @staticmethod
    def _collision(view: SegmentView, seg: Segment, j: int, key: str) -> int | None:
        """The row of ``key`` among the rows of the hash at sorted position ``j`` and after it, if any."""
        hs, encoded, needle = view.hashes, key.encode(), view.hashes[j]
        while j < seg.n and hs[j] == needle:
            row = int(view.hrow[j])
            if view.mm[view.text_at + int(view.offsets[row]) : view.text_at + int(view.offsets[row + 1])] == encoded:
                return row
            j += 1
        return None

    def match(self, hits: list[Hit]) -> None:
        """Labels matched the pending rows of ``hits`` (each row once): they are matched keys now."""
        segs = [hit.seg for hit in hits]
        rows = np.array([hit.row for hit in hits], dtype=np.intp)
        for hit in hits:
            hit.value = None
        which = np.array([id(seg) for seg in segs], dtype=np.int64)
        for ident, seg in {id(seg): seg for seg in segs}.items():
            mine = rows[which == ident]
            seg.state[mine] = DONE
            seg.pending -= int(mine.size)
        self.pending -= len(hits)

    def expire(self, cutoff: int) -> int:
        """End the rows of time < ``cutoff``; returns how many of them were pending predictions."""
        expired = 0
        kept: list[Segment] = []
        for seg in self.segments:
            if seg.tmin >= cutoff or not seg.live:
                kept.append(seg)
                continue
            if seg.tmax < cutoff:
                expired += seg.pending
                self.live -= seg.live
                self.pending -= seg.pending
                seg.path.unlink(missing_ok=True)
                continue
            view = seg.open()
            end = int(np.searchsorted(view.tsorted, cutoff))
            rows = view.trow[seg.epos : end]
            pending = int(np.count_nonzero(seg.state[rows] >= PACKED))
            seg.state[rows] = DEAD
            expired += pending
            seg.pending -= pending
            self.pending -= pending
            self.live -= end - seg.epos
            seg.epos, seg.tmin = end, int(view.tsorted[end])
            kept.append(seg)
        if len(kept) != len(self.segments):
            self.segments = kept
            if self.bloom.capacity > BLOOM_MIN_KEYS and self.live * 2 * BLOOM_SLACK < self.bloom.capacity:
                self._rebuild()
        return expired

    def _rebuild(self) -> None:
        """A Bloom filter of the live spilled keys, sized for BLOOM_SLACK times as many. The old filter is let go
        first, so two never take RAM at once (the RSS peak of a growing spill); an error here (reading a segment)
        ends the worker, whose store is then rebuilt from Kafka."""
        del self.bloom
        self.bloom = Bloom(max(BLOOM_MIN_KEYS, int(self.live * BLOOM_SLACK)), BLOOM_BITS_PER_KEY)
        for seg in self.segments:
            view = seg.open()
            live = seg.state[view.hrow] != DEAD
            self.bloom.add(view.hashes[live])

    def nbytes(self) -> int:
        """RAM: the Bloom filter, a state byte per row and ~200 bytes of objects per segment."""
        return self.bloom.nbytes() + sum(seg.state.nbytes + 200 for seg in self.segments)

    def close(self) -> None:
        self.segments = []
        self._cleanup()
