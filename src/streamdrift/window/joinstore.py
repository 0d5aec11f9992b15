"""Join ground-truth labels to predictions by (model_id, inference_id), whichever arrives first.

Pending predictions wait ``ttl_ms`` past their own (event) timestamp for a label; pending labels wait ``ttl_ms``
past their arrival (``now_ms``) for a prediction. A matched key is remembered for ``ttl_ms`` past its
prediction's timestamp so a second label for it counts as ``duplicate_label``. A joined row carries its
prediction's timestamp: the label is accounted to the window of the prediction. The first prediction of a key
wins; a label joins at most once.

The entries held in memory live in a native table (``streamdrift._native.JoinTable``, ``native/src/
jointable.rs``): pending predictions (time, prediction and score as doubles, or the Python values when they are
not numbers), matched keys (their prediction's time) and waiting labels, keyed by ``model_id \\x1f
inference_id``, with no Python object per entry (about 160 bytes each in RSS, against about 230 in Python
dicts; ``benchmarks/bench_join.py``) and a batch of rows decided in one call (every key of the batch is made
before the table changes, so a key that cannot be made raises with nothing applied). Expiry is exact (an entry
expires iff its time < cutoff, out-of-order timestamps too): nothing to do while the cutoff is below a lower
bound of the times held (most calls); entries stored in time order leave from the front of their queue
(O(entries expired)); after out-of-order times, one scan of the table finds them and puts the queue in time order.

Memory is bounded: when more than ``max_memory_items`` entries (pending predictions + pending labels + matched
keys) are held, the first stored (in a stream in time order: the oldest) are spilled in batches
(:mod:`streamdrift.window.joinspill`: predictions and matched keys as segment files; :mod:`streamdrift.window.labelspill`:
waiting labels to SQLite; files 0600, nothing read back is unpickled, see docs/security.md). The limit is fixed per store, or a share of a
:class:`MemoryBudget` common to the stores of a process (one per partition). The spill does not survive a
restart (the worker rebuilds a fresh store from Kafka, see ``worker/joinrestore.py``).
"""

from __future__ import annotations

import itertools
import sys
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift._native import JoinTable, in_sample
from streamdrift.errors import BadRecordError, ConfigError, JoinStoreError
from streamdrift.window import joinspill
from streamdrift.window.joinspill import Columns, Hit, Keys, Segments, sorted_hits
from streamdrift.window.labelspill import LabelSpill

__all__ = ["JoinCounts", "JoinResult", "JoinStore", "JoinStoreError", "JoinedRows", "MemoryBudget", "join_sample"]

SPILL_FRACTION: Final[float] = 0.5
MIN_SHARE: Final[int] = 10_000  # a store's share of a MemoryBudget is never smaller (unless the total is)
_NUMBER_KINDS: Final[str] = "fiu"
# a row's outcome in the native table (native/src/jointable.rs)
STORED, DUPLICATE, MATCHED, SPILLED, MATCHED_OTHER = 0, 1, 2, 3, 4


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
    deterministic join sample of ``rate`` (see :func:`_sampled`). Rows without an inference id are never in it."""
    ids = _seq(inference_ids)
    present = np.array([i is not None for i in ids], dtype=bool)
    if rate >= 1.0:
        return present
    return present & _sampled(_models(model_ids, len(ids)), ids, rate)


def _sampled(models: str | list[Any], ids: list[Any], rate: float) -> NDArray[np.bool_]:
    """Rows whose join key is in the join sample of ``rate``: the same answer for a prediction and its label, in
    every process and on every replay (CRC-32 of the key's UTF-8 text, mixed by a 64-bit Fibonacci multiply,
    against ``rate``; computed natively, ``streamdrift._native.in_sample``)."""
    return np.frombuffer(in_sample(models, ids, int(rate * 2**32)), dtype=np.bool_)


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


class JoinStore:
    """Labels ⋈ predictions by (model_id, inference_id) with a TTL and a bounded in-memory part."""

    def __init__(self, path: str | Path | None = None, max_memory_items: int = 1_000_000,
                 ttl_ms: int = 24 * 3600 * 1000, budget: MemoryBudget | None = None, sample_rate: float = 1.0) -> None:
        if max_memory_items < 1 or ttl_ms <= 0 or not 0.0 < sample_rate <= 1.0:
            raise ConfigError(f"join store needs max_memory_items >= 1, ttl_ms > 0 and 0 < sample_rate <= 1 "
                              f"(got {max_memory_items}, {ttl_ms}, {sample_rate})")
        self.sample_rate = sample_rate  # only keys in this join sample are stored or joined (see _sampled)
        self._max_memory_items = max_memory_items
        self._budget = budget
        self.ttl_ms = ttl_ms
        self._table = JoinTable()  # pending predictions, matched keys and waiting labels held in memory
        self._path = path
        self._spill: LabelSpill | None = None  # waiting labels
        self._segments: Segments | None = None  # pending predictions and matched keys
        if path is not None and Path(path).exists():
            self._spill = LabelSpill(path)
        if budget is not None:
            budget.join(self)

    @property
    def max_memory_items(self) -> int:
        """Entries held in memory before spilling: fixed, or this store's share of its budget."""
        return self._budget.share() if self._budget is not None else self._max_memory_items

    # ---------------------------------------------------------------- public API

    def add_predictions(self, model_ids: str | Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                        timestamps_ms: ArrayLike, y_pred: ArrayLike | Sequence[Any],
                        score: ArrayLike | None = None) -> JoinResult:
        """Store predictions (``model_ids``: one per row, or one str for all); returns the rows they complete
        with labels that were waiting."""
        ids = _seq(inference_ids)
        models = _models(model_ids, len(ids))
        n = len(ids)
        ts = _stamps(timestamps_ms, n)
        preds = _floats(y_pred, n, "y_pred", none_ok=False)
        scores = _floats(score, n, "score", none_ok=True) if preds is not None else None
        others: list[Any] | None = None
        if preds is None or scores is None:  # not all numbers: the store keeps the (ts, y_pred, score) tuples
            others = list(zip(ts.tolist(), _list(y_pred, n, "y_pred"), _list(score, n, "score"), strict=True))
            preds = scores = np.full(n, np.nan)
        if self.sample_rate < 1.0:  # predictions outside the join sample never wait
            keep = _sampled(models, ids, self.sample_rate)
            ids, ts, preds, scores = list(itertools.compress(ids, keep)), ts[keep], preds[keep], scores[keep]
            models = models if isinstance(models, str) else list(itertools.compress(models, keep))
            others = None if others is None else list(itertools.compress(others, keep))
        spilled, hashes = self._spilled_predictions(models, ids)
        status, labels = self._table.add_predictions(models, ids, ts.tobytes(), preds.tobytes(), scores.tobytes(),
                                                     others, spilled, hashes)
        outcome = np.frombuffer(status, dtype=np.uint8)
        counts = JoinCounts(duplicate_prediction=int(np.count_nonzero(outcome == DUPLICATE)))
        rows = _no_rows()
        matched = np.flatnonzero(outcome == MATCHED)
        if matched.size:
            counts.matched = int(matched.size)
            at = matched.tolist()
            if others is None:
                y, s = preds[matched], scores[matched]
            else:
                y, s = _values([others[i][1] for i in at]), _scores([others[i][2] for i in at])
            rows = JoinedRows(_texts(models, at), [str(ids[i]) for i in at], ts[matched], y, s, _values(labels))
        self._maybe_spill()
        return JoinResult(rows, counts)

    def add_labels(self, model_ids: str | Sequence[Any] | ArrayLike, inference_ids: Sequence[Any] | ArrayLike,
                   labels: ArrayLike | Sequence[Any], now_ms: int) -> JoinResult:
        """Store labels; returns the rows joined with predictions already held, and the counts."""
        ids = _seq(inference_ids)
        models = _models(model_ids, len(ids))
        values = _list(labels, len(ids), "labels")
        n_in = len(ids)
        if self.sample_rate < 1.0:  # labels outside the join sample are counted, never stored
            keep = _sampled(models, ids, self.sample_rate)
            ids, values = list(itertools.compress(ids, keep)), list(itertools.compress(values, keep))
            models = models if isinstance(models, str) else list(itertools.compress(models, keep))
        flags, hits = self._spilled_labels(models, ids)
        status, t_raw, p_raw, s_raw, objects = self._table.add_labels(models, ids, values, int(now_ms), flags)
        outcome = np.frombuffer(status, dtype=np.uint8)
        counts = JoinCounts(sampled_out_label=n_in - len(ids),
                            duplicate_label=int(np.count_nonzero(outcome == DUPLICATE)),
                            unmatched_label=int(np.count_nonzero(outcome == STORED)))
        matched = np.flatnonzero(outcome >= MATCHED)
        if matched.size == 0:
            self._maybe_spill()
            return JoinResult(_no_rows(), counts)
        counts.matched = int(matched.size)
        at = matched.tolist()
        t = np.frombuffer(t_raw, dtype=np.int64)[matched]
        p, s = np.frombuffer(p_raw)[matched], np.frombuffer(s_raw)[matched]
        y: NDArray[Any] = p
        if not bool((outcome[matched] == MATCHED).all()):  # rows matched in the spill or of other values
            t, y, s = self._other_matches(at, outcome, t, p.tolist(), s.tolist(), iter(objects), hits)
        rows = JoinedRows(_texts(models, at), [str(ids[i]) for i in at], t, y, s, _values([values[i] for i in at]))
        self._maybe_spill()
        return JoinResult(rows, counts)

    def expire(self, now_ms: int) -> JoinCounts:
        """Drop predictions older than ``now_ms - ttl_ms`` (by their timestamp), labels that arrived before
        it, and the remembered matched keys past their time (their prediction's): the table's time order (see the
        module docs), the segments' (O(rows expired)), one DELETE when labels are spilled."""
        cutoff = int(now_ms) - self.ttl_ms
        pending, _, labels = self._table.expire(cutoff)
        counts = JoinCounts(expired_prediction=pending, expired_label=labels)
        if self._segments is not None:
            counts.expired_prediction += self._segments.expire(cutoff)
        if self._spill is not None:
            counts.expired_label += self._spill.expire(cutoff)
        self._maybe_spill()
        return counts

    @property
    def pending_predictions(self) -> int:
        table = self._table
        return table.entries - table.done + (self._segments.pending if self._segments else 0)

    @property
    def pending_labels(self) -> int:
        return self._table.labels + (self._spill.count if self._spill else 0)

    @property
    def memory_items(self) -> int:
        return self._table.entries + self._table.labels

    @property
    def spilled_items(self) -> int:
        return (self._spill.count if self._spill else 0) + (self._segments.live if self._segments else 0)

    def memory_bytes(self) -> int:
        """Estimated bytes held in memory: the native table's, the spilled labels' key hashes and the segments'
        Bloom filter and row states."""
        return sys.getsizeof(self) + self._table.nbytes() + self.spill_bytes()

    def spill_bytes(self) -> int:
        """RAM held for the spilled entries: the Bloom filter, the row states, the label hashes."""
        return ((self._segments.nbytes() if self._segments is not None else 0)
                + (self._spill.hashes.nbytes if self._spill is not None else 0))

    def close(self) -> None:
        if self._budget is not None:
            self._budget.leave(self)
        self._table = JoinTable()
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

    # ---------------------------------------------------------------- spilled keys of a batch

    def _spilled_predictions(self, models: str | list[Any], ids: list[Any]) -> tuple[bytes | None, bytes | None]:
        """Flags of the rows whose key is spilled as a prediction or matched key (duplicates), and the keys'
        hashes when they are the table's own (so it need not hash them again); waiting labels of the batch's
        keys that were spilled come back into the table (where the predictions join them)."""
        if self._segments is None and self._spill is None:
            return None, None
        keys = Keys(models, ids)
        hashes = keys.hashes()
        flags: NDArray[np.uint8] | None = None
        if self._segments is not None:
            hits = self._segments.find(keys, hashes)
            if hits:
                flags = np.zeros(len(keys), dtype=np.uint8)
                flags[list(hits)] = 1
        if self._spill is not None:
            fetched = self._spill.fetch(self._spill.candidates(keys, hashes))
            if fetched:
                self._spill.delete(self._table.put_labels([(key, label, arrival)
                                                           for key, (label, arrival) in fetched.items()]))
        native = None if joinspill.KEY_HASH is not None else hashes.tobytes()  # the test hook's hashes are not the table's
        return None if flags is None else flags.tobytes(), native

    def _spilled_labels(self, models: str | list[Any], ids: list[Any]) -> tuple[bytes | None, dict[int, Hit]]:
        """For labels whose key is not in the table: flags 1 (a spilled matched key or waiting label: a
        duplicate) and 2 (a spilled pending prediction, at its first row in the batch: the hit, by row)."""
        if self._segments is None and self._spill is None:
            return None, {}
        missing = np.flatnonzero(np.frombuffer(self._table.contains(models, ids), dtype=np.uint8) == 0)
        if missing.size == 0:
            return None, {}
        at = missing.tolist()
        keys = Keys(models if isinstance(models, str) else [models[i] for i in at], [ids[i] for i in at])
        hashes = keys.hashes()
        flags = np.zeros(len(ids), dtype=np.uint8)
        hits: dict[int, Hit] = {}
        if self._segments is not None:
            first: set[tuple[int, int]] = set()  # spilled rows matched by an earlier label of the batch
            found = self._segments.find(keys, hashes)
            dup: list[int] = []
            for j in sorted(found):
                hit = found[j]
                row = (id(hit.seg), hit.row)
                if hit.value is None or row in first:
                    dup.append(at[j])
                else:
                    first.add(row)
                    hits[at[j]] = hit
            flags[dup] = 1
            flags[list(hits)] = 2
        if self._spill is not None and self._spill.count:
            candidates = sorted_hits(self._spill.hashes, hashes).tolist()
            held = self._spill.fetch([keys[j] for j in candidates])
            for j in candidates:
                if keys[j] in held:
                    flags[at[j]] = 1
        return (flags.tobytes() if flags.any() else None), hits

    def _other_matches(self, at: list[int], outcome: NDArray[np.uint8], t: NDArray[np.int64], p: list[Any],
                       s: list[Any], objects: Iterable[Any], hits: dict[int, Hit],
                       ) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.float64]]:
        """(time, prediction, score) of matched label rows where some matched a prediction of other values
        (its tuple, from ``objects`` in row order) or a spilled one (its ``hits``, matched in place now)."""
        times = t.tolist()
        others = iter(objects)
        matched: list[Hit] = []
        for k, (i, code) in enumerate(zip(at, outcome[at].tolist(), strict=True)):
            if code == MATCHED_OTHER:
                ts, p[k], s[k] = next(others)
                times[k] = int(ts)
            elif code == SPILLED:
                hit = hits[i]
                assert hit.value is not None
                times[k], p[k], s[k] = hit.value
                matched.append(hit)
        if matched:
            assert self._segments is not None
            self._segments.match(matched)  # matched keys where they are
        return np.array(times, dtype=np.int64), _values(p), _scores(s)

    # ---------------------------------------------------------------- spill

    def _maybe_spill(self) -> None:
        limit = self.max_memory_items
        if self.memory_items <= limit:
            return
        excess = self.memory_items - int(limit * SPILL_FRACTION)
        excess -= self._spill_entries(excess)
        if excess > 0:
            self._spill_labels(excess)

    def _spill_entries(self, want: int) -> int:
        """Move the ``want`` first stored entries (pending predictions and matched keys) to a new segment."""
        text, offsets, hashes, kinds, t, p, s, others = self._table.take_entries(want)
        cols = Columns(np.frombuffer(kinds, dtype=np.uint8), np.frombuffer(t, dtype=np.int64), np.frombuffer(p),
                       np.frombuffer(s), others)
        if cols.kinds.size == 0:
            return 0
        if self._segments is None:
            self._segments = Segments(None if self._path is None else Path(f"{self._path}.segments"))
        self._segments.add(text, np.frombuffer(offsets, dtype=np.int64), cols, np.frombuffer(hashes, dtype=np.int64))
        return int(cols.kinds.size)

    def _spill_labels(self, want: int) -> None:
        """Move the ``want`` first stored pending labels to SQLite."""
        rows = self._table.take_labels(want)
        if rows:
            if self._spill is None:
                self._spill = LabelSpill(self._path)
            self._spill.put(rows)


def _no_rows() -> JoinedRows:
    return JoinedRows([], [], np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0))


def _models(model_ids: str | Sequence[Any] | ArrayLike, n: int) -> str | list[Any]:
    if isinstance(model_ids, str):
        return model_ids
    models = _seq(model_ids)
    if len(models) != n:
        raise BadRecordError("shape_mismatch", f"model_ids has {len(models)} values, expected {n}")
    return models


def _texts(models: str | list[Any], at: list[int]) -> list[str]:
    return [models] * len(at) if isinstance(models, str) else [str(models[i]) for i in at]


def _scores(values: list[Any]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _seq(values: Sequence[Any] | ArrayLike) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]
