"""The fields of capture and label messages, read and checked one by one (shared by every JSON parse path):
the JSON document, the model key, inference ids, predictions, timestamps, and lists of values -> a
:class:`Column`. Each raises :class:`BadRecordError` with a dead-letter reason."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.columns.columns import (
    Column,
    classify_numbers,
    column_from_values,
    object_array,
    text_column,
)
from streamdrift.errors import BadRecordError
from streamdrift.ingest.limits import Checks

SCALARS: Final[frozenset[type]] = frozenset({int, float, str, bool, type(None)})
NUMBERS: Final[frozenset[type]] = frozenset({int, float, type(None)})
TEXT_TYPES: Final[frozenset[type]] = frozenset({str, type(None)})
NONE_ONLY: Final[frozenset[type]] = frozenset({type(None)})
DICTS: Final[frozenset[type]] = frozenset({dict})
DICT_OR_NONE: Final[frozenset[type]] = frozenset({dict, type(None)})
INT_TYPES: Final[frozenset[type]] = frozenset({int, float})


def load_json(value: bytes, max_bytes: int) -> dict[str, Any]:
    """One message as a JSON object."""
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


def model_key(obj: Mapping[str, Any], checks: Checks) -> tuple[str, str | None]:
    """(model_id, model_version as text or None) of a record or batch."""
    model_id = obj.get("model_id")
    if model_id is None:
        raise BadRecordError("missing_field", "model_id")
    if not isinstance(model_id, str) or not model_id:
        raise BadRecordError("wrong_type", "model_id must be a non-empty string")
    version = obj.get("model_version")
    if version is not None and (not isinstance(version, str | int) or isinstance(version, bool)):
        raise BadRecordError("wrong_type", "model_version must be a string")
    key = model_id, None if version is None else str(version)
    checks.model_key(*key)
    return key


def inference_id(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadRecordError("wrong_type", "inference_id must be a string")


def prediction(pred: object) -> tuple[object, object]:
    """(label, score) of a record's ``prediction`` (a scalar, or an object with ``label`` / ``score``)."""
    if type(pred) is dict:
        label = pred.get("label")
        score = pred.get("score")
        if type(label) not in SCALARS:
            raise BadRecordError("wrong_type", "prediction.label must be a scalar")
        if type(score) not in NUMBERS:
            raise BadRecordError("wrong_type", "prediction.score must be a number")
        return label, score
    if type(pred) not in SCALARS:
        raise BadRecordError("wrong_type", "prediction must be a scalar or {label, score}")
    return pred, None


def timestamp_ms(value: object, fallback: int | None, checks: Checks) -> int:
    """Epoch milliseconds of a record's ``timestamp`` (``fallback``, the Kafka timestamp, when absent)."""
    if value is None:
        if fallback is None:
            raise BadRecordError("missing_field", "timestamp")
        checks.timestamp(fallback, "the Kafka timestamp")
        return fallback
    if isinstance(value, bool):
        raise BadRecordError("bad_timestamp", "a boolean")
    if isinstance(value, int | float):
        checks.timestamp(value)
        return int(value)
    if isinstance(value, str):
        ms = iso_ms(value)
        checks.timestamp(ms, f"timestamp {value[:40]!r} =")
        return ms
    raise BadRecordError("bad_timestamp", f"a {type(value).__name__}")


def iso_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRecordError("bad_timestamp", f"not ISO-8601: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def column(values: Sequence[object], checks: Checks, allowed: frozenset[type] | None = None,
           what: str = "values") -> Column:
    """:func:`column_from_values` with a vectorized path for text columns (JSON strings are STRING rows).

    With ``allowed``, raises BadRecordError (wrong_type) when a value's type is not in it; ``too_long`` when a
    text value is longer than the limit.
    """
    plain = plain_numbers(values)
    if plain is not None:  # only int / float: allowed everywhere, no per-value type scan
        numbers, kinds = classify_numbers(plain)
        return Column(numbers, kinds, None)
    types = set(map(type, values))
    if allowed is not None and not types <= allowed:
        raise BadRecordError("wrong_type", f"{what}: values must be {type_names(allowed)}")
    if values and types <= TEXT_TYPES:
        checks.texts(values, what)
        return text_column(object_array(values), type(None) in types)
    if types <= NUMBERS:  # skip column_from_values' second type scan
        try:
            numbers, kinds = classify_numbers(np.array(values, dtype=np.float64).reshape(-1))
            return Column(numbers, kinds, None)
        except OverflowError:
            pass
    if str in types:
        checks.texts(values, what)
    return column_from_values(values)


def plain_numbers(values: Sequence[object]) -> NDArray[np.float64] | None:
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
    if maybe_bool.size and not INT_TYPES.issuperset(map(type, map(values.__getitem__, maybe_bool.tolist()))):
        return None
    return numbers


def type_names(allowed: frozenset[type]) -> str:
    return "numbers" if allowed is NUMBERS else "scalars"


def checked_list(value: object, what: str, n: int, allowed: frozenset[type] | None = None) -> list[object]:
    """``value`` when it is a list of ``n`` items (of ``allowed`` types, when given)."""
    if not isinstance(value, list):
        raise BadRecordError("bad_batch", f"{what} must be a list")
    if len(value) != n:
        raise BadRecordError("bad_batch", f"{what} has {len(value)} values, n is {n}")
    if allowed is not None and not allowed.issuperset(map(type, value)):
        raise BadRecordError("wrong_type", f"{what}: values must be {type_names(allowed)}")
    return value
