"""Join ground-truth labels to predictions by (model_id, inference_id), whichever arrives first.

Pending predictions wait ``ttl_ms`` past their own (event) timestamp for a label; pending labels wait ``ttl_ms``
past their arrival (``now_ms``) for a prediction. A matched key is remembered for ``ttl_ms`` past its
prediction's timestamp so a second label for it counts as ``duplicate_label``. A joined row carries its
prediction's timestamp: the label is accounted to the window of the prediction.

Memory is bounded: when more than ``max_memory_items`` entries (pending predictions + pending labels + matched
keys) are held, the oldest (by time) are spilled in batches to SQLite (stdlib sqlite3, WAL, ``executemany``) at
``path``, or to a private temporary on-disk database when ``path`` is None. The limit is fixed per store, or a
share of a :class:`MemoryBudget` common to the stores of a process (one per partition). The spill keeps a sorted
numpy array of the 64-bit ``hash()`` of its keys: a batch goes to SQLite (one batched query per table) only for
the keys that array flags, so new keys cost no query while a spill exists.

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
import sqlite3
import struct
import sys
import weakref
from array import array
from collections.abc import Iterable, Iterator, Sequence
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
PRED, LABEL, DONE = "preds", "labels", "done"
_SCHEMA: Final[tuple[str, ...]] = (
    f"CREATE TABLE IF NOT EXISTS {PRED} (key TEXT PRIMARY KEY, ts INTEGER, y_pred, score REAL) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {LABEL} (key TEXT PRIMARY KEY, label, arrival INTEGER) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {DONE} (key TEXT PRIMARY KEY, expire_at INTEGER) WITHOUT ROWID",
    f"CREATE INDEX IF NOT EXISTS {PRED}_ts ON {PRED}(ts)",
    f"CREATE INDEX IF NOT EXISTS {LABEL}_arrival ON {LABEL}(arrival)",
    f"CREATE INDEX IF NOT EXISTS {DONE}_expire ON {DONE}(expire_at)",
)
_COLUMNS: Final[dict[str, str]] = {PRED: "key, ts, y_pred, score", LABEL: "key, label, arrival",
                                   DONE: "key, expire_at"}
_TIME_COLUMN: Final[dict[str, str]] = {PRED: "ts", LABEL: "arrival", DONE: "expire_at"}
_NO_TIME: Final[int] = 2**63 - 1
# a pending prediction: timestamp, prediction, score (NaN: none) and a 1 (numpy drops trailing NUL bytes of 'S')
_PACKED: Final = np.dtype([("t", "<i8"), ("p", "<f8"), ("s", "<f8"), ("z", "u1")])
_UNPACK: Final = struct.Struct("<qddx").unpack
_UNPACK_TS: Final = struct.Struct("<q").unpack_from
_NUMBER_KINDS: Final[str] = "fiu"


class JoinStoreError(StreamdriftError):
    """The join store's SQLite spill file cannot be opened or written."""


@dataclass(slots=True)
class JoinCounts:
    matched: int = 0
    unmatched_label: int = 0
    expired_prediction: int = 0
    expired_label: int = 0
    duplicate_label: int = 0
    duplicate_prediction: int = 0

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


class _Spill:
    """The SQLite side: three tables keyed by the join key, and the sorted hashes of the keys put in them
    (a superset of the keys held: deleted keys stay until the array is rebuilt)."""

    def __init__(self, path: str | Path | None) -> None:
        try:
            self.db = sqlite3.connect("" if path is None else str(path), isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA cache_size=-4096")
            for stmt in _SCHEMA:
                self.db.execute(stmt)
            self.counts = {t: int(self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                           for t in (PRED, LABEL, DONE)}
        except sqlite3.Error as exc:
            raise JoinStoreError(f"cannot open join store {path}: {exc}") from exc
        self.hashes = np.zeros(0, dtype=np.int64)
        self._stale = 0
        self._rehash()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def put(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(rows[0]))
        with self._tx():
            cur = self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
        self.counts[table] += max(cur.rowcount, 0)
        added = np.array([hash(row[0]) for row in rows], dtype=np.int64)
        merged = np.concatenate([self.hashes, added])
        merged.sort(kind="stable")  # two sorted runs when the keys are in order: a merge
        self.hashes = merged

    def candidates(self, keys: list[str]) -> list[str]:
        """The keys that may be in a table (their hash was put): the others certainly are not."""
        if not keys or self.total == 0:
            return []
        hashes = self.hashes
        wanted = np.array([hash(k) for k in keys], dtype=np.int64)
        order = np.argsort(wanted)  # sorted needles: searchsorted walks the array once, not at random
        needles = wanted[order]
        at = np.searchsorted(hashes, needles)
        np.minimum(at, hashes.size - 1, out=at)
        hits = np.sort(order[hashes[at] == needles])
        return [keys[i] for i in hits.tolist()]

    def fetch(self, table: str, keys: list[str]) -> dict[str, tuple[Any, ...]]:
        if not keys or self.counts[table] == 0:
            return {}
        out: dict[str, tuple[Any, ...]] = {}
        for chunk in _chunks(keys):
            sql = f"SELECT {_COLUMNS[table]} FROM {table} WHERE key IN ({', '.join('?' * len(chunk))})"
            out.update((row[0], tuple(row[1:])) for row in self.db.execute(sql, chunk))
        return out

    def delete(self, table: str, keys: list[str]) -> None:
        if keys:
            with self._tx():
                cur = self.db.executemany(f"DELETE FROM {table} WHERE key = ?", [(k,) for k in keys])
            self._removed(table, max(cur.rowcount, 0))

    def expire(self, table: str, cutoff: int) -> int:
        if self.counts[table] == 0:
            return 0
        with self._tx():
            cur = self.db.execute(f"DELETE FROM {table} WHERE {_TIME_COLUMN[table]} < ?", (cutoff,))
        self._removed(table, cur.rowcount)
        return int(cur.rowcount)

    def _removed(self, table: str, n: int) -> None:
        self.counts[table] -= n
        self._stale += n
        if self.total == 0:
            self.hashes, self._stale = np.zeros(0, dtype=np.int64), 0
        elif self._stale > max(self.total, 4 * RUN):
            self._rehash()

    def _rehash(self) -> None:
        """The hashes of the keys held now (O(spilled keys), after as many deletions)."""
        hashes = [hash(row[0]) for t in (PRED, LABEL, DONE) if self.counts[t]
                  for row in self.db.execute(f"SELECT key FROM {t}")]
        self.hashes = np.sort(np.array(hashes, dtype=np.int64))
        self._stale = 0

    def _tx(self) -> Any:
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()


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
                 ttl_ms: int = 24 * 3600 * 1000, budget: MemoryBudget | None = None) -> None:
        if max_memory_items < 1 or ttl_ms <= 0:
            raise ConfigError(f"join store needs max_memory_items >= 1 and ttl_ms > 0 "
                              f"(got {max_memory_items}, {ttl_ms})")
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
        self._spill: _Spill | None = None
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
        spilled = self._spill.candidates(keys) if self._spill is not None else []
        if not spilled:
            stored = self._store_predictions(keys, ts, values)
            if stored is not None:
                return stored
        entries, labels, index = self._entries, self._labels, self._entry_index
        misses = [k for k in spilled if k not in entries and k not in labels]
        spilled_labels = self._fetch(LABEL, misses)
        spilled_seen = {**self._fetch(PRED, misses), **self._fetch(DONE, misses)}
        out, counts = _Collector(), JoinCounts()
        used: list[str] = []
        for key, t, value in zip(keys, ts.tolist(), values, strict=True):
            if key in entries or key in spilled_seen:
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
        self._delete(LABEL, used)
        self._tidy()
        return JoinResult(out.rows(), counts)

    def _store_predictions(self, keys: list[str], ts: NDArray[np.int64], values: list[Any]) -> JoinResult | None:
        """No key of the batch is spilled: the predictions are stored in bulk, joined with the labels waiting
        in memory (set intersections, not a loop over the batch). None (use the general path) when a key
        repeats in the batch, so the first occurrence wins there as everywhere."""
        new = dict(zip(keys, values, strict=True))
        if len(new) != len(keys):
            return None
        counts, out = JoinCounts(), _Collector()
        again = new.keys() & self._entries.keys() if self._entries else set()
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
        now = int(now_ms)
        entries, waiting = self._entries, self._labels
        spilled = self._spill.candidates(keys) if self._spill is not None else []
        misses = [k for k in spilled if k not in entries and k not in waiting]
        spilled_preds = self._fetch(PRED, misses)
        spilled_seen = {**self._fetch(LABEL, misses), **self._fetch(DONE, misses)}
        out, counts = _Collector(), JoinCounts()
        used: list[str] = []
        for key, label in zip(keys, values, strict=True):
            value = entries.get(key)
            if type(value) is int or key in waiting or key in spilled_seen:
                counts.duplicate_label += 1
                continue
            if value is None and key in spilled_preds:
                value = spilled_preds.pop(key)
                used.append(key)
                self._entry_index.add(key, int(value[0]))
            if value is None:
                waiting[key] = (label, now)
                self._label_index.add(key, now)
                counts.unmatched_label += 1
                continue
            t, p, s = _pending(value)
            out.add(key, t, p, s, label)
            counts.matched += 1
            entries[key] = t
            self._n_done += 1
        self._delete(PRED, used)
        self._tidy()
        return JoinResult(out.rows(), counts)

    def expire(self, now_ms: int) -> JoinCounts:
        """Drop predictions older than ``now_ms - ttl_ms`` (by their timestamp), labels that arrived before
        it, and the remembered matched keys past their time (their prediction's). O(entries expired) through
        the time indexes, plus one DELETE a table when something is spilled."""
        now = int(now_ms)
        cutoff = now - self.ttl_ms
        counts = JoinCounts()
        _, values = _pop_live(self._entries, *self._entry_index.take(cutoff))
        done = sum(1 for v in values if type(v) is int)
        self._n_done -= done
        counts.expired_prediction = len(values) - done
        labels = self._labels
        keys, stamps = self._label_index.take(cutoff)
        for key, t in zip(keys, stamps, strict=True):
            label = labels.get(key)
            if label is not None and label[1] == t:
                del labels[key]
                counts.expired_label += 1
        if self._spill is not None:
            counts.expired_prediction += self._spill.expire(PRED, cutoff)
            counts.expired_label += self._spill.expire(LABEL, cutoff)
            self._spill.expire(DONE, now)
        self._tidy()
        return counts

    @property
    def pending_predictions(self) -> int:
        return len(self._entries) - self._n_done + (self._spill.counts[PRED] if self._spill else 0)

    @property
    def pending_labels(self) -> int:
        return len(self._labels) + (self._spill.counts[LABEL] if self._spill else 0)

    @property
    def memory_items(self) -> int:
        return len(self._entries) + len(self._labels)

    @property
    def spilled_items(self) -> int:
        return self._spill.total if self._spill else 0

    def memory_bytes(self) -> int:
        """Estimated bytes held in memory: the dicts plus entries (size sampled on up to 64 per dict), the time
        indexes and the spill's key hashes."""
        total = self._entry_index.nbytes() + self._label_index.nbytes()
        if self._spill is not None:
            total += self._spill.hashes.nbytes
        for d in (self._entries, self._labels):
            total += sys.getsizeof(d)
            sample = list(itertools.islice(d.items(), 64))
            if sample:
                per = sum(sys.getsizeof(k) + _deep_size(v) for k, v in sample) / len(sample)
                total += int(per * len(d))
        return total

    def close(self) -> None:
        if self._budget is not None:
            self._budget.leave(self)
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def __enter__(self) -> JoinStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- spill

    def _fetch(self, table: str, keys: list[str]) -> dict[str, tuple[Any, ...]]:
        return self._spill.fetch(table, keys) if self._spill is not None else {}

    def _delete(self, table: str, keys: list[str]) -> None:
        if self._spill is not None and keys:
            self._spill.delete(table, keys)

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
        if self._spill is None:
            self._spill = _Spill(self._path)
        excess = self.memory_items - int(limit * SPILL_FRACTION)
        excess -= self._spill_entries(self._spill, excess)
        if excess > 0:
            self._spill_labels(self._spill, excess)

    def _spill_entries(self, spill: _Spill, want: int) -> int:
        """Move the oldest ``want`` entries (pending predictions and matched keys) to SQLite."""
        moved = 0
        packed_keys: list[str] = []
        packed: list[bytes] = []
        preds: list[tuple[Any, ...]] = []
        done: list[tuple[Any, ...]] = []
        while moved < want and self._entry_index.refs:
            keys, values = _pop_live(self._entries, *self._entry_index.take(limit=want - moved))
            moved += len(keys)
            for key, value in zip(keys, values, strict=True):
                kind = type(value)
                if kind is bytes:
                    packed_keys.append(key)
                    packed.append(value)
                elif kind is int:
                    done.append((key, value + self.ttl_ms))
                else:
                    preds.append((key, *value))
        if packed:
            rec = np.frombuffer(b"".join(packed), dtype=_PACKED)
            preds += zip(packed_keys, rec["t"].tolist(), rec["p"].tolist(), rec["s"].tolist(), strict=True)
        self._n_done -= len(done)
        if done:
            spill.put(DONE, done)
        if preds:
            spill.put(PRED, preds)
        return moved

    def _spill_labels(self, spill: _Spill, want: int) -> None:
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
            spill.put(LABEL, rows)


def _pop_live(entries: dict[str, Any], keys: list[str], stamps: list[int]) -> tuple[list[str], list[Any]]:
    """Pop the entries that references (key, time) point to: live with that time (see _entry_time)."""
    out_keys: list[str] = []
    out_values: list[Any] = []
    pop = entries.pop
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
    return out_keys, out_values


def _seq(values: Sequence[Any] | ArrayLike) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]


def _deep_size(value: Any) -> int:
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(sys.getsizeof(v) for v in value)
    return sys.getsizeof(value)
