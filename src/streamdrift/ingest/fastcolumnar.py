"""JSON columnar batches read with simdjson (pysimdjson): numeric lists become float64 arrays in C, without a
Python float per value. Only provably valid batches within the limits are read here; anything else returns
None and :mod:`streamdrift.ingest.columnar` reads it (and names the dead letter), giving the same columns for
the batches both read."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureColumns
from streamdrift.columns.columns import Column, Columns, classify_numbers
from streamdrift.errors import BadRecordError
from streamdrift.ingest.columnar import batch_rows, columnar_ids, columnar_timestamps
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.values import NUMBERS, SCALARS, checked_list, column, model_key

__all__ = ["FAST_MIN_BYTES", "fast_columnar", "fast_min_bytes", "simdjson"]


def _optional_simdjson() -> ModuleType | None:
    """pysimdjson when installed: reads columnar batches' numeric lists into numpy without a Python float per
    value. Optional: without it the orjson path does everything, only slower."""
    try:
        return importlib.import_module("simdjson")
    except ImportError:  # pragma: no cover - depends on the environment
        return None


simdjson: Final[Any] = _optional_simdjson()

FAST_MIN_BYTES: Final[int] = 4096  # smaller messages (single records) are cheaper through orjson
_FAST_ERRORS: Final = (ValueError, TypeError, RuntimeError, KeyError, AttributeError, BadRecordError)
_OPEN_BRACKET: Final[int] = ord("[")


def fast_min_bytes(fast_columnar: bool | None) -> int | None:
    """Smallest message read with simdjson (None: none)."""
    if simdjson is None or fast_columnar is False:
        return None
    return 0 if fast_columnar else FAST_MIN_BYTES


class _ArrayCount:
    """Arrays read from one message (to prove none was nested: see :func:`fast_columnar`)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def fast_columnar(value: bytes, index: int, fallback: int | None,
                  checks: Checks) -> tuple[Segment, tuple[str, str | None]] | None:
    """A valid columnar batch read with simdjson: numeric lists become float64 arrays in C.

    None for anything else -- not a columnar batch, invalid in any way or beyond a limit, duplicate keys (orjson
    keeps the last, simdjson the first), a nested array (simdjson would flatten it), a ``[`` inside a string --
    and the orjson path then parses the message, names the dead-letter reason, or produces the same columns.
    """
    try:
        doc = simdjson.Parser().parse(value)
        if not isinstance(doc, simdjson.Object) or doc.get("format") != "columnar" or _dup_keys(doc):
            return None
        arrays = _ArrayCount()
        out = _fast_segment_of(doc, index, fallback, len(value), checks.for_json(value), arrays)
    except _FAST_ERRORS:
        return None
    if out is None or np.count_nonzero(np.frombuffer(value, dtype=np.uint8) == _OPEN_BRACKET) != arrays.n:
        return None
    return out


def _fast_segment_of(
    doc: Any, index: int, fallback: int | None, size: int, checks: Checks, arrays: _ArrayCount
) -> tuple[Segment, tuple[str, str | None]] | None:
    key = model_key({"model_id": doc.get("model_id"), "model_version": doc.get("model_version")}, checks)
    n = batch_rows(doc.get("n"), size, checks)
    features = _fast_named(doc.get("features"), n, arrays, checks, "features")
    if features is None:
        return None
    stamps = doc.get("timestamp")
    if stamps is None:
        timestamps = columnar_timestamps(None, n, fallback, checks)
    else:
        values = _fast_numbers(stamps, n, arrays)
        checks.timestamps(values)
        timestamps = values.astype(np.int64)  # exact: valid stamps are < 2**53
    ids = doc.get("inference_id")
    prediction, score = _fast_prediction(doc.get("prediction"), n, arrays, checks)
    raw_attributions = doc.get("attributions")
    attributions = None
    if raw_attributions is not None:
        attributions = _fast_named(raw_attributions, n, arrays, checks, "attributions", NUMBERS)
        if attributions is None:  # not an object: the orjson path names it
            return None
    segment = Segment(
        CaptureColumns(
            timestamps_ms=timestamps,
            inference_ids=columnar_ids(None if ids is None else _fast_list(ids, n, arrays), n, checks),
            features=features,
            prediction=prediction,
            score=score,
            attributions=attributions,
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


def _fast_column(arr: Any, n: int, arrays: _ArrayCount, checks: Checks, what: str,
                 allowed: frozenset[type] = SCALARS) -> Column:
    try:
        numbers, kinds = classify_numbers(_fast_numbers(arr, n, arrays))
        return Column(numbers, kinds, None)
    except TypeError:  # not only numbers: the values as Python objects, checked as on the orjson path
        arrays.n -= 1
    return column(_fast_list(arr, n, arrays), checks, allowed, what)


def _fast_named(obj: Any, n: int, arrays: _ArrayCount, checks: Checks, what: str,
                allowed: frozenset[type] = SCALARS) -> Columns | None:
    """Named lists; the all-number ones are classified together, as one 2-D block."""
    if not isinstance(obj, simdjson.Object):
        return None
    names = list(obj.keys())
    if len(set(names)) != len(names):  # duplicate keys: orjson keeps the last value, simdjson the first
        return None
    checks.names(names, what)
    numeric: dict[str, NDArray[np.float64]] = {}
    other: dict[str, Column] = {}
    for name in names:
        arr = obj[name]
        try:
            numeric[name] = _fast_numbers(arr, n, arrays)
        except TypeError:  # not only numbers: the values as Python objects, checked as on the orjson path
            arrays.n -= 1
            other[name] = column(_fast_list(arr, n, arrays), checks, allowed, f"{what}.{name}")
    if numeric:
        block = np.empty((len(numeric), n))
        for i, values in enumerate(numeric.values()):
            block[i] = values
        numbers, kinds = classify_numbers(block)  # simdjson never yields a non-finite number
        other.update((name, Column(numbers[i], kinds[i], None)) for i, name in enumerate(numeric))
    return Columns(n, {name: other[name] for name in names})


def _fast_prediction(
    value: Any, n: int, arrays: _ArrayCount, checks: Checks
) -> tuple[Column | None, NDArray[np.float64] | None]:
    if value is None:
        return None, None
    if isinstance(value, simdjson.Array):
        return _fast_column(value, n, arrays, checks, "prediction"), None
    if not isinstance(value, simdjson.Object) or _dup_keys(value):
        raise BadRecordError("bad_batch", "prediction")
    labels, scores = value.get("label"), value.get("score")
    label = None if labels is None else _fast_column(labels, n, arrays, checks, "prediction.label")
    if scores is None:
        return label, None
    try:
        return label, _fast_numbers(scores, n, arrays)
    except TypeError:  # nulls among the scores
        arrays.n -= 1
    listed = checked_list(_fast_list(scores, n, arrays), "prediction.score", n, NUMBERS)
    return label, np.array(listed, dtype=np.float64)
