"""Bytes on the capture / labels topics -> per-model batches of columns, and back (for the capture SDK).

A capture message is either ONE JSON capture record::

    {"model_id": "m", "model_version": "3", "inference_id": "…", "timestamp": 1718000000000,
     "features": {"age": 41, "city": "Oslo"}, "prediction": 1 | "yes" | {"label": 1, "score": 0.93},
     "attributions": {"age": 0.12}, "metadata": {...}}

or a columnar batch of many records of one model (``schemas/columnar_batch.schema.json``)::

    {"format": "columnar", "model_id": "m", "model_version": null, "n": 2,
     "inference_id": ["a", "b"], "timestamp": [1718000000000, 1718000000001],
     "features": {"age": [41, null]}, "prediction": [1, 0] | {"label": [...], "score": [...]},
     "attributions": {"age": [0.1, 0.2]}}

or the same batch as an Apache Arrow IPC stream (:mod:`streamdrift.ingest.arrow`; told apart by its first bytes).

Timestamps are epoch milliseconds (integers or finite floats) or ISO-8601 text (UTC when no offset). A feature
absent from a record, or ``null``, is missing (not bad input). A message that cannot be used becomes a
:class:`DeadLetter` naming its index in the input sequence and a reason tag (the tags are metric labels):
``not_json`` (incl. a ``NaN`` literal, which orjson rejects), ``not_object``, ``missing_field``, ``wrong_type``
(nested values where scalars belong; bool where a number belongs), ``non_finite`` (a number that overflows a
double), ``too_large``, ``bad_timestamp``, ``bad_batch`` (inconsistent columnar batch). A columnar batch is
dead-lettered as a whole. Parsing never raises for bad input.
"""

from __future__ import annotations

import importlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import itemgetter
from types import ModuleType
from typing import Any, Final, cast

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.columns.chunks import MAX_TIMESTAMP_MS, CaptureBatch, CaptureColumns, LabelBatch
from streamdrift.columns.columns import (
    Column,
    Columns,
    classify_numbers,
    column_from_values,
    object_array,
    paused_gc,
    text_column,
)
from streamdrift.errors import BadRecordError
from streamdrift.ingest.arrow import ArrowGroup, decode_arrow_batch, is_arrow_batch, read_arrow_poll
from streamdrift.ingest.native import read_labels, read_records


def _optional_simdjson() -> ModuleType | None:
    """pysimdjson when installed: reads columnar batches' numeric lists into numpy without a Python float per
    value. Optional: without it the orjson path does everything, only slower."""
    try:
        return importlib.import_module("simdjson")
    except ImportError:  # pragma: no cover - depends on the environment
        return None


simdjson: Final[Any] = _optional_simdjson()

__all__ = [
    "DEAD_LETTER_REASONS",
    "CaptureBatch",
    "DeadLetter",
    "LabelBatch",
    "concat_columns",
    "encode_capture_record",
    "encode_columnar_batch",
    "encode_label_record",
    "parse_capture",
    "parse_labels",
]

DEAD_LETTER_REASONS: Final[tuple[str, ...]] = (
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "non_finite",
    "too_large",
    "bad_timestamp",
    "bad_batch",
)
_DETAIL_MAX: Final[int] = 200
_PRELOAD_MAX_MESSAGE: Final[int] = 1 << 16  # bytes: larger messages (columnar batches) are parsed one at a time
_PRELOAD_MAX_TOTAL: Final[int] = 1 << 24  # bytes of a poll parsed in one pass
_SCALARS: Final[frozenset[type]] = frozenset({int, float, str, bool, type(None)})
_NUMBERS: Final[frozenset[type]] = frozenset({int, float, type(None)})


@dataclass(frozen=True)
class DeadLetter:
    index: int  # of the message in the input sequence
    reason: str  # one of DEAD_LETTER_REASONS
    detail: str


# ---------------------------------------------------------------- capture parsing


@dataclass
class _Group:
    """Records of one (model, version) in input order; runs of JSON records are columnarized together."""

    model_id: str
    model_version: str | None
    records: list[dict[str, Any]] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)

    def flush(self, fallback: Sequence[int] | None, dead: list[DeadLetter]) -> None:
        if self.records:
            segment = _segment_from_records(self.records, self.sources, fallback, dead)
            if segment is not None:
                self.segments.append(segment)
            self.records, self.sources = [], []


@dataclass(frozen=True)
class _Segment:
    rows: CaptureColumns
    source_index: NDArray[np.int64]  # of each row's message in the input sequence


def parse_capture(
    values: Sequence[bytes],
    *,
    max_bytes: int = 1 << 20,
    fallback_timestamps_ms: Sequence[int] | None = None,
    fast_columnar: bool | None = None,
    native: bool = True,
    arrow_poll: bool = True,
) -> tuple[list[CaptureBatch], list[DeadLetter]]:
    """Parse capture messages into one :class:`CaptureBatch` per (model, version), plus dead letters.

    ``fallback_timestamps_ms`` (e.g. the Kafka message timestamps, aligned with ``values``) is used for records
    without a ``timestamp``; without it such a record is dead-lettered (``missing_field``).
    ``fast_columnar``: read columnar batches with simdjson when it is installed (the same result, without a
    Python object per value): None (default) for messages of at least 4 KiB, True for every message, False never.
    ``native``: read a poll of only valid JSON records with the native reader (:mod:`streamdrift.ingest.native`;
    the same batches, about 4x faster); False always takes the Python path.
    ``arrow_poll``: read a poll of only Arrow batches one model at a time (:func:`streamdrift.ingest.arrow.
    read_arrow_poll`: the same batches); False reads every Arrow batch on its own.
    """
    dead: list[DeadLetter] = []
    with paused_gc():
        if native:
            native_batches = read_records(values, min(max_bytes, _PRELOAD_MAX_MESSAGE), _PRELOAD_MAX_TOTAL)
            if native_batches is not None:
                return native_batches, dead
        arrow = read_arrow_poll(values, max_bytes) if arrow_poll and values and is_arrow_batch(values[0]) else None
        if arrow is not None:
            return [_arrow_batch(g) for g in arrow if g.rows.n_rows > 0], dead
        objs = _load_all(values, max_bytes)
        groups = None if objs is None else _plain_record_groups(objs)
        if groups is None:
            fast_min = _fast_min_bytes(fast_columnar)
            groups = _groups_per_message(values, objs, max_bytes, fallback_timestamps_ms, dead, fast_min)
        for group in groups.values():
            group.flush(fallback_timestamps_ms, dead)
        batches = [_batch_of(g) for g in _drained(groups)]
    dead.sort(key=lambda d: d.index)
    return [b for b in batches if b.n_rows > 0], dead


def _groups_per_message(
    values: Sequence[bytes],
    objs: list[dict[str, Any]] | None,
    max_bytes: int,
    fallback: Sequence[int] | None,
    dead: list[DeadLetter],
    fast_min: int | None = None,
) -> dict[tuple[str, str | None], _Group]:
    """Group messages one by one (any mix of JSON records, columnar batches and bad input)."""
    groups: dict[tuple[str, str | None], _Group] = {}
    by_raw_key: dict[tuple[object, object], _Group] = {}  # (model_id, model_version) as sent -> group
    for index, value in enumerate(values):
        stamp = None if fallback is None else int(fallback[index])
        if is_arrow_batch(value):
            _add_arrow(groups, value, index, stamp, max_bytes, fallback, dead)
            continue
        fast = fast_min is not None and fast_min <= len(value) <= max_bytes
        quick = _fast_columnar(value, index, stamp) if fast else None
        if quick is not None:
            target = _group(groups, quick[1])
            target.flush(fallback, dead)
            target.segments.append(quick[0])
            continue
        try:
            obj = _load(value, max_bytes) if objs is None else objs[index]
            fmt = obj.get("format")
            if fmt is None:
                raw_key = (obj.get("model_id"), obj.get("model_version"))
                group = _lookup(by_raw_key, raw_key)
                if group is None:
                    group = by_raw_key[raw_key] = _group(groups, _model_key(obj))
                group.records.append(obj)
                group.sources.append(index)
            elif fmt == "columnar":
                segment, key = _parse_columnar(obj, index, stamp)
                group = _group(groups, key)
                group.flush(fallback, dead)
                group.segments.append(segment)
            else:
                raise BadRecordError("bad_batch", f"unknown format {str(fmt)[:40]!r}")
        except BadRecordError as exc:
            dead.append(DeadLetter(index, exc.reason, exc.detail[:_DETAIL_MAX]))
    return groups


def _add_arrow(
    groups: dict[tuple[str, str | None], _Group],
    value: bytes,
    index: int,
    stamp: int | None,
    max_bytes: int,
    fallback: Sequence[int] | None,
    dead: list[DeadLetter],
) -> None:
    """One Arrow columnar batch (:mod:`streamdrift.ingest.arrow`) into its model's group, or a dead letter."""
    try:
        if len(value) > max_bytes:
            raise BadRecordError("too_large", f"{len(value)} bytes > max {max_bytes}")
        batch = decode_arrow_batch(value, stamp)
    except BadRecordError as exc:
        dead.append(DeadLetter(index, exc.reason, exc.detail[:_DETAIL_MAX]))
        return
    group = _group(groups, (batch.model_id, batch.model_version))
    group.flush(fallback, dead)
    group.segments.append(_Segment(batch.rows, np.full(batch.rows.n_rows, index, dtype=np.int64)))


def _preloadable(values: Sequence[bytes], max_bytes: int) -> bool:
    """A poll of small messages (JSON records), read in one pass; big columnar batches are parsed one at a time,
    so their Python objects never all exist at once."""
    return bool(values) and max(map(len, values)) <= min(max_bytes, _PRELOAD_MAX_MESSAGE) and (
        sum(map(len, values)) <= _PRELOAD_MAX_TOTAL
    )


def _load_all(values: Sequence[bytes], max_bytes: int) -> list[dict[str, Any]] | None:
    """Every message parsed (one C-level pass), or None when one is too large, not JSON or not an object."""
    if not _preloadable(values, max_bytes):
        return None
    try:
        objs = list(map(orjson.loads, values))
    except orjson.JSONDecodeError:
        return None
    return objs if _DICTS.issuperset(map(type, objs)) else None


def _plain_record_groups(objs: list[dict[str, Any]]) -> dict[tuple[str, str | None], _Group] | None:
    """The common poll, without a per-message Python loop: every message a JSON capture record (an object
    without ``format``) with a valid model key. Groups as the per-message loop would (same order, same rows);
    None when a message is a columnar batch or has a bad model key (the per-message loop handles those)."""
    try:
        # set() raises TypeError when a value is unhashable
        if set(map(dict.get, objs, repeat("format"))) != {None}:
            return None
        ids = list(map(dict.get, objs, repeat("model_id")))
        versions = list(map(dict.get, objs, repeat("model_version")))
        if ids.count(ids[0]) == len(ids) and versions.count(versions[0]) == len(versions):  # one model
            return _one_group(objs, (ids[0], versions[0]))
        raw_keys = list(zip(ids, versions, strict=True))
        by_raw_key: dict[tuple[object, object], _Group | None] = dict.fromkeys(raw_keys)  # first-seen order
        first = dict(zip(raw_keys[::-1], objs[::-1], strict=True))  # the first record of each raw key
    except TypeError:
        return None
    groups: dict[tuple[str, str | None], _Group] = {}
    try:
        for raw_key in by_raw_key:
            by_raw_key[raw_key] = _group(groups, _model_key(first[raw_key]))
    except BadRecordError:
        return None
    for index, (obj, raw_key) in enumerate(zip(objs, raw_keys, strict=True)):
        found = by_raw_key[raw_key]
        if found is not None:
            found.records.append(obj)
            found.sources.append(index)
    return groups


def _one_group(objs: list[dict[str, Any]], raw_key: tuple[object, object]) -> dict[tuple[str, str | None], _Group] | None:
    """Every record of the poll has the same (model_id, model_version) as sent (``==``, as a dict lookup)."""
    try:
        key = _model_key({"model_id": raw_key[0], "model_version": raw_key[1]})
    except BadRecordError:
        return None
    group = _Group(key[0], key[1], objs, list(range(len(objs))))
    return {key: group}


def _drained(groups: dict[tuple[str, str | None], _Group]) -> Iterator[_Group]:
    """Groups with segments, each released from ``groups`` as it is handed out (its segments are freed as
    soon as its batch is built: peak memory is the segments plus one model's batch, not twice everything)."""
    while groups:
        group = groups.pop(next(iter(groups)))
        if group.segments:
            yield group


def _lookup(by_raw_key: dict[tuple[object, object], _Group], raw_key: tuple[object, object]) -> _Group | None:
    try:
        return by_raw_key.get(raw_key)
    except TypeError:  # unhashable model_id / version (a list, an object): _model_key reports it
        return None


def _load(value: bytes, max_bytes: int) -> dict[str, Any]:
    if len(value) > max_bytes:
        raise BadRecordError("too_large", f"{len(value)} bytes > max {max_bytes}")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        reason = "non_finite" if "infinity" in str(exc) else "not_json"
        raise BadRecordError(reason, str(exc)) from None
    if not isinstance(obj, dict):
        raise BadRecordError("not_object", f"a JSON {type(obj).__name__}, not an object")
    return obj


def _group(groups: dict[tuple[str, str | None], _Group], key: tuple[str, str | None]) -> _Group:
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(key[0], key[1])
    return group


def _model_key(obj: Mapping[str, Any]) -> tuple[str, str | None]:
    model_id = obj.get("model_id")
    if model_id is None:
        raise BadRecordError("missing_field", "model_id")
    if not isinstance(model_id, str) or not model_id:
        raise BadRecordError("wrong_type", "model_id must be a non-empty string")
    version = obj.get("model_version")
    if version is not None and (not isinstance(version, str | int) or isinstance(version, bool)):
        raise BadRecordError("wrong_type", "model_version must be a string")
    return model_id, None if version is None else str(version)


def _check_record(obj: Mapping[str, Any], fallback: int | None) -> None:
    """Raise BadRecordError for the first problem of one JSON record (the slow path that names the reason)."""
    _model_key(obj)
    features = obj.get("features")
    if features is None:
        raise BadRecordError("missing_field", "features")
    if not isinstance(features, dict):
        raise BadRecordError("wrong_type", "features must be an object")
    if not _SCALARS.issuperset(map(type, features.values())):
        raise BadRecordError("wrong_type", f"feature values must be scalars: {_first_bad(features, _SCALARS)}")
    _timestamp_ms(obj.get("timestamp"), fallback)
    _inference_id(obj.get("inference_id"))
    _prediction(obj.get("prediction"))
    attributions = obj.get("attributions")
    if attributions is not None:
        if not isinstance(attributions, dict):
            raise BadRecordError("wrong_type", "attributions must be an object")
        if not _NUMBERS.issuperset(map(type, attributions.values())):
            raise BadRecordError(
                "wrong_type", f"attributions must be numbers: {_first_bad(attributions, _NUMBERS)}"
            )


def _first_bad(values: Mapping[str, object], allowed: frozenset[type]) -> str:
    for name, v in values.items():
        if type(v) not in allowed:
            return f"{name!r} is a {type(v).__name__}"
    return ""  # pragma: no cover - only called when one is bad


def _inference_id(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadRecordError("wrong_type", "inference_id must be a string")


def _prediction(pred: object) -> tuple[object, object]:
    """(label, score) of a record's ``prediction`` (a scalar, or an object with ``label`` / ``score``)."""
    if type(pred) is dict:
        label = pred.get("label")
        score = pred.get("score")
        if type(label) not in _SCALARS:
            raise BadRecordError("wrong_type", "prediction.label must be a scalar")
        if type(score) not in _NUMBERS:
            raise BadRecordError("wrong_type", "prediction.score must be a number")
        return label, score
    if type(pred) not in _SCALARS:
        raise BadRecordError("wrong_type", "prediction must be a scalar or {label, score}")
    return pred, None


def _timestamp_ms(value: object, fallback: int | None) -> int:
    if value is None:
        if fallback is None:
            raise BadRecordError("missing_field", "timestamp")
        return fallback
    if isinstance(value, bool):
        raise BadRecordError("bad_timestamp", "a boolean")
    if isinstance(value, int | float):
        if not 0 <= value < MAX_TIMESTAMP_MS:
            raise BadRecordError("bad_timestamp", f"{value} is not epoch milliseconds")
        return int(value)
    if isinstance(value, str):
        return _iso_ms(value)
    raise BadRecordError("bad_timestamp", f"a {type(value).__name__}")


def _iso_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRecordError("bad_timestamp", f"not ISO-8601: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ms = round(parsed.timestamp() * 1000)
    if not 0 <= ms < MAX_TIMESTAMP_MS:
        raise BadRecordError("bad_timestamp", f"{text[:40]!r} is before 1970")
    return ms


_TEXT_TYPES: Final[frozenset[type]] = frozenset({str, type(None)})
_NONE_ONLY: Final[frozenset[type]] = frozenset({type(None)})
_DICTS: Final[frozenset[type]] = frozenset({dict})
_DICT_OR_NONE: Final[frozenset[type]] = frozenset({dict, type(None)})
_INT_TYPES: Final[frozenset[type]] = frozenset({int, float})
_NUMBER_TYPES: Final[frozenset[type]] = frozenset({int, float, type(None)})


def _column(values: Sequence[object], allowed: frozenset[type] | None = None, what: str = "values") -> Column:
    """:func:`column_from_values` with a vectorized path for text columns (JSON strings are STRING rows).

    With ``allowed``, raises BadRecordError (wrong_type) when a value's type is not in it.
    """
    plain = _plain_numbers(values)
    if plain is not None:  # only int / float: allowed everywhere, no per-value type scan
        numbers, kinds = classify_numbers(plain)
        return Column(numbers, kinds, None)
    types = set(map(type, values))
    if allowed is not None and not types <= allowed:
        raise BadRecordError("wrong_type", f"{what}: values must be {_type_names(allowed)}")
    if values and types <= _TEXT_TYPES:
        return text_column(object_array(values), type(None) in types)
    if types <= _NUMBER_TYPES:  # skip column_from_values' second type scan
        try:
            numbers, kinds = classify_numbers(np.array(values, dtype=np.float64).reshape(-1))
            return Column(numbers, kinds, None)
        except OverflowError:
            pass
    return column_from_values(values)


def _plain_numbers(values: Sequence[object]) -> NDArray[np.float64] | None:
    """``values`` as float64 when they are provably only Python int / float (no None, bool, str, nesting).

    ``array.array("d", ...)`` converts in C and rejects None, text and nesting (TypeError) and numbers beyond a
    double (OverflowError), replacing a per-value type scan. It accepts ``bool`` (as 1.0 / 0.0), so the rows
    holding 0 or 1 are type-checked individually. When it rejects, the caller's general path handles it.
    """
    if not values or type(values[0]) is str:
        return None
    try:
        numbers = np.frombuffer(array("d", cast("Sequence[float]", values)), dtype=np.float64)
    except (TypeError, OverflowError):
        return None
    maybe_bool = np.flatnonzero((numbers == 0.0) | (numbers == 1.0))
    if maybe_bool.size and not _INT_TYPES.issuperset(map(type, map(values.__getitem__, maybe_bool.tolist()))):
        return None
    return numbers


def _columns_from_rows(rows: Sequence[Mapping[str, object]], allowed: frozenset[type]) -> Columns:
    """Rows (dicts) to columns; a feature absent from a row is MISSING; values must be of ``allowed`` types."""
    lists = _same_keys_columns(rows)
    if lists is None:  # rows with different keys: absent = None = MISSING
        names = list(dict.fromkeys(chain.from_iterable(rows)))
        lists = (names, [[row.get(name) for row in rows] for name in names])
    names, values = lists
    return Columns(len(rows), {name: _column(v, allowed) for name, v in zip(names, values, strict=True)})


def _same_keys_columns(rows: Sequence[Mapping[str, object]]) -> tuple[list[str], list[Sequence[object]]] | None:
    """(names, value lists) when every row has exactly the first row's keys (the common case), else None."""
    if not rows:
        return [], []
    names = list(rows[0])
    if len(names) < 2 or set(map(len, rows)) != {len(names)}:
        return None
    try:  # same size and every name present => same key set
        return names, list(zip(*map(itemgetter(*names), rows), strict=True))
    except KeyError:
        return None


def _segment_from_records(
    records: list[dict[str, Any]], sources: list[int], fallback: Sequence[int] | None, dead: list[DeadLetter]
) -> _Segment | None:
    """Columns of a run of JSON records of one model: column-wise checks, per-record only when one fails."""
    try:
        return _fast_segment(records, sources, fallback)
    except BadRecordError:
        pass
    good: list[dict[str, Any]] = []
    good_sources: list[int] = []
    for obj, index in zip(records, sources, strict=True):
        try:
            _check_record(obj, None if fallback is None else int(fallback[index]))
        except BadRecordError as exc:
            dead.append(DeadLetter(index, exc.reason, exc.detail[:_DETAIL_MAX]))
            continue
        good.append(obj)
        good_sources.append(index)
    return _fast_segment(good, good_sources, fallback) if good else None


def _fast_segment(records: list[dict[str, Any]], sources: list[int], fallback: Sequence[int] | None) -> _Segment:
    """Columns of valid records; raises BadRecordError (any reason) as soon as something is wrong."""
    features = list(map(dict.get, records, repeat("features")))
    if not _DICTS.issuperset(map(type, features)):
        raise BadRecordError("wrong_type", "features")
    ids = list(map(dict.get, records, repeat("inference_id")))
    if not _TEXT_TYPES.issuperset(map(type, ids)):
        ids = [_inference_id(v) for v in ids]
    label, score = _prediction_columns(list(map(dict.get, records, repeat("prediction"))))
    attributions = list(map(dict.get, records, repeat("attributions")))
    has_attributions = not _NONE_ONLY.issuperset(map(type, attributions))
    if has_attributions and not _DICT_OR_NONE.issuperset(map(type, attributions)):
        raise BadRecordError("wrong_type", "attributions")
    return _Segment(
        CaptureColumns(
            timestamps_ms=_timestamps(list(map(dict.get, records, repeat("timestamp"))), sources, fallback),
            inference_ids=object_array(ids),
            features=_columns_from_rows(features, _SCALARS),  # type: ignore[arg-type]
            prediction=label,
            score=score,
            attributions=_columns_from_rows([a or {} for a in attributions], _NUMBERS) if has_attributions else None,
        ),
        source_index=np.array(sources, dtype=np.int64),
    )


def _timestamps(raw: list[object], sources: list[int], fallback: Sequence[int] | None) -> NDArray[np.int64]:
    if _INT_TYPES.issuperset(map(type, raw)):
        arr = np.array(raw)
        if arr.dtype.kind in "iuf" and np.all(arr >= 0) and np.all(arr < MAX_TIMESTAMP_MS):
            return arr.astype(np.int64)
    return np.array(
        [_timestamp_ms(v, None if fallback is None else int(fallback[i])) for v, i in zip(raw, sources, strict=True)],
        dtype=np.int64,
    )


def _prediction_columns(preds: list[object]) -> tuple[Column | None, NDArray[np.float64] | None]:
    types = set(map(type, preds))
    if types <= _NONE_ONLY:
        return None, None
    if types <= _SCALARS:
        return _column(preds), None
    if types <= _DICTS:  # {"label", "score"} objects: column-wise, C-level lookups
        labels: list[object] = list(map(dict.get, preds, repeat("label")))  # type: ignore[arg-type]
        scores: list[object] = list(map(dict.get, preds, repeat("score")))  # type: ignore[arg-type]
    elif types <= _DICT_OR_NONE:
        labels = [None if p is None else p.get("label") for p in preds]  # type: ignore[attr-defined]
        scores = [None if p is None else p.get("score") for p in preds]  # type: ignore[attr-defined]
    else:
        pairs = [_prediction(p) for p in preds]
        labels = [label for label, _ in pairs]
        scores = [score for _, score in pairs]
    label_types = set(map(type, labels))
    label_col = None if label_types <= _NONE_ONLY else _column(labels, _SCALARS, "prediction.label")
    score_types = set(map(type, scores))
    if not score_types <= _NUMBER_TYPES:
        raise BadRecordError("wrong_type", "prediction.score must be a number")
    score_arr = None if score_types <= _NONE_ONLY else np.array(scores, dtype=np.float64)
    return label_col, score_arr


# ---------------------------------------------------------------- columnar batches


def _parse_columnar(
    obj: Mapping[str, Any], index: int, fallback: int | None
) -> tuple[_Segment, tuple[str, str | None]]:
    key = _model_key(obj)
    n = obj.get("n")
    if type(n) is not int or n < 0:
        raise BadRecordError("bad_batch", "n must be a non-negative integer")
    features = _named_columns(obj.get("features"), "features", n, _SCALARS)
    if features is None:
        raise BadRecordError("missing_field", "features")
    timestamps = _columnar_timestamps(obj.get("timestamp"), n, fallback)
    ids = _columnar_ids(obj.get("inference_id"), n)
    prediction, score = _columnar_prediction(obj.get("prediction"), n)
    attributions = _named_columns(obj.get("attributions"), "attributions", n, _NUMBERS)
    rows = CaptureColumns(timestamps, ids, features, prediction, score, attributions)
    return _Segment(rows, np.full(n, index, dtype=np.int64)), key


def _checked_list(value: object, what: str, n: int, allowed: frozenset[type] | None = None) -> list[object]:
    """``value`` when it is a list of ``n`` items (of ``allowed`` types, when given)."""
    if not isinstance(value, list):
        raise BadRecordError("bad_batch", f"{what} must be a list")
    if len(value) != n:
        raise BadRecordError("bad_batch", f"{what} has {len(value)} values, n is {n}")
    if allowed is not None and not allowed.issuperset(map(type, value)):
        raise BadRecordError("wrong_type", f"{what}: values must be {_type_names(allowed)}")
    return value


def _type_names(allowed: frozenset[type]) -> str:
    return "numbers" if allowed is _NUMBERS else "scalars"


def _named_columns(value: object, what: str, n: int, allowed: frozenset[type]) -> Columns | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRecordError("bad_batch", f"{what} must be an object of lists")
    return Columns(
        n, {name: _column(_checked_list(v, f"{what}.{name}", n), allowed, f"{what}.{name}") for name, v in value.items()}
    )


def _columnar_timestamps(value: object, n: int, fallback: int | None) -> NDArray[np.int64]:
    if value is None:
        if fallback is None:
            raise BadRecordError("missing_field", "timestamp")
        return np.full(n, fallback, dtype=np.int64)
    if not isinstance(value, list) or len(value) != n:
        raise BadRecordError("bad_batch", f"timestamp must be a list of n={n} values")
    arr = np.asarray(value) if n else np.zeros(0, dtype=np.int64)
    if arr.dtype.kind in "iuf":  # bool lists are dtype bool -> slow path -> bad_timestamp
        if arr.size and not (np.all(arr >= 0) and np.all(arr < MAX_TIMESTAMP_MS)):
            raise BadRecordError("bad_timestamp", "timestamps must be epoch milliseconds >= 0")
        return arr.astype(np.int64)
    return np.array([_timestamp_ms(v, fallback) for v in value], dtype=np.int64)


def _columnar_ids(value: object, n: int) -> NDArray[np.object_]:
    if value is None:
        return np.full(n, None, dtype=object)
    if not isinstance(value, list) or len(value) != n:
        raise BadRecordError("bad_batch", f"inference_id must be a list of n={n} values")
    if not {str, type(None)}.issuperset(map(type, value)):
        value = [_inference_id(v) for v in value]
    return object_array(value)


def _columnar_prediction(value: object, n: int) -> tuple[Column | None, NDArray[np.float64] | None]:
    if value is None:
        return None, None
    if isinstance(value, list):
        return _column(_checked_list(value, "prediction", n), _SCALARS, "prediction"), None
    if not isinstance(value, dict):
        raise BadRecordError("bad_batch", "prediction must be a list or {label: [...], score: [...]}")
    labels = value.get("label")
    scores = value.get("score")
    label_col = (
        None if labels is None else _column(_checked_list(labels, "prediction.label", n), _SCALARS, "prediction.label")
    )
    score_arr = (
        None if scores is None else np.array(_checked_list(scores, "prediction.score", n, _NUMBERS), dtype=np.float64)
    )
    return label_col, score_arr


# ---------------------------------------------------------------- columnar batches, simdjson fast path

_FAST_MIN_BYTES: Final[int] = 4096  # smaller messages (single records) are cheaper through orjson
_FAST_ERRORS: Final = (ValueError, TypeError, RuntimeError, KeyError, AttributeError, BadRecordError)
_OPEN_BRACKET: Final[int] = ord("[")


def _fast_min_bytes(fast_columnar: bool | None) -> int | None:
    """Smallest message read with simdjson (None: none)."""
    if simdjson is None or fast_columnar is False:
        return None
    return 0 if fast_columnar else _FAST_MIN_BYTES


class _ArrayCount:
    """Arrays read from one message (to prove none was nested: see :func:`_fast_columnar`)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def _fast_columnar(value: bytes, index: int, fallback: int | None) -> tuple[_Segment, tuple[str, str | None]] | None:
    """A valid columnar batch read with simdjson: numeric lists become float64 arrays in C.

    None for anything else -- not a columnar batch, invalid in any way, duplicate keys (orjson keeps the last,
    simdjson the first), a nested array (simdjson would flatten it), a ``[`` inside a string -- and the
    orjson path then parses the message, names the dead-letter reason, or produces the same columns.
    """
    try:
        doc = simdjson.Parser().parse(value)
        if not isinstance(doc, simdjson.Object) or doc.get("format") != "columnar" or _dup_keys(doc):
            return None
        arrays = _ArrayCount()
        out = _fast_segment_of(doc, index, fallback, arrays)
    except _FAST_ERRORS:
        return None
    if out is None or np.count_nonzero(np.frombuffer(value, dtype=np.uint8) == _OPEN_BRACKET) != arrays.n:
        return None
    return out


def _fast_segment_of(
    doc: Any, index: int, fallback: int | None, arrays: _ArrayCount
) -> tuple[_Segment, tuple[str, str | None]] | None:
    key = _model_key({"model_id": doc.get("model_id"), "model_version": doc.get("model_version")})
    n = doc.get("n")
    features = _fast_named(doc.get("features"), n, arrays)
    if type(n) is not int or n < 0 or features is None:
        return None
    stamps = doc.get("timestamp")
    if stamps is None:
        timestamps = _columnar_timestamps(None, n, fallback)
    else:
        timestamps = _fast_numbers(stamps, n, arrays).astype(np.int64)  # exact: valid stamps are < 2**53
        if timestamps.size and not (np.all(timestamps >= 0) and np.all(timestamps < MAX_TIMESTAMP_MS)):
            return None
    ids = doc.get("inference_id")
    prediction, score = _fast_prediction(doc.get("prediction"), n, arrays)
    attributions = doc.get("attributions")
    segment = _Segment(
        CaptureColumns(
            timestamps_ms=timestamps,
            inference_ids=_columnar_ids(None if ids is None else _fast_list(ids, n, arrays), n),
            features=features,
            prediction=prediction,
            score=score,
            attributions=None if attributions is None else _fast_named(attributions, n, arrays, _NUMBERS),
        ),
        source_index=np.full(n, index, dtype=np.int64),
    )
    return segment, key


def _dup_keys(obj: Any) -> bool:
    keys = list(obj.keys())
    return len(set(keys)) != len(keys)


def _fast_list(arr: Any, n: int, arrays: _ArrayCount) -> list[object]:
    if not isinstance(arr, simdjson.Array) or len(arr) != n:
        raise BadRecordError("bad_batch", "not a list of n values")
    arrays.n += 1
    out: list[object] = arr.as_list()
    return out


def _fast_numbers(arr: Any, n: int, arrays: _ArrayCount) -> NDArray[np.float64]:
    """A list of n JSON numbers as float64 (TypeError when one is not a number: null, bool, text, object)."""
    if not isinstance(arr, simdjson.Array) or len(arr) != n:
        raise BadRecordError("bad_batch", "not a list of n values")
    arrays.n += 1
    return np.frombuffer(arr.as_buffer(of_type="d"), dtype=np.float64) if n else np.zeros(0)


def _fast_column(arr: Any, n: int, arrays: _ArrayCount, allowed: frozenset[type] = _SCALARS) -> Column:
    try:
        numbers, kinds = classify_numbers(_fast_numbers(arr, n, arrays))
        return Column(numbers, kinds, None)
    except TypeError:  # not only numbers: the values as Python objects, checked as on the orjson path
        arrays.n -= 1
    return _column(_fast_list(arr, n, arrays), allowed)


def _fast_named(obj: Any, n: int, arrays: _ArrayCount, allowed: frozenset[type] = _SCALARS) -> Columns | None:
    """Named lists; the all-number ones are classified together, as one 2-D block."""
    if not isinstance(obj, simdjson.Object):
        return None
    names = list(obj.keys())
    if len(set(names)) != len(names):  # duplicate keys: orjson keeps the last value, simdjson the first
        return None
    numeric: dict[str, NDArray[np.float64]] = {}
    other: dict[str, Column] = {}
    for name in names:
        arr = obj[name]
        try:
            numeric[name] = _fast_numbers(arr, n, arrays)
        except TypeError:  # not only numbers: the values as Python objects, checked as on the orjson path
            arrays.n -= 1
            other[name] = _column(_fast_list(arr, n, arrays), allowed)
    if numeric:
        block = np.empty((len(numeric), n))
        for i, values in enumerate(numeric.values()):
            block[i] = values
        numbers, kinds = classify_numbers(block)  # simdjson never yields a non-finite number
        other.update((name, Column(numbers[i], kinds[i], None)) for i, name in enumerate(numeric))
    return Columns(n, {name: other[name] for name in names})


def _fast_prediction(
    value: Any, n: int, arrays: _ArrayCount
) -> tuple[Column | None, NDArray[np.float64] | None]:
    if value is None:
        return None, None
    if isinstance(value, simdjson.Array):
        return _fast_column(value, n, arrays), None
    if not isinstance(value, simdjson.Object) or _dup_keys(value):
        raise BadRecordError("bad_batch", "prediction")
    labels, scores = value.get("label"), value.get("score")
    label = None if labels is None else _fast_column(labels, n, arrays)
    if scores is None:
        return label, None
    try:
        return label, _fast_numbers(scores, n, arrays)
    except TypeError:  # nulls among the scores
        arrays.n -= 1
    checked = _checked_list(_fast_list(scores, n, arrays), "prediction.score", n, _NUMBERS)
    return label, np.array(checked, dtype=np.float64)


# ---------------------------------------------------------------- assembling batches


def _arrow_batch(group: ArrowGroup) -> CaptureBatch:
    rows = group.rows
    return CaptureBatch(group.model_id, group.model_version, rows.timestamps_ms, rows.inference_ids, rows.features,
                        rows.prediction, rows.score, rows.attributions, group.source_index)


def _batch_of(group: _Group) -> CaptureBatch:
    segs = group.segments
    lengths = [s.rows.n_rows for s in segs]
    return CaptureBatch(
        model_id=group.model_id,
        model_version=group.model_version,
        timestamps_ms=_cat([s.rows.timestamps_ms for s in segs], np.int64),
        inference_ids=_cat([s.rows.inference_ids for s in segs], np.object_),
        features=concat_columns([s.rows.features for s in segs]) if len(segs) != 1 else segs[0].rows.features,
        prediction=_optional_column([s.rows.prediction for s in segs], lengths),
        score=_optional_scores([s.rows.score for s in segs], lengths),
        attributions=_optional_columns([s.rows.attributions for s in segs], lengths),
        source_index=_cat([s.source_index for s in segs], np.int64),
    )


def _cat(parts: list[NDArray[Any]], dtype: type[Any]) -> NDArray[Any]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _concat_column(parts: Sequence[Column]) -> Column:
    if len(parts) == 1:
        return parts[0]
    strings: NDArray[np.object_] | None = None
    if any(p.strings is not None for p in parts):
        strings = np.concatenate(
            [p.strings if p.strings is not None else np.full(p.kinds.shape[0], None, dtype=object) for p in parts]
        )
    return Column(np.concatenate([p.numbers for p in parts]), np.concatenate([p.kinds for p in parts]), strings)


def concat_columns(parts: Sequence[Columns]) -> Columns:
    """Row-wise concatenation; a feature absent from a part is MISSING in its rows."""
    names: dict[str, None] = {}
    for p in parts:
        names.update(dict.fromkeys(p.columns))
    columns = {
        name: _concat_column([p.columns.get(name) or Column.missing(p.n_rows) for p in parts]) for name in names
    }
    return Columns(sum(p.n_rows for p in parts), columns)


def _optional_column(parts: list[Column | None], lengths: list[int]) -> Column | None:
    if all(p is None for p in parts):
        return None
    return _concat_column([p if p is not None else Column.missing(n) for p, n in zip(parts, lengths, strict=True)])


def _optional_columns(parts: list[Columns | None], lengths: list[int]) -> Columns | None:
    if all(p is None for p in parts):
        return None
    return concat_columns([p if p is not None else Columns(n, {}) for p, n in zip(parts, lengths, strict=True)])


def _optional_scores(parts: list[NDArray[np.float64] | None], lengths: list[int]) -> NDArray[np.float64] | None:
    if all(p is None for p in parts):
        return None
    return np.concatenate([p if p is not None else np.full(n, np.nan) for p, n in zip(parts, lengths, strict=True)])


# ---------------------------------------------------------------- labels


def parse_labels(
    values: Sequence[bytes],
    *,
    max_bytes: int = 1 << 20,
    fallback_timestamps_ms: Sequence[int] | None = None,
    native: bool = True,
) -> tuple[LabelBatch, list[DeadLetter]]:
    """Parse label records ``{"model_id", "inference_id", "label", "timestamp"}``; ``label`` must be a scalar.

    ``native``: a poll of only valid label records is read by the native reader (the same batch); False always
    takes the Python path.
    """
    if native:
        read = read_labels(values, min(max_bytes, _PRELOAD_MAX_MESSAGE), _PRELOAD_MAX_TOTAL)
        if read is not None:
            return read, []
    model_ids: list[str] = []
    ids: list[str] = []
    stamps: list[int] = []
    labels: list[object] = []
    sources: list[int] = []
    dead: list[DeadLetter] = []
    for index, value in enumerate(values):
        fallback = None if fallback_timestamps_ms is None else int(fallback_timestamps_ms[index])
        try:
            obj = _load(value, max_bytes)
            model_id, _ = _model_key(obj)
            inference_id = _inference_id(obj.get("inference_id"))
            if inference_id is None:
                raise BadRecordError("missing_field", "inference_id")
            label = obj.get("label")
            if label is None:
                raise BadRecordError("missing_field", "label")
            if type(label) not in _SCALARS:
                raise BadRecordError("wrong_type", "label must be a scalar")
            ts = _timestamp_ms(obj.get("timestamp"), fallback)
        except BadRecordError as exc:
            dead.append(DeadLetter(index, exc.reason, exc.detail[:_DETAIL_MAX]))
            continue
        model_ids.append(model_id)
        ids.append(inference_id)
        stamps.append(ts)
        labels.append(label)
        sources.append(index)
    batch = LabelBatch(
        model_ids=object_array(model_ids),
        inference_ids=object_array(ids),
        timestamps_ms=np.array(stamps, dtype=np.int64),
        labels=column_from_values(labels),
        source_index=np.array(sources, dtype=np.int64),
    )
    return batch, dead


# ---------------------------------------------------------------- encoding (capture SDK)

DUMP_OPTIONS: Final[int] = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _record_dict(
    model_id: str,
    *,
    features: Mapping[str, object],
    prediction: object,
    inference_id: str | None,
    timestamp_ms: int,
    model_version: str | None = None,
    attributions: Mapping[str, object] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> dict[str, object]:
    record: dict[str, object] = {"model_id": model_id}
    if model_version is not None:
        record["model_version"] = model_version
    record["inference_id"] = inference_id
    record["timestamp"] = int(timestamp_ms)
    record["features"] = features
    if prediction is not None:
        record["prediction"] = prediction
    if attributions is not None:
        record["attributions"] = attributions
    if metadata is not None:
        record["metadata"] = metadata
    return record


def encode_capture_record(
    model_id: str,
    *,
    features: Mapping[str, object],
    prediction: object,
    inference_id: str | None,
    timestamp_ms: int,
    model_version: str | None = None,
    attributions: Mapping[str, object] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> bytes:
    """One JSON capture record (numpy scalars/arrays allowed; NaN / inf become null = missing)."""
    record = _record_dict(
        model_id,
        features=features,
        prediction=prediction,
        inference_id=inference_id,
        timestamp_ms=timestamp_ms,
        model_version=model_version,
        attributions=attributions,
        metadata=metadata,
    )
    return orjson.dumps(record, option=DUMP_OPTIONS)


def encode_label_record(model_id: str, inference_id: str, label: object, timestamp_ms: int) -> bytes:
    return orjson.dumps(
        {"model_id": model_id, "inference_id": inference_id, "label": label, "timestamp": int(timestamp_ms)},
        option=DUMP_OPTIONS,
    )


def encode_columnar_batch(
    model_id: str, rows: Sequence[Mapping[str, Any]], *, model_version: str | None = None
) -> bytes:
    """A columnar batch of capture ``rows`` (dicts shaped like JSON capture records, without model_id).

    Each row has ``features`` and ``timestamp`` (epoch ms), optionally ``inference_id``, ``prediction`` (a
    scalar or ``{"label", "score"}``) and ``attributions``. A feature absent from a row is written as null.
    """
    names = _union_keys(r.get("features") or {} for r in rows)
    batch: dict[str, object] = {
        "format": "columnar",
        "model_id": model_id,
        "model_version": model_version,
        "n": len(rows),
        "inference_id": [r.get("inference_id") for r in rows],
        "timestamp": [int(r["timestamp"]) for r in rows],
        "features": {name: [(r.get("features") or {}).get(name) for r in rows] for name in names},
    }
    predictions = [r.get("prediction") for r in rows]
    if any(isinstance(p, Mapping) for p in predictions):
        pairs = [p if isinstance(p, Mapping) else {"label": p} for p in predictions]
        batch["prediction"] = {"label": [p.get("label") for p in pairs], "score": [p.get("score") for p in pairs]}
    elif any(p is not None for p in predictions):
        batch["prediction"] = predictions
    if any(r.get("attributions") is not None for r in rows):
        attr_names = _union_keys(r.get("attributions") or {} for r in rows)
        batch["attributions"] = {
            name: [(r.get("attributions") or {}).get(name) for r in rows] for name in attr_names
        }
    return orjson.dumps(batch, option=DUMP_OPTIONS)


def _union_keys(mappings: Iterable[Mapping[str, object]]) -> list[str]:
    names: dict[str, None] = {}
    for m in mappings:
        names.update(dict.fromkeys(m))
    return list(names)
