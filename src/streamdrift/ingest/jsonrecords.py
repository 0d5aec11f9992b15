"""Runs of JSON capture records of one model -> :class:`Segment` columns: column-wise checks over the whole run,
record by record only when one fails (that slow path names each bad record's dead-letter reason).

A run whose records name more than ``max_features`` features (or attributions) in all is cut into consecutive
runs that each name at most that many (:func:`runs_within`), so no columns are padded to more names than that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, pairwise, repeat
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureColumns
from streamdrift.columns.columns import Column, Columns, classify_numbers, object_array
from streamdrift.errors import BadRecordError, StreamdriftError
from streamdrift.ingest.deadletters import DeadLetter, dead_letter
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.values import (
    DICT_OR_NONE,
    DICTS,
    INT_TYPES,
    NONE_ONLY,
    NUMBERS,
    SCALARS,
    TEXT_TYPES,
    column,
    inference_id,
    model_key,
    prediction,
    timestamp_ms,
)

__all__ = ["check_record", "runs_within", "segments_from_records"]


def segments_from_records(
    records: list[dict[str, Any]], sources: list[int], fallback: Sequence[int] | None, dead: list[DeadLetter],
    checks: Checks,
) -> list[Segment]:
    """Columns of a run of JSON records of one model (in input order); bad records become dead letters."""
    try:
        return _fast_segments(records, sources, fallback, checks)
    except BadRecordError:
        pass
    good: list[dict[str, Any]] = []
    good_sources: list[int] = []
    for obj, index in zip(records, sources, strict=True):
        try:
            check_record(obj, None if fallback is None else int(fallback[index]), checks)
        except BadRecordError as exc:
            dead.append(dead_letter(index, exc))
            continue
        good.append(obj)
        good_sources.append(index)
    if not good:
        return []
    try:
        return _fast_segments(good, good_sources, fallback, checks)
    except BadRecordError as exc:  # pragma: no cover - check_record checks all that _fast_segments does
        dead.extend(dead_letter(index, exc) for index in good_sources)
        return []


def check_record(obj: Mapping[str, Any], fallback: int | None, checks: Checks) -> None:
    """Raise BadRecordError for the first problem of one JSON record (the slow path that names the reason)."""
    model_key(obj, checks)
    features = obj.get("features")
    if features is None:
        raise BadRecordError("missing_field", "features")
    if not isinstance(features, dict):
        raise BadRecordError("wrong_type", "features must be an object")
    if not SCALARS.issuperset(map(type, features.values())):
        raise BadRecordError("wrong_type", f"feature values must be scalars: {_first_bad(features, SCALARS)}")
    checks.names(features, "features")
    checks.texts(features.values(), "features")
    timestamp_ms(obj.get("timestamp"), fallback, checks)
    ident = inference_id(obj.get("inference_id"))
    checks.text(ident, "inference_id", checks.limits.max_inference_id_chars)
    label, _ = prediction(obj.get("prediction"))
    checks.text(label, "prediction")
    attributions = obj.get("attributions")
    if attributions is not None:
        if not isinstance(attributions, dict):
            raise BadRecordError("wrong_type", "attributions must be an object")
        if not NUMBERS.issuperset(map(type, attributions.values())):
            raise BadRecordError(
                "wrong_type", f"attributions must be numbers: {_first_bad(attributions, NUMBERS)}"
            )
        checks.names(attributions, "attributions")


def _first_bad(values: Mapping[str, object], allowed: frozenset[type]) -> str:
    for name, v in values.items():
        if type(v) not in allowed:
            return f"{name!r} is a {type(v).__name__}"
    return ""  # pragma: no cover - only called when one is bad


def runs_within(name_sets: Sequence[Sequence[Mapping[str, object]]], limit: int) -> list[int]:
    """Where to cut a sequence of items so that each run's items name at most ``limit`` keys in each of the
    given key sets (``name_sets[k][i]``: the k-th mapping of item i; each alone within the limit): the start of
    every run after the first, in order (greedy)."""
    cuts: list[int] = []
    unions: list[set[str]] = [set() for _ in name_sets]
    for i, maps in enumerate(zip(*name_sets, strict=True)):
        grown = [u.union(m) for u, m in zip(unions, maps, strict=True)]
        if any(len(g) > limit for g in grown):
            cuts.append(i)
            grown = [set(m) for m in maps]
        unions = grown
    return cuts


class _TooManyNames(StreamdriftError):
    """Internal: the run's records name more than ``max_features`` features (or attributions) in all."""


def _fast_segments(
    records: list[dict[str, Any]], sources: list[int], fallback: Sequence[int] | None, checks: Checks
) -> list[Segment]:
    """Columns of valid records, cut into runs of at most ``max_features`` names when they name more; raises
    BadRecordError (any reason) as soon as something is wrong."""
    features: list[dict[str, Any]] = list(map(dict.get, records, repeat("features")))  # type: ignore[arg-type]
    if not DICTS.issuperset(map(type, features)):
        raise BadRecordError("wrong_type", "features")
    attributions = list(map(dict.get, records, repeat("attributions")))
    has_attributions = not NONE_ONLY.issuperset(map(type, attributions))
    if has_attributions and not DICT_OR_NONE.issuperset(map(type, attributions)):
        raise BadRecordError("wrong_type", "attributions")
    attribution_rows = [a or {} for a in attributions] if has_attributions else None
    try:
        return [_fast_segment(records, sources, fallback, checks, features, attribution_rows)]
    except _TooManyNames:
        pass
    limit = checks.limits.max_features
    if max(map(len, features)) > limit or (attribution_rows is not None and max(map(len, attribution_rows)) > limit):
        raise BadRecordError("too_many_features", "a record has too many")  # the slow path names it
    cuts = runs_within([features] if attribution_rows is None else [features, attribution_rows], limit)
    edges = [0, *cuts, len(records)]
    return [_fast_segment(records[a:b], sources[a:b], fallback, checks, features[a:b],
                          None if attribution_rows is None else attribution_rows[a:b])
            for a, b in pairwise(edges)]


def _fast_segment(
    records: list[dict[str, Any]], sources: list[int], fallback: Sequence[int] | None, checks: Checks,
    features: list[dict[str, Any]], attributions: list[dict[str, Any]] | None,
) -> Segment:
    ids = list(map(dict.get, records, repeat("inference_id")))
    if not TEXT_TYPES.issuperset(map(type, ids)):
        ids = [inference_id(v) for v in ids]
    checks.inference_ids(ids)
    label, score = _prediction_columns(list(map(dict.get, records, repeat("prediction"))), checks)
    return Segment(
        CaptureColumns(
            timestamps_ms=_timestamps(list(map(dict.get, records, repeat("timestamp"))), sources, fallback, checks),
            inference_ids=object_array(ids),
            features=_columns_from_rows(features, SCALARS, checks, "features"),
            prediction=label,
            score=score,
            attributions=None if attributions is None else _columns_from_rows(attributions, NUMBERS, checks,
                                                                              "attributions"),
        ),
        source_index=np.array(sources, dtype=np.int64),
    )


def _columns_from_rows(rows: Sequence[Mapping[str, object]], allowed: frozenset[type], checks: Checks,
                       what: str) -> Columns:
    """Rows (dicts) to columns; a feature absent from a row is MISSING; values must be of ``allowed`` types."""
    lists = _same_keys_columns(rows)
    if lists is None:  # rows with different keys: absent = None = MISSING
        names = list(dict.fromkeys(chain.from_iterable(rows)))
        if len(names) > checks.limits.max_features:  # the caller cuts the rows into runs naming fewer
            raise _TooManyNames
        checks.names(names, what)  # before the lists (names x rows) are built
        block = _numeric_block(rows, names)
        if block is not None:  # sparse numeric features: classified at once, not padded list by list
            numbers, kinds = classify_numbers(block)
            return Columns(len(rows), {name: Column(numbers[i], kinds[i], None) for i, name in enumerate(names)})
        lists = (names, [[row.get(name) for row in rows] for name in names])
    else:
        checks.names(lists[0], what)
    names, values = lists
    return Columns(len(rows), {name: column(v, checks, allowed, f"{what}.{name}")
                               for name, v in zip(names, values, strict=True)})


def _numeric_block(rows: Sequence[Mapping[str, object]], names: list[str]) -> NDArray[np.float64] | None:
    """The rows' values as one (names x rows) float64 block, NaN (MISSING) where a row lacks a name, when every
    value is an int, a float or None and fits a double; else None. The same numbers and kinds :func:`column`
    gives name by name, at a cost per value present instead of per cell."""
    if len(names) < 2 or not NUMBERS.issuperset(map(type, chain.from_iterable(row.values() for row in rows))):
        return None
    position = dict(zip(names, range(len(names)), strict=True))
    block = np.full((len(names), len(rows)), np.nan)
    try:
        for j, row in enumerate(rows):
            if row:
                block[list(map(position.__getitem__, row)), j] = list(row.values())
    except OverflowError:
        return None
    return block


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


def _timestamps(raw: list[object], sources: list[int], fallback: Sequence[int] | None,
                checks: Checks) -> NDArray[np.int64]:
    if INT_TYPES.issuperset(map(type, raw)):
        arr = np.array(raw)
        if arr.dtype.kind in "iuf":
            checks.timestamps(arr)
            return arr.astype(np.int64)
    return np.array(
        [timestamp_ms(v, None if fallback is None else int(fallback[i]), checks)
         for v, i in zip(raw, sources, strict=True)],
        dtype=np.int64,
    )


def _prediction_columns(preds: list[object], checks: Checks) -> tuple[Column | None, NDArray[np.float64] | None]:
    types = set(map(type, preds))
    if types <= NONE_ONLY:
        return None, None
    if types <= SCALARS:
        return column(preds, checks, None, "prediction"), None
    if types <= DICTS:  # {"label", "score"} objects: column-wise, C-level lookups
        labels: list[object] = list(map(dict.get, preds, repeat("label")))  # type: ignore[arg-type]
        scores: list[object] = list(map(dict.get, preds, repeat("score")))  # type: ignore[arg-type]
    elif types <= DICT_OR_NONE:
        labels = [None if p is None else p.get("label") for p in preds]  # type: ignore[attr-defined]
        scores = [None if p is None else p.get("score") for p in preds]  # type: ignore[attr-defined]
    else:
        pairs = [prediction(p) for p in preds]
        labels = [label for label, _ in pairs]
        scores = [score for _, score in pairs]
    label_types = set(map(type, labels))
    label_col = None if label_types <= NONE_ONLY else column(labels, checks, SCALARS, "prediction.label")
    score_types = set(map(type, scores))
    if not score_types <= NUMBERS:
        raise BadRecordError("wrong_type", "prediction.score must be a number")
    score_arr = None if score_types <= NONE_ONLY else np.array(scores, dtype=np.float64)
    return label_col, score_arr
