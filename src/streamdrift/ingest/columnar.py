"""JSON columnar batches (``schemas/columnar_batch.schema.json``), read from the orjson object: every check, and
the dead-letter reason of a bad batch (which is dead-lettered whole). :mod:`streamdrift.ingest.fastcolumnar`
reads valid batches faster and leaves anything else to this module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureColumns
from streamdrift.columns.columns import Column, Columns, object_array
from streamdrift.errors import BadRecordError
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.values import (
    NUMBERS,
    SCALARS,
    checked_list,
    column,
    inference_id,
    model_key,
    timestamp_ms,
)

__all__ = ["batch_rows", "columnar_ids", "columnar_timestamps", "parse_columnar"]


def parse_columnar(
    obj: Mapping[str, Any], index: int, fallback: int | None, size: int, checks: Checks
) -> tuple[Segment, tuple[str, str | None]]:
    """The rows of one columnar batch of ``size`` bytes, and its (model id, model version)."""
    key = model_key(obj, checks)
    n = batch_rows(obj.get("n"), size, checks)
    features = _named_columns(obj.get("features"), "features", n, SCALARS, checks)
    if features is None:
        raise BadRecordError("missing_field", "features")
    timestamps = columnar_timestamps(obj.get("timestamp"), n, fallback, checks)
    ids = columnar_ids(obj.get("inference_id"), n, checks)
    prediction, score = _columnar_prediction(obj.get("prediction"), n, checks)
    attributions = _named_columns(obj.get("attributions"), "attributions", n, NUMBERS, checks)
    rows = CaptureColumns(timestamps, ids, features, prediction, score, attributions)
    return Segment(rows, np.full(n, index, dtype=np.int64)), key


def batch_rows(n: object, size: int, checks: Checks) -> int:
    """The batch's declared row count ``n``, within the limits for a message of ``size`` bytes."""
    if type(n) is not int or n < 0:
        raise BadRecordError("bad_batch", "n must be a non-negative integer")
    checks.rows(n, size)
    return n


def _named_columns(value: object, what: str, n: int, allowed: frozenset[type], checks: Checks) -> Columns | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRecordError("bad_batch", f"{what} must be an object of lists")
    checks.names(value, what)
    return Columns(n, {name: column(checked_list(v, f"{what}.{name}", n), checks, allowed, f"{what}.{name}")
                       for name, v in value.items()})


def columnar_timestamps(value: object, n: int, fallback: int | None, checks: Checks) -> NDArray[np.int64]:
    if value is None:
        if fallback is None:
            raise BadRecordError("missing_field", "timestamp")
        checks.timestamp(fallback, "the Kafka timestamp")
        return np.full(n, fallback, dtype=np.int64)
    if not isinstance(value, list) or len(value) != n:
        raise BadRecordError("bad_batch", f"timestamp must be a list of n={n} values")
    try:
        arr = np.asarray(value) if n else np.zeros(0, dtype=np.int64)
    except ValueError:  # nested lists of different lengths: the per-value path names them
        arr = np.zeros(0, dtype=np.object_)
    if arr.dtype.kind in "iuf" and arr.ndim == 1:  # bool lists are dtype bool -> slow path -> bad_timestamp
        checks.timestamps(arr)
        return arr.astype(np.int64)
    return np.array([timestamp_ms(v, fallback, checks) for v in value], dtype=np.int64)


def columnar_ids(value: object, n: int, checks: Checks) -> NDArray[np.object_]:
    if value is None:
        return np.full(n, None, dtype=object)
    if not isinstance(value, list) or len(value) != n:
        raise BadRecordError("bad_batch", f"inference_id must be a list of n={n} values")
    if not {str, type(None)}.issuperset(map(type, value)):
        value = [inference_id(v) for v in value]
    checks.inference_ids(value)
    return object_array(value)


def _columnar_prediction(value: object, n: int, checks: Checks) -> tuple[Column | None, NDArray[np.float64] | None]:
    if value is None:
        return None, None
    if isinstance(value, list):
        return column(checked_list(value, "prediction", n), checks, SCALARS, "prediction"), None
    if not isinstance(value, dict):
        raise BadRecordError("bad_batch", "prediction must be a list or {label: [...], score: [...]}")
    labels = value.get("label")
    scores = value.get("score")
    label_col = None if labels is None else column(
        checked_list(labels, "prediction.label", n), checks, SCALARS, "prediction.label")
    score_arr = (
        None if scores is None else np.array(checked_list(scores, "prediction.score", n, NUMBERS), dtype=np.float64)
    )
    return label_col, score_arr
