"""Columnar capture batches in Apache Arrow IPC: the capture SDK writes them, the worker reads them without
a Python object per value.

One Kafka message is one Arrow IPC *stream* (it starts with the continuation marker ``FF FF FF FF``, which no
JSON message can) holding the rows of ONE model. The schema's metadata names the format and the model::

    streamdrift.format = "columnar-arrow"   schema_version = "1" (absent: "1")
    model_id = "m"                          model_version = "3" (absent: unversioned)

(``schemas/columnar_batch_arrow.schema.json`` is the JSON Schema of that metadata and documents the fields.)

Fields (any other field is ignored):

- ``timestamp``: integer epoch milliseconds or an Arrow timestamp (any unit); null rows take the Kafka
  message timestamp. Absent: every row takes the message timestamp.
- ``inference_id``: text (plain or dictionary-encoded) or integers; optional.
- ``features``: a struct, one child per feature: integer / floating (NaN and infinities are bad input, as in
  JSON), boolean, text (plain or dictionary-encoded, the cheap form for categories) or null. A null row is
  MISSING. The rows read exactly as the same values in a JSON columnar batch do.
- ``prediction``: a scalar column, or a struct with ``label`` (scalar) and ``score`` (number); optional.
- ``attributions``: a struct of numeric children; optional.

Anything else (another Arrow type, a bad timestamp, NaN) dead-letters the whole batch with the same reason
tags as the JSON path, and so does a value beyond the limits (:mod:`streamdrift.ingest.limits`): before pyarrow
reads a message, its headers are read (:mod:`streamdrift.ingest.arrow_ipc`) and a message whose buffers would
decompress past ``max_decoded_bytes`` (``too_large``) or that declares more rows than allowed for that size
(``too_many_rows``, e.g. an empty struct of 2^40 rows) is refused without being decompressed.
:func:`encode_arrow_batch` (:mod:`streamdrift.ingest.arrow_encode`) returns None when the rows cannot be typed
column by column (a feature holding both text and numbers): the SDK then sends that batch as a JSON columnar
batch.

pyarrow is imported on first use, so a worker that never sees an Arrow batch does not load it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, cast

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureColumns
from streamdrift.columns.columns import Categories, Column, Columns, Kind, classify_numbers
from streamdrift.errors import BadRecordError
from streamdrift.ingest.arrow_encode import (
    ARROW_MAGIC,
    FORMAT,
    VERSION,
    arrow_message,
    encode_arrow_batch,
    finite_or_null,
    scalar_array,
    stream_bytes,
    struct_array,
)
from streamdrift.ingest.arrow_ipc import ipc_extent
from streamdrift.ingest.limits import DEFAULT_CHECKS, Checks

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ARROW_MAGIC", "FORMAT", "VERSION", "ArrowBatch", "ArrowGroup", "arrow_message", "decode_arrow_batch",
           "encode_arrow_batch", "finite_or_null", "is_arrow_batch", "read_arrow_poll", "scalar_array", "stream_bytes",
           "struct_array"]

_MS_PER_UNIT: Final[dict[str, float]] = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


def is_arrow_batch(value: bytes) -> bool:
    """Whether a capture message is an Arrow batch (JSON never starts with byte 0xFF)."""
    return value[:4] == ARROW_MAGIC


@dataclass(frozen=True, slots=True)
class ArrowBatch:
    """A decoded Arrow batch: the model and the same columns a JSON columnar batch gives."""

    model_id: str
    model_version: str | None
    rows: CaptureColumns


# ----------------------------------------------------------------------------------------------- decode


def decode_arrow_batch(value: bytes, fallback_ms: int | None, checks: Checks = DEFAULT_CHECKS) -> ArrowBatch:
    """Read one Arrow batch message; BadRecordError (with a dead-letter reason) when it cannot be used."""
    import pyarrow as pa

    table = _read_table(value, checks)
    model_id, model_version = _model_of(table.schema.metadata or {}, checks)
    try:
        return ArrowBatch(model_id, model_version, _decode_table(table, fallback_ms, checks))
    except (pa.ArrowException, ValueError, IndexError, KeyError) as exc:  # a form the checks above missed
        raise BadRecordError("bad_batch", f"unreadable Arrow batch: {type(exc).__name__}: {exc}"[:200]) from None


@dataclass(frozen=True, slots=True)
class ArrowGroup:
    """The rows of a poll's Arrow batches of one (model, version), and the message each row came from."""

    model_id: str
    model_version: str | None
    rows: CaptureColumns
    source_index: NDArray[np.int64]


def read_arrow_poll(values: Sequence[bytes], max_bytes: int,
                    checks: Checks = DEFAULT_CHECKS) -> list[ArrowGroup] | None:
    """A poll of only Arrow batches, decoded one (model, version) at a time instead of one message at a time:
    the tables of a model's messages are concatenated and their columns read once (a batch costs a few pyarrow
    and numpy calls per column, so per message they add up). Groups in the order of their first message.

    None when the poll holds anything else, or anything the per-message path must judge message by message: a
    message that is not a clean Arrow batch within ``max_bytes``, a model whose messages differ in schema, or
    rows without a timestamp (each message's fallback differs). The per-message path
    (:func:`decode_arrow_batch`) then reads the poll and names each dead letter; when this returns groups, they
    hold exactly the rows it would give (``tests/unit/test_arrowbatch.py``)."""
    import pyarrow as pa

    tables: dict[tuple[str, str | None], list[pa.Table]] = {}
    sources: dict[tuple[str, str | None], list[NDArray[np.int64]]] = {}
    try:
        for index, value in enumerate(values):
            if not is_arrow_batch(value) or len(value) > max_bytes:
                return None
            table = _read_table(value, checks)
            key = _model_of(table.schema.metadata or {}, checks)
            same = tables.setdefault(key, [])
            if same and not table.schema.equals(same[0].schema, check_metadata=False):
                return None
            same.append(table)
            sources.setdefault(key, []).append(np.full(table.num_rows, index, dtype=np.int64))
        out: list[ArrowGroup] = []
        for (model_id, model_version), parts in tables.items():
            table = parts[0] if len(parts) == 1 else pa.concat_tables(parts).unify_dictionaries()
            rows = _decode_table(table, None, checks)
            out.append(ArrowGroup(model_id, model_version, rows, np.concatenate(sources[(model_id, model_version)])))
    except (BadRecordError, pa.ArrowException, ValueError, IndexError, KeyError):
        return None  # the per-message path names the dead letter
    return out


def _read_table(value: bytes, checks: Checks) -> pa.Table:
    """The message's table, fully validated: reading a stream checks only its structure, so text that is not
    UTF-8 or a dictionary index past its dictionary would otherwise reach the decoding (or, in a poll's
    dictionary unification, memory past an array's end). Its declared sizes are checked against the limits
    first, before pyarrow allocates or decompresses anything."""
    import pyarrow as pa

    extent = ipc_extent(value)
    if extent.decoded_bytes > checks.limits.max_decoded_bytes:
        raise BadRecordError("too_large", f"an Arrow batch of {len(value)} bytes decompresses to "
                             f"{extent.decoded_bytes} > max {checks.limits.max_decoded_bytes}")
    checks.rows(max(extent.rows, extent.max_length), extent.decoded_bytes, "the Arrow batch")
    try:
        table = pa.ipc.open_stream(pa.py_buffer(value)).read_all()
        table.validate(full=True)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise BadRecordError("bad_batch", f"not a valid Arrow IPC stream: {exc}") from None
    names = table.schema.names
    if len(set(names)) != len(names):
        raise BadRecordError("bad_batch", "an Arrow batch names a field twice")
    return table


def _decode_table(table: pa.Table, fallback_ms: int | None, checks: Checks) -> CaptureColumns:
    """The rows of a table of one model (one message, or a poll's messages of one schema)."""
    n = table.num_rows
    features = _struct_columns(table, "features", n, checks, numbers_only=False)
    if features is None:
        raise BadRecordError("missing_field", "features")
    prediction, score = _prediction(table, n, checks)
    return CaptureColumns(
        timestamps_ms=_timestamps(table, n, fallback_ms, checks),
        inference_ids=_inference_ids(table, n, checks),
        features=features,
        prediction=prediction,
        score=score,
        attributions=_struct_columns(table, "attributions", n, checks, numbers_only=True),
    )


def _model_of(meta: Mapping[bytes, bytes], checks: Checks) -> tuple[str, str | None]:
    fmt = meta.get(b"streamdrift.format")
    if fmt != FORMAT.encode():
        raise BadRecordError("bad_batch", f"Arrow schema metadata streamdrift.format is {fmt!r}, not {FORMAT!r}")
    version = meta.get(b"schema_version", VERSION.encode())
    if version != VERSION.encode():
        raise BadRecordError("bad_batch", f"unsupported schema_version {version!r} (this build reads {VERSION})")
    raw_id = meta.get(b"model_id")
    if raw_id is None:
        raise BadRecordError("missing_field", "model_id")
    try:
        model_id = raw_id.decode()
        model_version = None if b"model_version" not in meta else meta[b"model_version"].decode()
    except UnicodeDecodeError:
        raise BadRecordError("wrong_type", "model_id / model_version must be UTF-8 text") from None
    if not model_id:
        raise BadRecordError("wrong_type", "model_id must be a non-empty string")
    checks.model_key(model_id, model_version)
    return model_id, model_version


def _field(table: pa.Table, name: str) -> pa.Array | None:
    """The column ``name`` as one array (None when absent)."""
    if name not in table.schema.names:
        return None
    column = table.column(name)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _struct_columns(table: pa.Table, name: str, n: int, checks: Checks, *, numbers_only: bool) -> Columns | None:
    import pyarrow as pa

    arr = _field(table, name)
    if arr is None:
        return None
    if not pa.types.is_struct(arr.type):
        raise BadRecordError("bad_batch", f"{name} must be an Arrow struct, not {arr.type}")
    names = [f.name for f in arr.type]
    checks.names(names, name)
    children = arr.flatten()  # applies the struct's own null rows to every child
    dense = [i for i, child in enumerate(children) if child.null_count == 0 and _is_number(child.type)]
    columns: dict[str, Column | None] = dict.fromkeys(names)
    columns.update(_dense_numbers([names[i] for i in dense], [children[i] for i in dense], name))
    for i, child in enumerate(children):
        if columns[names[i]] is None:
            columns[names[i]] = _column(child, f"{name}.{names[i]}", checks, numbers_only)
    return Columns(n, cast("dict[str, Column]", columns))


def _is_number(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(kind) or pa.types.is_integer(kind))


def _dense_numbers(names: list[str], arrays: list[pa.Array], what: str) -> dict[str, Column]:
    """Numeric children without nulls, classified in one pass over a 2-D block (the common case: one numpy
    call per batch instead of several per feature)."""
    if not arrays:
        return {}
    block = np.vstack([a.to_numpy(zero_copy_only=False) for a in arrays]).astype(np.float64, copy=False)
    finite = np.isfinite(block)
    if not finite.all():
        bad = names[int(np.flatnonzero(~finite.all(axis=1))[0])]
        raise BadRecordError("non_finite", f"{what}.{bad}: NaN or infinity where a number belongs")
    kinds = (block != np.floor(block)).view(np.uint8) + np.uint8(Kind.INTEGRAL)  # as classify_numbers
    return {name: Column(block[row], kinds[row], None) for row, name in enumerate(names)}


def _column(arr: pa.Array, what: str, checks: Checks, numbers_only: bool = False) -> Column:
    """One Arrow array as a :class:`Column`, classified as the same values in JSON would be."""
    import pyarrow as pa

    kind = arr.type
    if pa.types.is_dictionary(kind):
        if not numbers_only and _is_text(kind.value_type):
            column = _dictionary_strings(arr)
            # every dictionary value, used or not (the poll path unifies the dictionaries of a model's batches)
            texts = column.strings if column.categories is None else column.categories.values
            checks.texts(() if texts is None else texts, what)
            return column
        arr = arr.cast(kind.value_type)
        kind = arr.type
    if pa.types.is_null(kind):
        return Column.missing(len(arr))
    if _is_number(kind):
        return Column(*classify_numbers(_finite_numbers(arr, what)), None)
    if numbers_only:
        raise BadRecordError("wrong_type", f"{what}: values must be numbers, not Arrow {kind}")
    if pa.types.is_boolean(kind):
        return _boolean_column(arr)
    if _is_text(kind):
        _check_text(arr, checks, what)
        return _text_column(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object), arr.is_null())
    raise BadRecordError("wrong_type", f"{what}: Arrow type {kind} is not a scalar this format takes")


def _check_text(arr: pa.Array, checks: Checks, what: str, limit: int | None = None) -> None:
    """Every text value of ``arr`` at most ``limit`` (default: ``max_value_chars``) characters long."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if limit is None:
        limit = checks.limits.max_value_chars
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        # UTF-8 bytes, never fewer than characters, from the offsets: characters counted only when one is longer
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32 if pa.types.is_string(arr.type) else np.int64,
                                count=len(arr) + 1, offset=arr.offset * (4 if pa.types.is_string(arr.type) else 8))
        if len(arr) == 0 or int(np.diff(offsets).max()) <= limit:
            return
    elif pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    longest = pc.max(pc.utf8_length(arr)).as_py()
    if longest is not None and longest > limit:
        raise BadRecordError("too_long", f"{what}: a text value of {longest} characters > max {limit}")


def _is_text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def _dictionary_strings(arr: pa.DictionaryArray) -> Column:
    """Text rows of a dictionary array: each distinct value becomes one Python str that the rows share."""
    if arr.dictionary.null_count:  # a null inside the dictionary itself: rare, take the general path
        plain = arr.cast(arr.type.value_type)
        return _text_column(np.asarray(plain.to_numpy(zero_copy_only=False), dtype=object), plain.is_null())
    values = np.asarray(arr.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    indices = arr.indices
    if not indices.null_count:
        codes = np.asarray(indices.to_numpy(), dtype=np.intp)
        return _text_column(values[codes], None, Categories(codes, values))
    codes = np.asarray(indices.fill_null(0).to_numpy(), dtype=np.intp)
    column = _text_column(values[codes], indices.is_null())
    if column.strings is None:
        return column
    return replace(column, categories=Categories(np.where(column.kinds == Kind.STRING, codes, -1), values))


def _finite_numbers(arr: pa.Array, what: str) -> NDArray[np.float64]:
    """float64 values with NaN in null rows; BadRecordError when a present value is NaN or infinite."""
    values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(values)
    if int(np.count_nonzero(~finite)) != arr.null_count:
        raise BadRecordError("non_finite", f"{what}: NaN or infinity where a number belongs")
    return values


def _boolean_column(arr: pa.Array) -> Column:
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    truth = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    strings = np.where(truth, "true", "false").astype(object)
    strings[~valid] = None
    kinds = np.where(valid, np.uint8(Kind.BOOLEAN), np.uint8(Kind.MISSING)).astype(np.uint8)
    return Column(np.full(len(arr), np.nan), kinds, strings if valid.any() else None)


def _text_column(strings: NDArray[np.object_], nulls: pa.BooleanArray | None,
                 categories: Categories | None = None) -> Column:
    """STRING rows, MISSING where ``nulls`` (an Arrow null mask; None: no null row); ``categories`` only
    without nulls."""
    n = strings.size
    if nulls is None or not nulls.true_count:
        return Column(np.full(n, np.nan), np.full(n, Kind.STRING, dtype=np.uint8), strings, categories)
    missing = np.asarray(nulls.to_numpy(zero_copy_only=False), dtype=bool)
    strings[missing] = None
    kinds = np.where(missing, np.uint8(Kind.MISSING), np.uint8(Kind.STRING)).astype(np.uint8)
    return Column(np.full(n, np.nan), kinds, None if missing.all() else strings)


def _timestamps(table: pa.Table, n: int, fallback_ms: int | None, checks: Checks) -> NDArray[np.int64]:
    import pyarrow as pa

    arr = _field(table, "timestamp")
    if arr is None or pa.types.is_null(arr.type):
        if fallback_ms is None:
            raise BadRecordError("missing_field", "timestamp")
        checks.timestamp(fallback_ms, "the Kafka timestamp")
        return np.full(n, fallback_ms, dtype=np.int64)
    kind = arr.type
    if pa.types.is_timestamp(kind):
        arr = arr.cast(pa.int64()).cast(pa.float64())
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64) * _MS_PER_UNIT[kind.unit]
    elif _is_number(kind):
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    else:
        raise BadRecordError("bad_timestamp", f"timestamp must be epoch milliseconds or an Arrow timestamp, not {kind}")
    if arr.null_count:
        if fallback_ms is None:
            raise BadRecordError("missing_field", "timestamp")
        checks.timestamp(fallback_ms, "the Kafka timestamp")
        values = np.where(np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool), fallback_ms, values)
    checks.timestamps(values)
    return values.astype(np.int64)


def _inference_ids(table: pa.Table, n: int, checks: Checks) -> NDArray[np.object_]:
    import pyarrow as pa

    arr = _field(table, "inference_id")
    if arr is None:
        return np.full(n, None, dtype=object)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_integer(arr.type):
        arr = arr.cast(pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
        raise BadRecordError("wrong_type", f"inference_id must be text, not Arrow {arr.type}")
    if pa.types.is_null(arr.type):
        return np.full(n, None, dtype=object)
    _check_text(arr, checks, "inference_id", checks.limits.max_inference_id_chars)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _prediction(table: pa.Table, n: int, checks: Checks) -> tuple[Column | None, NDArray[np.float64] | None]:
    import pyarrow as pa

    arr = _field(table, "prediction")
    if arr is None:
        return None, None
    if not pa.types.is_struct(arr.type):
        return _column(arr, "prediction", checks), None
    parts = dict(zip((f.name for f in arr.type), arr.flatten(), strict=True))
    label = None if "label" not in parts else _column(parts["label"], "prediction.label", checks)
    score = None
    if "score" in parts:
        score = _column(parts["score"], "prediction.score", checks, numbers_only=True).numbers
    return label, score
