"""Join ground-truth labels to predictions by (model_id, inference_id), whichever arrives first.

Pending predictions wait ``ttl_ms`` past their own (event) timestamp for a label; pending labels wait ``ttl_ms``
past their arrival (``now_ms``) for a prediction. A matched key is remembered for ``ttl_ms`` past its
prediction's timestamp so a second label for it counts as ``duplicate_label``. A joined row carries its
prediction's timestamp: the label is accounted to the window of the prediction.

Memory is bounded: when more than ``max_memory_items`` entries (pending predictions + pending labels + matched
keys) are held, the oldest (by time) are spilled in batches. The limit is fixed per store, or a share of a
:class:`MemoryBudget` common to the stores of a process (one per partition).

* Predictions and matched keys spill as immutable *segments* (:class:`_Segments`): one file per spill, written
  with a few vectorized writes (times, packed float values, the 64-bit ``hash()`` of each key sorted with its
  row, times sorted with their row, the keys' UTF-8 text; other values pickled as one list). In RAM: a blocked
  Bloom filter over the live spilled keys (~2 bytes a key, rebuilt as keys are added and expire) and one state
  byte per spilled row (dead / matched / pending: the tombstones). A batch of new keys costs a Bloom probe; only
  the keys it flags are looked up in the segments (``searchsorted`` over a memory map opened for the lookup)
  and confirmed by their text. A label that matches a spilled prediction turns its row into a matched key in
  place. Expiry drops a segment whose rows are all older than the cutoff and ends the rows of a partly expired
  one through its time order (O(rows expired)).
* Waiting labels (rare: they spill only once no prediction is left in memory) spill to SQLite (stdlib sqlite3,
  WAL, ``executemany``) at ``path``, or to a private temporary on-disk database when ``path`` is None, with a
  sorted array of their keys' hashes so predictions query SQLite only for the keys it flags.

Segments live in ``<path>.segments/`` (or a private temporary directory), removed on :meth:`JoinStore.close`;
they do not survive a restart (the worker rebuilds a fresh store from Kafka, see ``worker/joinrestore.py``).

In memory, a pending prediction of float prediction / score is one 25-byte ``bytes`` (timestamp, prediction,
score; NaN for no score) instead of a tuple of three objects, and a matched key's value is its prediction's
timestamp (it expires with it: ``ts + ttl < now`` iff ``ts < now - ttl``). Expiry and spilling find entries
through a time index (runs of keys sorted by time in a heap by their oldest time), so ``expire`` costs
O(entries expired) (plus sorting each run of up to a few thousand keys once), not a scan of everything held;
out-of-order timestamps are exact (an entry expires iff its time < cutoff).

The join itself is keyed on strings, so it is a dict per batch item (about 1M operations/s), not numpy.
"""

from __future__ import annotations

import heapq
import itertools
import mmap
import os
import pickle
import shutil
import sqlite3
import struct
import sys
import tempfile
import weakref
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import BadRecordError, ConfigError, StreamdriftError

KEY_SEP: Final[str] = "\x1f"
SQL_CHUNK: Final[int] = 900
SPILL_FRACTION: Final[float] = 0.5
RUN: Final[int] = 4096  # keys of the time index's open run before it is sorted
MIN_SHARE: Final[int] = 10_000  # a store's share of a MemoryBudget is never smaller (unless the total is)
# the spilled keys' Bloom filter: bits per key of its capacity, capacity = BLOOM_SLACK x the live spilled keys
# (at least BLOOM_MIN_KEYS) when it is (re)built; it is rebuilt once that many keys were added since
BLOOM_BITS_PER_KEY: int = 10
BLOOM_SLACK: float = 1.5
BLOOM_MIN_KEYS: int = 1 << 16
KEY_HASH: Callable[[str], int] = hash  # of a join key, for the spills (a test makes it collide)
LABEL = "labels"
_SCHEMA: Final[tuple[str, ...]] = (
    f"CREATE TABLE IF NOT EXISTS {LABEL} (key TEXT PRIMARY KEY, label, arrival INTEGER) WITHOUT ROWID",
    f"CREATE INDEX IF NOT EXISTS {LABEL}_arrival ON {LABEL}(arrival)",
)
_NO_TIME: Final[int] = 2**63 - 1
# a pending prediction: timestamp, prediction, score (NaN: none) and a 1 (numpy drops trailing NUL bytes of 'S')
_PACKED: Final = np.dtype([("t", "<i8"), ("p", "<f8"), ("s", "<f8"), ("z", "u1")])
_UNPACK: Final = struct.Struct("<qddx").unpack
_UNPACK_TS: Final = struct.Struct("<q").unpack_from
_NUMBER_KINDS: Final[str] = "fiu"
# a spilled row's state (one byte in RAM): expired, matched key, pending float prediction, other pending one
DEAD, DONE, PACKED, OTHER = 0, 1, 2, 3
_KIND: Final[dict[type, int]] = {int: DONE, bytes: PACKED, tuple: OTHER}


class JoinStoreError(StreamdriftError):
    """The join store's spill (SQLite file or segment files) cannot be opened or written."""


@dataclass(slots=True)
class JoinCounts:
    matched: int = 0
    unmatched_label: int = 0
    expired_prediction: int = 0
    expired_label: int = 0
    duplicate_label: int = 0
    duplicate_prediction: int = 0
    sampled_out_label: int = 0  # labels outside the join sample (JoinStore.sample_rate)

    def add(self, other: JoinCounts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class JoinedRows:
    """Matched (prediction, label) rows; ``timestamps_ms`` is the prediction's (window accounting)."""

    model_ids: list[str]
    inference_ids: list[str]
    timestamps_ms: NDArray[np.int64]
    y_pred: NDArray[Any]
    score: NDArray[np.float64]
    labels: NDArray[Any]

    def __len__(self) -> int:
        return len(self.model_ids)


@dataclass(frozen=True, slots=True)
class JoinResult:
    rows: JoinedRows
    counts: JoinCounts


@dataclass(slots=True)
class _Collector:
    mids: list[str] = field(default_factory=list)
    iids: list[str] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    pred: list[Any] = field(default_factory=list)
    score: list[float | None] = field(default_factory=list)
    label: list[Any] = field(default_factory=list)

    def add(self, key: str, ts: int, pred: Any, score: float | None, label: Any) -> None:
        mid, _, iid = key.partition(KEY_SEP)
        self.mids.append(mid)
        self.iids.append(iid)
        self.ts.append(ts)
        self.pred.append(pred)
        self.score.append(score)
        self.label.append(label)

    def rows(self) -> JoinedRows:
        scores = np.array([np.nan if s is None else s for s in self.score], dtype=np.float64)
        return JoinedRows(self.mids, self.iids, np.array(self.ts, dtype=np.int64), _values(self.pred), scores,
                          _values(self.label))


def _values(items: list[Any]) -> NDArray[Any]:
    if not items:
        return np.zeros(0, dtype=np.float64)
    try:
        return np.asarray(items, dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray(items, dtype=object)


def join_sample(model_ids: str | Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                rate: float) -> NDArray[np.bool_]:
    """Rows whose join key (model id -- one for all rows, or one per row -- and inference id) is in the
    deterministic join sample of ``rate`` (see :func:`_in_sample`). Rows without an inference id are never in it."""
    ids = _seq(inference_ids)
    present = np.array([i is not None for i in ids], dtype=bool)
    if rate >= 1.0:
        return present
    models = [model_ids] * len(ids) if isinstance(model_ids, str) else _seq(model_ids)
    return present & _in_sample(_keys(models, ids), rate)


def _in_sample(keys: list[str], rate: float) -> NDArray[np.bool_]:
    """Keys in the join sample of ``rate``: the same answer for a prediction and its label, in every process and on
    every replay (CRC-32 of the key, mixed by a 64-bit Fibonacci multiply, against ``rate``)."""
    crc = np.fromiter(map(zlib.crc32, map(str.encode, keys)), dtype=np.uint64, count=len(keys))
    with np.errstate(over="ignore"):
        mixed = (crc * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    return np.asarray(mixed < np.uint64(int(rate * 2**32)), dtype=bool)


def _keys(model_ids: Iterable[Any], inference_ids: Iterable[Any]) -> list[str]:
    return [f"{m}{KEY_SEP}{i}" for m, i in zip(model_ids, inference_ids, strict=True)]


def _list(values: ArrayLike | Sequence[Any] | None, n: int, name: str) -> list[Any]:
    if values is None:
        return [None] * n
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]
    if len(out) != n:
        raise BadRecordError("shape_mismatch", f"{name} has {len(out)} values, expected {n}")
    return out



def _stamps(values: ArrayLike, n: int) -> NDArray[np.int64]:
    out = np.asarray(values, dtype=np.int64).reshape(-1)
    if out.size != n:
        raise BadRecordError("shape_mismatch", f"timestamps_ms has {out.size} values, expected {n}")
    return out


def _floats(values: ArrayLike | Sequence[Any] | None, n: int, name: str, none_ok: bool) -> NDArray[np.float64] | None:
    """``values`` as float64 when every value is a number that the store returns as that float anyway (a
    float array, or a list of Python floats; ``none_ok``: None or no values at all are NaN), else None."""
    if values is None:
        return np.full(n, np.nan) if none_ok else None
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in (_NUMBER_KINDS if none_ok else "f"):
            return None
        if values.size != n:
            raise BadRecordError("shape_mismatch", f"{name} has {values.size} values, expected {n}")
        return values.astype(np.float64, copy=False)
    if isinstance(values, list) and len(values) == n:
        if all(type(v) is float for v in values):
            return np.array(values, dtype=np.float64)
        if none_ok and all(v is None or type(v) is float for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return None


def _pack(ts: NDArray[np.int64], y_pred: ArrayLike | Sequence[Any], score: ArrayLike | None,
          n: int) -> list[Any]:
    """The in-memory values of pending predictions: 25-byte ``bytes`` when prediction and score are floats,
    else tuples ``(ts, y_pred, score)``."""
    preds = _floats(y_pred, n, "y_pred", none_ok=False)
    scores = _floats(score, n, "score", none_ok=True) if preds is not None else None
    if preds is None or scores is None:
        return list(zip(ts.tolist(), _list(y_pred, n, "y_pred"), _list(score, n, "score"), strict=True))
    rec = np.empty(n, dtype=_PACKED)
    rec["t"], rec["p"], rec["s"], rec["z"] = ts, preds, scores, 1
    out: list[Any] = rec.view(f"S{_PACKED.itemsize}").tolist()
    return out


def _pending(value: Any) -> tuple[int, Any, Any]:
    """(ts, y_pred, score) of a pending prediction's value (bytes or tuple)."""
    if type(value) is bytes:
        t, p, s = _UNPACK(value)
        return t, p, s
    t, p, s = value
    return int(t), p, s


def _entry_time(value: Any) -> int:
    """The prediction timestamp of an entry: a pending prediction (bytes or tuple) or a matched key (int)."""
    if type(value) is int:
        return value
    if type(value) is bytes:
        return int(_UNPACK_TS(value)[0])
    return int(value[0])


class MemoryBudget:
    """One ``max_memory_items`` for the join stores of a process (one per partition): each open store may hold
    ``total // open stores`` entries, at least ``min(total, floor)``. A store that holds more than its share
    (another one opened) spills down to it at its next call."""

    def __init__(self, total: int, floor: int = MIN_SHARE) -> None:
        if total < 1:
            raise ConfigError(f"join store memory budget must be >= 1 (got {total})")
        self.total = total
        self.floor = min(floor, total)
        self._stores: weakref.WeakSet[JoinStore] = weakref.WeakSet()

    def share(self) -> int:
        return max(self.floor, self.total // max(1, len(self._stores)))

    @property
    def stores(self) -> int:
        return len(self._stores)

    def join(self, store: JoinStore) -> None:
        self._stores.add(store)

    def leave(self, store: JoinStore) -> None:
        self._stores.discard(store)


@dataclass(slots=True)
class _Columns:
    """Entries (pending predictions: bytes or tuples; matched keys: int; None: no entry) as columns: kind, time,
    prediction and score of the PACKED ones (NaN elsewhere), the values of the OTHER ones (None elsewhere)."""

    kinds: NDArray[np.uint8]
    t: NDArray[np.int64]
    p: NDArray[np.float64]
    s: NDArray[np.float64]
    others: list[Any] | None

    @staticmethod
    def of(values: list[Any]) -> _Columns:
        n = len(values)
        kinds = np.fromiter(map(_KIND.get, map(type, values), itertools.repeat(DEAD)), dtype=np.uint8, count=n)
        if n and bool((kinds == PACKED).all()):
            rec = np.frombuffer(b"".join(values), dtype=_PACKED)
            return _Columns(kinds, rec["t"].copy(), rec["p"].copy(), rec["s"].copy(), None)
        t = np.zeros(n, dtype=np.int64)
        p = np.full(n, np.nan)
        s = np.full(n, np.nan)
        others: list[Any] | None = None
        for kind in (DONE, PACKED, OTHER):
            rows = np.flatnonzero(kinds == kind)
            if rows.size == 0:
                continue
            group = [values[i] for i in rows.tolist()]
            if kind == DONE:
                t[rows] = group
            elif kind == PACKED:
                rec = np.frombuffer(b"".join(group), dtype=_PACKED)
                t[rows], p[rows], s[rows] = rec["t"], rec["p"], rec["s"]
            else:
                t[rows] = [v[0] for v in group]
                others = [None] * n
                for i, v in zip(rows.tolist(), group, strict=True):
                    others[i] = v
        return _Columns(kinds, t, p, s, others)

    @staticmethod
    def concat(parts: list[_Columns]) -> _Columns:
        others: list[Any] | None = None
        if any(c.others is not None for c in parts):
            others = []
            for c in parts:
                others += c.others if c.others is not None else [None] * c.kinds.size
        return _Columns(np.concatenate([c.kinds for c in parts]), np.concatenate([c.t for c in parts]),
                        np.concatenate([c.p for c in parts]), np.concatenate([c.s for c in parts]), others)


class _Spill:
    """The SQLite side, for waiting labels only: a table keyed by the join key, and the sorted hashes of the keys
    put in it (a superset of the keys held: deleted keys stay until the array is rebuilt)."""

    def __init__(self, path: str | Path | None) -> None:
        try:
            self.db = sqlite3.connect("" if path is None else str(path), isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA cache_size=-1024")
            for stmt in _SCHEMA:
                self.db.execute(stmt)
            self.count = int(self.db.execute(f"SELECT COUNT(*) FROM {LABEL}").fetchone()[0])
        except sqlite3.Error as exc:
            raise JoinStoreError(f"cannot open join store {path}: {exc}") from exc
        self.hashes = np.zeros(0, dtype=np.int64)
        self._stale = 0
        self._rehash()

    def put(self, rows: list[tuple[Any, ...]]) -> None:
        with self._tx():
            cur = self.db.executemany(f"INSERT OR IGNORE INTO {LABEL} VALUES (?, ?, ?)", rows)
        self.count += max(cur.rowcount, 0)
        added = _hashes([row[0] for row in rows])
        merged = np.concatenate([self.hashes, added])
        merged.sort(kind="stable")  # two sorted runs when the keys are in order: a merge
        self.hashes = merged

    def candidates(self, keys: list[str], hashes: NDArray[np.int64]) -> list[str]:
        """The keys that may be held (their hash was put): the others certainly are not."""
        if not keys or self.count == 0:
            return []
        return [keys[i] for i in _sorted_hits(self.hashes, hashes).tolist()]

    def fetch(self, keys: list[str]) -> dict[str, tuple[Any, int]]:
        if not keys or self.count == 0:
            return {}
        out: dict[str, tuple[Any, int]] = {}
        for chunk in _chunks(keys):
            sql = f"SELECT key, label, arrival FROM {LABEL} WHERE key IN ({', '.join('?' * len(chunk))})"
            out.update((row[0], (row[1], int(row[2]))) for row in self.db.execute(sql, chunk))
        return out

    def delete(self, keys: list[str]) -> None:
        if keys:
            with self._tx():
                cur = self.db.executemany(f"DELETE FROM {LABEL} WHERE key = ?", [(k,) for k in keys])
            self._removed(max(cur.rowcount, 0))

    def expire(self, cutoff: int) -> int:
        if self.count == 0:
            return 0
        with self._tx():
            cur = self.db.execute(f"DELETE FROM {LABEL} WHERE arrival < ?", (cutoff,))
        self._removed(cur.rowcount)
        return int(cur.rowcount)

    def _removed(self, n: int) -> None:
        self.count -= n
        self._stale += n
        if self.count == 0:
            self.hashes, self._stale = np.zeros(0, dtype=np.int64), 0
        elif self._stale > max(self.count, 4 * RUN):
            self._rehash()

    def _rehash(self) -> None:
        """The hashes of the keys held now (O(spilled keys), after as many deletions)."""
        keys = [row[0] for row in self.db.execute(f"SELECT key FROM {LABEL}")] if self.count else []
        self.hashes = np.sort(_hashes(keys))
        self._stale = 0

    def _tx(self) -> Any:
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()


def _hashes(keys: list[str]) -> NDArray[np.int64]:
    """The 64-bit hashes of keys (``KEY_HASH``: Python's, cached by each str)."""
    return np.fromiter(map(KEY_HASH, keys), dtype=np.int64, count=len(keys))


def _sorted_hits(haystack: NDArray[np.int64], needles: NDArray[np.int64]) -> NDArray[np.intp]:
    """Positions (ascending) of the needles found in the sorted ``haystack``."""
    if haystack.size == 0 or needles.size == 0:
        return np.zeros(0, dtype=np.intp)
    order = np.argsort(needles)  # sorted needles: searchsorted walks the array once, not at random
    wanted = needles[order]
    at = np.searchsorted(haystack, wanted)
    np.minimum(at, haystack.size - 1, out=at)
    return np.sort(order[haystack[at] == wanted])


_ONE: Final = np.uint64(1)
_SIX: Final = np.uint64(63)


class _Bloom:
    """A blocked Bloom filter over 64-bit hashes: a key sets 5 bits of one 64-bit word (word: the hash modulo the
    words; bits: five 6-bit fields of its upper half), so a probe is one random read per key."""

    def __init__(self, capacity: int, bits_per_key: int) -> None:
        self.capacity = max(1, capacity)
        self.words = np.zeros(max(1, -(-self.capacity * bits_per_key // 64)), dtype=np.uint64)
        self.added = 0

    def _probe(self, hashes: NDArray[np.int64]) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
        h = hashes.view(np.uint64)
        word = h % np.uint64(self.words.size)
        high = h >> np.uint64(32)
        mask = _ONE << (high & _SIX)
        for shift in (6, 12, 18, 24):
            mask |= _ONE << ((high >> np.uint64(shift)) & _SIX)
        return word, mask

    def add(self, hashes: NDArray[np.int64]) -> None:
        word, mask = self._probe(hashes)
        np.bitwise_or.at(self.words, word, mask)
        self.added += int(hashes.size)

    def maybe(self, hashes: NDArray[np.int64]) -> NDArray[np.bool_]:
        word, mask = self._probe(hashes)
        out: NDArray[np.bool_] = (self.words[word] & mask) == mask
        return out


class _Segment:
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

    def open(self) -> _SegmentView:
        with open(self.path, "rb") as f:
            return _SegmentView(self, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))


class _SegmentView:
    """A segment's columns over a memory map (unmapped when the view and its arrays are gone). File layout, n
    rows: t, p, s, hashes sorted, t sorted (int64/float64 each), key text offsets (n + 1 int64), hrow, trow
    (int32 each), the keys' UTF-8 text, a pickled list of
    the rows' values (None but for the OTHER rows; absent when there are none)."""

    def __init__(self, seg: _Segment, mm: mmap.mmap) -> None:
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

    def others(self) -> list[Any]:
        out: list[Any] = pickle.loads(self.mm[self.other_at : self.other_at + self.other_size])
        return out


@dataclass(slots=True)
class _Hit:
    """A live spilled row of a key: its segment and row, and its pending (ts, y_pred, score) or None (matched)."""

    seg: _Segment
    row: int
    value: tuple[int, Any, Any] | None


class _Segments:
    """Spilled pending predictions and matched keys (see the module docs)."""

    def __init__(self, directory: Path | None) -> None:
        if directory is None:
            self.dir = Path(tempfile.mkdtemp(prefix="streamdrift-join-"))
        else:
            shutil.rmtree(directory, ignore_errors=True)  # segments never survive a restart
            try:
                directory.mkdir(parents=True)
            except OSError as exc:
                raise JoinStoreError(f"cannot create join spill directory {directory}: {exc}") from exc
            self.dir = directory
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.segments: list[_Segment] = []
        self.live = 0
        self.pending = 0
        self._seq = itertools.count()
        self.bloom = _Bloom(BLOOM_MIN_KEYS, BLOOM_BITS_PER_KEY)

    def add(self, keys: list[str], cols: _Columns) -> None:
        """Spill entries (pending predictions and matched keys, as columns) as one segment."""
        n = len(keys)
        if n == 0:
            return
        t, p, s, kinds = cols.t, cols.p, cols.s, cols.kinds
        hashes = _hashes(keys)
        hrow = np.argsort(hashes).astype(np.int32)
        trow = np.argsort(t, kind="stable").astype(np.int32)
        text = "".join(keys).encode()
        if len(text) == sum(map(len, keys)):  # ASCII: one encode
            lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
        else:
            encoded = [k.encode() for k in keys]
            text = b"".join(encoded)
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        other = pickle.dumps(cols.others, protocol=pickle.HIGHEST_PROTOCOL) if cols.others else b""
        tsorted = t[trow]
        path = self.dir / f"{next(self._seq):08d}.seg"
        try:
            with open(path, "wb") as f:
                for column in (t, p, s, hashes[hrow], tsorted, offsets, hrow, trow):
                    f.write(np.ascontiguousarray(column).data)
                f.write(text)
                f.write(other)
        except OSError as exc:
            raise JoinStoreError(f"cannot write join spill segment {path}: {exc}") from exc
        seg = _Segment(path, n, len(text), len(other), kinds, int(tsorted[0]), int(tsorted[-1]))
        self.segments.append(seg)
        self.live += n
        self.pending += seg.pending
        if self.bloom.added + n > self.bloom.capacity:
            self._rebuild()  # the new segment's keys included
        else:
            self.bloom.add(hashes)

    def find(self, keys: list[str], hashes: NDArray[np.int64]) -> dict[str, _Hit]:
        """The live spilled rows of ``keys`` (whose ``hashes`` are given): the Bloom filter first, then the
        segments for the keys it flags, each confirmed by its text."""
        if not keys or self.live == 0:
            return {}
        flagged = np.flatnonzero(self.bloom.maybe(hashes))
        if flagged.size == 0:
            return {}
        wanted = hashes[flagged]
        order = np.argsort(wanted)
        needles = wanted[order]
        which = flagged[order].tolist()
        out: dict[str, _Hit] = {}
        for seg in self.segments:
            if seg.live:
                self._find_in(seg, keys, which, needles, out)
        return out

    def _find_in(self, seg: _Segment, keys: list[str], which: list[int], needles: NDArray[np.int64],
                 out: dict[str, _Hit]) -> None:
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
        others: list[Any] | None = None
        for i, j, row, start, end, kind, t, p, s in zip(
                found.tolist(), pos.tolist(), rows.tolist(), starts, ends, seg.state[rows].tolist(),
                view.t[rows].tolist(), view.p[rows].tolist(), view.s[rows].tolist(), strict=True):
            key = keys[which[i]]
            if mm[start:end] != key.encode():  # another key of that hash (64-bit collision): the next rows
                found_row = self._collision(view, seg, j, key)
                if found_row is None:
                    continue
                row, kind = found_row, int(seg.state[found_row])
                t, p, s = int(view.t[row]), float(view.p[row]), float(view.s[row])
            if kind == DONE:
                out[key] = _Hit(seg, row, None)
            elif kind == PACKED:
                out[key] = _Hit(seg, row, (t, p, s))
            elif kind == OTHER:
                if others is None:
                    others = view.others()
                t, y_pred, score = others[row]
                out[key] = _Hit(seg, row, (int(t), y_pred, score))

    @staticmethod
    def _collision(view: _SegmentView, seg: _Segment, j: int, key: str) -> int | None:
        """The row of ``key`` among the rows of the hash at sorted position ``j`` and after it, if any."""
        hs, encoded, needle = view.hashes, key.encode(), view.hashes[j]
        while j < seg.n and hs[j] == needle:
            row = int(view.hrow[j])
            if view.mm[view.text_at + int(view.offsets[row]) : view.text_at + int(view.offsets[row + 1])] == encoded:
                return row
            j += 1
        return None

    def match(self, hit: _Hit) -> None:
        """A label matched the pending row of ``hit``: it is a matched key now."""
        hit.seg.state[hit.row] = DONE
        hit.seg.pending -= 1
        self.pending -= 1
        hit.value = None

    def expire(self, cutoff: int) -> int:
        """End the rows of time < ``cutoff``; returns how many of them were pending predictions."""
        expired = 0
        kept: list[_Segment] = []
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
        """A Bloom filter of the live spilled keys, sized for BLOOM_SLACK times as many."""
        bloom = _Bloom(max(BLOOM_MIN_KEYS, int(self.live * BLOOM_SLACK)), BLOOM_BITS_PER_KEY)
        for seg in self.segments:
            view = seg.open()
            live = seg.state[view.hrow] != DEAD
            bloom.add(view.hashes[live])
        self.bloom = bloom

    def nbytes(self) -> int:
        """RAM: the Bloom filter, a state byte per row and ~200 bytes of objects per segment."""
        return self.bloom.words.nbytes + sum(seg.state.nbytes + 200 for seg in self.segments)

    def close(self) -> None:
        self.segments = []
        self._cleanup()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), SQL_CHUNK):
        yield keys[start : start + SQL_CHUNK]


class _Run:
    """Keys sorted by time; the ones before ``pos`` were taken (their slots are None)."""

    __slots__ = ("keys", "pos", "ts")

    def __init__(self, ts: NDArray[np.int64], keys: list[str | None]) -> None:
        self.ts = ts
        self.keys = keys
        self.pos = 0


class _TimeIndex:
    """References (key, time) of a dict's entries, taken oldest first: an open run (appended, unsorted) and
    sealed runs (sorted) in a heap by their oldest remaining time. A reference outlives its entry when the entry
    leaves the dict otherwise (a label matched); the owner checks an entry is live with that time when taking,
    and rebuilds the index when stale references outnumber the entries."""

    def __init__(self) -> None:
        self._keys: list[str | None] = []
        self._ts = array("q")
        self._min = _NO_TIME
        self._heap: list[tuple[int, int, _Run]] = []
        self._seq = itertools.count()
        self.refs = 0

    def add(self, key: str, t: int) -> None:
        self._keys.append(key)
        self._ts.append(t)
        self.refs += 1
        if t < self._min:
            self._min = t
        if len(self._keys) >= RUN:
            self._seal()

    def extend(self, keys: Iterable[str], ts: NDArray[np.int64]) -> None:
        if ts.size == 0:
            return
        self._keys.extend(keys)
        self._ts.frombytes(np.ascontiguousarray(ts, dtype=np.int64).tobytes())
        self.refs += int(ts.size)
        self._min = min(self._min, int(ts.min()))
        if len(self._keys) >= RUN:
            self._seal()

    def take(self, before: int = _NO_TIME, limit: int | None = None) -> tuple[list[str], list[int]]:
        """Remove and return the references of time < ``before`` (at most ``limit``, oldest runs first)."""
        if self._min < before:
            self._seal()
        keys: list[Any] = []
        stamps: list[int] = []
        room = self.refs if limit is None else limit
        heap = self._heap
        while heap and heap[0][0] < before and room > 0:
            run = heapq.heappop(heap)[2]
            start = run.pos
            end = int(np.searchsorted(run.ts, before, "left")) if before != _NO_TIME else int(run.ts.size)
            end = min(end, start + room)
            keys += run.keys[start:end]
            stamps += run.ts[start:end].tolist()
            run.keys[start:end] = itertools.repeat(None, end - start)
            run.pos = end
            room -= end - start
            self.refs -= end - start
            if end < run.ts.size:
                heapq.heappush(heap, (int(run.ts[end]), next(self._seq), run))
        return keys, stamps

    def rebuild(self, keys: list[str], ts: NDArray[np.int64]) -> None:
        self._keys, self._ts, self._min, self._heap, self.refs = [], array("q"), _NO_TIME, [], 0
        self.extend(keys, ts)
        self._seal()

    def nbytes(self) -> int:
        return 16 * self.refs + 64 * len(self._heap)

    def _seal(self) -> None:
        if not self._keys:
            return
        ts = np.frombuffer(self._ts, dtype=np.int64)
        keys = self._keys
        if ts.size > 1 and bool((ts[1:] < ts[:-1]).any()):
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            keys = [keys[i] for i in order.tolist()]
        heapq.heappush(self._heap, (int(ts[0]), next(self._seq), _Run(ts, keys)))
        self._keys, self._ts, self._min = [], array("q"), _NO_TIME


class JoinStore:
    """Labels ⋈ predictions by (model_id, inference_id) with a TTL and a bounded in-memory part."""

    def __init__(self, path: str | Path | None = None, max_memory_items: int = 1_000_000,
                 ttl_ms: int = 24 * 3600 * 1000, budget: MemoryBudget | None = None, sample_rate: float = 1.0) -> None:
        if max_memory_items < 1 or ttl_ms <= 0 or not 0.0 < sample_rate <= 1.0:
            raise ConfigError(f"join store needs max_memory_items >= 1, ttl_ms > 0 and 0 < sample_rate <= 1 "
                              f"(got {max_memory_items}, {ttl_ms}, {sample_rate})")
        self.sample_rate = sample_rate  # only keys in this join sample are stored or joined (see _in_sample)
        self._max_memory_items = max_memory_items
        self._budget = budget
        self.ttl_ms = ttl_ms
        # pending prediction (bytes or (ts, y_pred, score)) or matched key (int: its prediction's timestamp)
        self._entries: dict[str, Any] = {}
        self._n_done = 0  # matched keys in _entries
        self._labels: dict[str, tuple[Any, int]] = {}
        self._entry_index = _TimeIndex()  # _entries by prediction time
        self._label_index = _TimeIndex()  # _labels by arrival
        self._path = path
        self._spill: _Spill | None = None  # waiting labels
        self._segments: _Segments | None = None  # pending predictions and matched keys
        if path is not None and Path(path).exists():
            self._spill = _Spill(path)
        if budget is not None:
            budget.join(self)

    @property
    def max_memory_items(self) -> int:
        """Entries held in memory before spilling: fixed, or this store's share of its budget."""
        return self._budget.share() if self._budget is not None else self._max_memory_items

    # ---------------------------------------------------------------- public API

    def add_predictions(self, model_ids: Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                        timestamps_ms: ArrayLike, y_pred: ArrayLike | Sequence[Any],
                        score: ArrayLike | None = None) -> JoinResult:
        """Store predictions; returns the rows they complete with labels that were waiting."""
        keys = _keys(_seq(model_ids), _seq(inference_ids))
        n = len(keys)
        ts = _stamps(timestamps_ms, n)
        values = _pack(ts, y_pred, score, n)
        if self.sample_rate < 1.0:  # predictions outside the join sample never wait
            sampled = _in_sample(keys, self.sample_rate)
            keys, ts = list(itertools.compress(keys, sampled)), ts[sampled]
            values = list(itertools.compress(values, sampled))
        entries, labels, index = self._entries, self._labels, self._entry_index
        seen: set[str] = set()  # keys live in the segments: duplicates
        spilled_labels: dict[str, tuple[Any, int]] = {}
        if self._segments is not None or self._spill is not None:
            hashes = _hashes(keys)
            if self._segments is not None:
                seen = set(self._segments.find(keys, hashes))
            if self._spill is not None:
                spilled_labels = self._spill.fetch([k for k in self._spill.candidates(keys, hashes)
                                                    if k not in entries and k not in labels])
        if not spilled_labels:
            stored = self._store_predictions(keys, ts, values, seen)
            if stored is not None:
                return stored
        out, counts = _Collector(), JoinCounts()
        used: list[str] = []
        for key, t, value in zip(keys, ts.tolist(), values, strict=True):
            if key in entries or key in seen:
                counts.duplicate_prediction += 1
                continue
            waiting = labels.pop(key, None)
            if waiting is None and key in spilled_labels:
                waiting = spilled_labels.pop(key)
                used.append(key)
            index.add(key, t)
            if waiting is None:
                entries[key] = value
                continue
            _, p, s = _pending(value)
            out.add(key, t, p, s, waiting[0])
            counts.matched += 1
            entries[key] = t
            self._n_done += 1
        if used and self._spill is not None:
            self._spill.delete(used)
        self._tidy()
        return JoinResult(out.rows(), counts)

    def _store_predictions(self, keys: list[str], ts: NDArray[np.int64], values: list[Any],
                           seen: set[str]) -> JoinResult | None:
        """No label of the batch's keys is spilled: the predictions are stored in bulk, joined with the labels
        waiting in memory (set intersections, not a loop over the batch); ``seen``: keys of the batch that are
        spilled (duplicates). None (use the general path) when a key repeats in the batch, so the first
        occurrence wins there as everywhere."""
        new = dict(zip(keys, values, strict=True))
        if len(new) != len(keys):
            return None
        counts, out = JoinCounts(), _Collector()
        again = new.keys() & self._entries.keys() if self._entries else set()
        again |= seen
        for key in again:
            del new[key]
        counts.duplicate_prediction = len(again)
        hit = new.keys() & self._labels.keys() if self._labels else set()
        if hit:
            position = {k: i for i, k in enumerate(keys)}
            for key in sorted(hit, key=position.__getitem__):
                t, p, s = _pending(new[key])
                out.add(key, t, p, s, self._labels.pop(key)[0])
                new[key] = t
            counts.matched = len(hit)
            self._n_done += len(hit)
        self._entries.update(new)
        if again:
            keep = np.fromiter((k in new for k in keys), dtype=bool, count=len(keys))
            self._entry_index.extend(new.keys(), ts[keep])
        else:
            self._entry_index.extend(keys, ts)
        self._tidy()
        return JoinResult(out.rows(), counts)

    def add_labels(self, model_ids: Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                   labels: ArrayLike | Sequence[Any], now_ms: int) -> JoinResult:
        """Store labels; returns the rows joined with predictions already held, and the counts."""
        keys = _keys(_seq(model_ids), _seq(inference_ids))
        values = _list(labels, len(keys), "labels")
        n_in = len(keys)
        if self.sample_rate < 1.0:  # labels outside the join sample are counted, never stored
            sampled = _in_sample(keys, self.sample_rate)
            keys, values = list(itertools.compress(keys, sampled)), list(itertools.compress(values, sampled))
        now = int(now_ms)
        entries, waiting = self._entries, self._labels
        spilled: dict[str, _Hit] = {}
        spilled_labels: dict[str, tuple[Any, int]] = {}
        if self._segments is not None or self._spill is not None:
            misses = [k for k in keys if k not in entries and k not in waiting]
            hashes = _hashes(misses)
            if self._segments is not None:
                spilled = self._segments.find(misses, hashes)
            if self._spill is not None:
                spilled_labels = self._spill.fetch(self._spill.candidates(misses, hashes))
        out, counts = _Collector(), JoinCounts(sampled_out_label=n_in - len(keys))
        for key, label in zip(keys, values, strict=True):
            value = entries.get(key)
            if type(value) is int or key in waiting or key in spilled_labels:
                counts.duplicate_label += 1
                continue
            if value is None:
                hit = spilled.get(key)
                if hit is not None:
                    if hit.value is None:  # a spilled matched key
                        counts.duplicate_label += 1
                        continue
                    t, p, s = hit.value
                    out.add(key, t, p, s, label)
                    counts.matched += 1
                    assert self._segments is not None
                    self._segments.match(hit)  # a matched key where it is
                    continue
                waiting[key] = (label, now)
                self._label_index.add(key, now)
                counts.unmatched_label += 1
                continue
            t, p, s = _pending(value)
            out.add(key, t, p, s, label)
            counts.matched += 1
            entries[key] = t
            self._n_done += 1
        self._tidy()
        return JoinResult(out.rows(), counts)

    def expire(self, now_ms: int) -> JoinCounts:
        """Drop predictions older than ``now_ms - ttl_ms`` (by their timestamp), labels that arrived before
        it, and the remembered matched keys past their time (their prediction's). O(entries expired) through
        the time indexes and the segments' time order, plus one DELETE when labels are spilled."""
        now = int(now_ms)
        cutoff = now - self.ttl_ms
        counts = JoinCounts()
        _, cols = _pop_live(self._entries, *self._entry_index.take(cutoff))
        done = int(np.count_nonzero(cols.kinds == DONE))
        self._n_done -= done
        counts.expired_prediction = cols.kinds.size - done
        labels = self._labels
        keys, stamps = self._label_index.take(cutoff)
        for key, t in zip(keys, stamps, strict=True):
            label = labels.get(key)
            if label is not None and label[1] == t:
                del labels[key]
                counts.expired_label += 1
        if self._segments is not None:
            counts.expired_prediction += self._segments.expire(cutoff)
        if self._spill is not None:
            counts.expired_label += self._spill.expire(cutoff)
        self._tidy()
        return counts

    @property
    def pending_predictions(self) -> int:
        return len(self._entries) - self._n_done + (self._segments.pending if self._segments else 0)

    @property
    def pending_labels(self) -> int:
        return len(self._labels) + (self._spill.count if self._spill else 0)

    @property
    def memory_items(self) -> int:
        return len(self._entries) + len(self._labels)

    @property
    def spilled_items(self) -> int:
        return (self._spill.count if self._spill else 0) + (self._segments.live if self._segments else 0)

    def memory_bytes(self) -> int:
        """Estimated bytes held in memory: the dicts plus entries (size sampled on up to 64 per dict), the time
        indexes, the spilled labels' key hashes and the segments' Bloom filter and row states."""
        total = self._entry_index.nbytes() + self._label_index.nbytes()
        if self._spill is not None:
            total += self._spill.hashes.nbytes
        if self._segments is not None:
            total += self._segments.nbytes()
        for d in (self._entries, self._labels):
            total += sys.getsizeof(d)
            sample = list(itertools.islice(d.items(), 64))
            if sample:
                per = sum(sys.getsizeof(k) + _deep_size(v) for k, v in sample) / len(sample)
                total += int(per * len(d))
        return total

    def spill_bytes(self) -> int:
        """RAM held for the spilled entries: the Bloom filter, the row states, the label hashes."""
        return ((self._segments.nbytes() if self._segments is not None else 0)
                + (self._spill.hashes.nbytes if self._spill is not None else 0))

    def close(self) -> None:
        if self._budget is not None:
            self._budget.leave(self)
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self._segments is not None:
            self._segments.close()
            self._segments = None

    def __enter__(self) -> JoinStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- spill

    def _tidy(self) -> None:
        """Rebuild a time index whose stale references outnumber its dict's entries; spill past the limit."""
        if self._entry_index.refs > 2 * len(self._entries) + RUN:
            keys = list(self._entries)
            self._entry_index.rebuild(keys, np.array([_entry_time(v) for v in self._entries.values()],
                                                     dtype=np.int64))
        if self._label_index.refs > 2 * len(self._labels) + RUN:
            keys = list(self._labels)
            self._label_index.rebuild(keys, np.array([v[1] for v in self._labels.values()], dtype=np.int64))
        self._maybe_spill()

    def _maybe_spill(self) -> None:
        limit = self.max_memory_items
        if self.memory_items <= limit:
            return
        excess = self.memory_items - int(limit * SPILL_FRACTION)
        excess -= self._spill_entries(excess)
        if excess > 0:
            self._spill_labels(excess)

    def _spill_entries(self, want: int) -> int:
        """Move the oldest ``want`` entries (pending predictions and matched keys) to a new segment."""
        keys: list[str] = []
        parts: list[_Columns] = []
        while len(keys) < want and self._entry_index.refs:
            taken, cols = _pop_live(self._entries, *self._entry_index.take(limit=want - len(keys)))
            keys += taken
            parts.append(cols)
        if not keys:
            return 0
        cols = parts[0] if len(parts) == 1 else _Columns.concat(parts)
        self._n_done -= int(np.count_nonzero(cols.kinds == DONE))
        if self._segments is None:
            self._segments = _Segments(None if self._path is None else Path(f"{self._path}.segments"))
        self._segments.add(keys, cols)
        return len(keys)

    def _spill_labels(self, want: int) -> None:
        """Move the ``want`` oldest pending labels to SQLite."""
        labels = self._labels
        rows: list[tuple[Any, ...]] = []
        while len(rows) < want and self._label_index.refs:
            keys, stamps = self._label_index.take(limit=want - len(rows))
            for key, t in zip(keys, stamps, strict=True):
                label = labels.get(key)
                if label is not None and label[1] == t:
                    del labels[key]
                    rows.append((key, *label))
        if rows:
            if self._spill is None:
                self._spill = _Spill(self._path)
            self._spill.put(rows)


def _pop_live(entries: dict[str, Any], keys: list[str], stamps: list[int]) -> tuple[list[str], _Columns]:
    """Pop the entries that references (key, time) point to: live with that time (see _entry_time). In bulk
    when every reference is live (the common case); else the references are followed one by one (a key may
    have an older, stale reference besides its own)."""
    pop = entries.pop
    values = [pop(k, None) for k in keys]
    cols = _Columns.of(values)
    if cols.kinds.size == 0 or (cols.kinds.min() != DEAD and np.array_equal(cols.t, stamps)):
        return keys, cols
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            entries[key] = value
    out_keys: list[str] = []
    out_values: list[Any] = []
    for key, t in zip(keys, stamps, strict=True):
        value = pop(key, None)
        if value is None:
            continue
        kind = type(value)
        if (value if kind is int else _UNPACK_TS(value)[0] if kind is bytes else int(value[0])) != t:
            entries[key] = value  # a later entry of the key: it has its own reference
            continue
        out_keys.append(key)
        out_values.append(value)
    return out_keys, _Columns.of(out_values)


def _seq(values: Sequence[Any] | ArrayLike) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]


def _deep_size(value: Any) -> int:
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(sys.getsizeof(v) for v in value)
    return sys.getsizeof(value)
