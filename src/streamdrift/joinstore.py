"""Join ground-truth labels to predictions by (model_id, inference_id), whichever arrives first.

Pending predictions wait ``ttl_ms`` past their own (event) timestamp for a label; pending labels wait ``ttl_ms``
past their arrival (``now_ms``) for a prediction. A matched key is remembered for ``ttl_ms`` past its
prediction's timestamp so a second label for it counts as ``duplicate_label``. A joined row carries its
prediction's timestamp: the label is accounted to the window of the prediction.

Memory is bounded: when more than ``max_memory_items`` entries (pending predictions + pending labels + matched
keys) are held, the oldest are spilled in batches to SQLite (stdlib sqlite3, WAL, ``executemany``) at ``path``,
or to a private temporary on-disk database when ``path`` is None. Lookups go to memory first and to SQLite in
one batched query per call for the keys missed in memory.

The join itself is keyed on strings, so it is a dict per batch item (about 1M operations/s), not numpy.
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
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


class _Spill:
    """The SQLite side: three tables keyed by the join key."""

    def __init__(self, path: str | Path | None) -> None:
        try:
            self.db = sqlite3.connect("" if path is None else str(path), isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA cache_size=-16384")
            for stmt in _SCHEMA:
                self.db.execute(stmt)
            self.counts = {t: int(self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                           for t in (PRED, LABEL, DONE)}
        except sqlite3.Error as exc:
            raise JoinStoreError(f"cannot open join store {path}: {exc}") from exc

    def put(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(rows[0]))
        with self._tx():
            cur = self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
        self.counts[table] += max(cur.rowcount, 0)

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
            self.counts[table] -= max(cur.rowcount, 0)

    def expire(self, table: str, cutoff: int) -> int:
        if self.counts[table] == 0:
            return 0
        with self._tx():
            cur = self.db.execute(f"DELETE FROM {table} WHERE {_TIME_COLUMN[table]} < ?", (cutoff,))
        self.counts[table] -= cur.rowcount
        return int(cur.rowcount)

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


class JoinStore:
    """Labels ⋈ predictions by (model_id, inference_id) with a TTL and a bounded in-memory part."""

    def __init__(self, path: str | Path | None = None, max_memory_items: int = 1_000_000,
                 ttl_ms: int = 24 * 3600 * 1000) -> None:
        if max_memory_items < 1 or ttl_ms <= 0:
            raise ConfigError(f"join store needs max_memory_items >= 1 and ttl_ms > 0 "
                              f"(got {max_memory_items}, {ttl_ms})")
        self.max_memory_items = max_memory_items
        self.ttl_ms = ttl_ms
        self._preds: dict[str, tuple[int, Any, float | None]] = {}
        self._labels: dict[str, tuple[Any, int]] = {}
        self._done: dict[str, int] = {}
        self._path = path
        self._spill: _Spill | None = None
        if path is not None and Path(path).exists():
            self._spill = _Spill(path)

    # ---------------------------------------------------------------- public API

    def add_predictions(self, model_ids: Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                        timestamps_ms: ArrayLike, y_pred: ArrayLike | Sequence[Any],
                        score: ArrayLike | None = None) -> JoinResult:
        """Store predictions; returns the rows they complete with labels that were waiting."""
        keys = _keys(_seq(model_ids), _seq(inference_ids))
        n = len(keys)
        ts, preds, scores = _list(timestamps_ms, n, "timestamps_ms"), _list(y_pred, n, "y_pred"), \
            _list(score, n, "score")
        if not self._labels and self._spill is None:
            stored = self._store_predictions(keys, ts, preds, scores)
            if stored is not None:
                return stored
        misses = [k for k in keys if k not in self._preds and k not in self._labels and k not in self._done]
        spilled_labels = self._fetch(LABEL, misses)
        spilled_seen = {**self._fetch(PRED, misses), **self._fetch(DONE, misses)}
        out, counts = _Collector(), JoinCounts()
        used: list[str] = []
        for key, t, p, s in zip(keys, ts, preds, scores, strict=True):
            t = int(t)
            if key in self._preds or key in self._done or key in spilled_seen:
                counts.duplicate_prediction += 1
                continue
            waiting = self._labels.pop(key, None)
            if waiting is None and key in spilled_labels:
                waiting = spilled_labels.pop(key)
                used.append(key)
            if waiting is None:
                self._preds[key] = (t, p, s)
                continue
            out.add(key, t, p, s, waiting[0])
            counts.matched += 1
            self._done[key] = t + self.ttl_ms
        self._delete(LABEL, used)
        self._maybe_spill()
        return JoinResult(out.rows(), counts)

    def _store_predictions(self, keys: list[str], ts: list[Any], preds: list[Any],
                           scores: list[Any]) -> JoinResult | None:
        """No label is waiting and nothing is spilled: the predictions are only stored (the common case of a
        capture stream ahead of its labels), in bulk. None (use the general path) when a key repeats in the
        batch, so the first occurrence wins there as everywhere."""
        stamps = np.asarray(ts, dtype=np.int64).tolist()
        new = dict(zip(keys, zip(stamps, preds, scores, strict=True), strict=True))
        if len(new) != len(keys):
            return None
        counts = JoinCounts()
        for seen in (self._preds, self._done):
            if seen:
                again = new.keys() & seen.keys()
                counts.duplicate_prediction += len(again)
                for key in again:
                    del new[key]
        self._preds.update(new)
        self._maybe_spill()
        return JoinResult(_Collector().rows(), counts)

    def add_labels(self, model_ids: Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                   labels: ArrayLike | Sequence[Any], now_ms: int) -> JoinResult:
        """Store labels; returns the rows joined with predictions already held, and the counts."""
        keys = _keys(_seq(model_ids), _seq(inference_ids))
        values = _list(labels, len(keys), "labels")
        misses = [k for k in keys if k not in self._preds and k not in self._labels and k not in self._done]
        spilled_preds = self._fetch(PRED, misses)
        spilled_seen = {**self._fetch(LABEL, misses), **self._fetch(DONE, misses)}
        out, counts = _Collector(), JoinCounts()
        used: list[str] = []
        for key, label in zip(keys, values, strict=True):
            if key in self._done or key in self._labels or key in spilled_seen:
                counts.duplicate_label += 1
                continue
            pred = self._preds.pop(key, None)
            if pred is None and key in spilled_preds:
                pred = spilled_preds.pop(key)
                used.append(key)
            if pred is None:
                self._labels[key] = (label, int(now_ms))
                counts.unmatched_label += 1
                continue
            ts, p, s = pred
            out.add(key, int(ts), p, s, label)
            counts.matched += 1
            self._done[key] = int(ts) + self.ttl_ms
        self._delete(PRED, used)
        self._maybe_spill()
        return JoinResult(out.rows(), counts)

    def expire(self, now_ms: int) -> JoinCounts:
        """Drop predictions older than ``now_ms - ttl_ms`` (by their timestamp), labels that arrived before
        it, and the remembered matched keys past their time. O(entries in memory) plus one DELETE a table."""
        cutoff = int(now_ms) - self.ttl_ms
        counts = JoinCounts()
        old_preds = [k for k, v in self._preds.items() if v[0] < cutoff]
        old_labels = [k for k, v in self._labels.items() if v[1] < cutoff]
        old_done = [k for k, v in self._done.items() if v < int(now_ms)]
        for k in old_preds:
            del self._preds[k]
        for k in old_labels:
            del self._labels[k]
        for k in old_done:
            del self._done[k]
        counts.expired_prediction = len(old_preds)
        counts.expired_label = len(old_labels)
        if self._spill is not None:
            counts.expired_prediction += self._spill.expire(PRED, cutoff)
            counts.expired_label += self._spill.expire(LABEL, cutoff)
            self._spill.expire(DONE, int(now_ms))
        return counts

    @property
    def pending_predictions(self) -> int:
        return len(self._preds) + (self._spill.counts[PRED] if self._spill else 0)

    @property
    def pending_labels(self) -> int:
        return len(self._labels) + (self._spill.counts[LABEL] if self._spill else 0)

    @property
    def memory_items(self) -> int:
        return len(self._preds) + len(self._labels) + len(self._done)

    @property
    def spilled_items(self) -> int:
        return sum(self._spill.counts.values()) if self._spill else 0

    def memory_bytes(self) -> int:
        """Estimated bytes held in memory: the dicts plus entries (size sampled on up to 64 per dict)."""
        total = 0
        for d in (self._preds, self._labels, self._done):
            total += sys.getsizeof(d)
            sample = list(itertools.islice(d.items(), 64))
            if sample:
                per = sum(sys.getsizeof(k) + _deep_size(v) for k, v in sample) / len(sample)
                total += int(per * len(d))
        return total

    def close(self) -> None:
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

    def _maybe_spill(self) -> None:
        if self.memory_items <= self.max_memory_items:
            return
        if self._spill is None:
            self._spill = _Spill(self._path)
        target = int(self.max_memory_items * SPILL_FRACTION)
        excess = self.memory_items - target
        for table, d in ((DONE, self._done), (PRED, self._preds), (LABEL, self._labels)):
            if excess <= 0:
                break
            take = min(excess, len(d))
            if take == 0:
                continue
            keys = list(itertools.islice(d, take))
            rows = [(k, *_row(d.pop(k))) for k in keys]
            self._spill.put(table, rows)
            excess -= take


def _row(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _seq(values: Sequence[Any] | ArrayLike) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]


def _deep_size(value: Any) -> int:
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(sys.getsizeof(v) for v in value)
    return sys.getsizeof(value)
