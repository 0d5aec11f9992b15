"""Arrow record batches (CSV blocks, Parquet row groups) into chunks: typed feature columns, event timestamps
(epoch milliseconds from timestamps, integers or ISO-8601 text), ids and role values."""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from streamdrift.columns.chunks import MISSING_TIMESTAMP, Chunk
from streamdrift.columns.columns import Column, Columns, Kind, column_from_arrow, columns_from_arrow
from streamdrift.errors import InputFileError
from streamdrift.ingest.files.base import ReadOptions, split_roles

_FRACTION_BEYOND_MS: Final[str] = r"(:\d{2}\.\d{3})\d+"
_NAIVE_DATE_TIME: Final[str] = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"


def timestamps_from_arrow(array: pa.Array | pa.ChunkedArray) -> NDArray[np.int64]:
    """Epoch milliseconds of an Arrow column: timestamps, integers (taken as ms), floats or ISO-8601 text."""
    arr = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    typ = arr.type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        # truncating: a CSV column pyarrow typed as timestamp[ns] (microsecond text) would fail a safe cast
        ms = pc.cast(pc.cast(arr, pa.timestamp("ms", tz=getattr(typ, "tz", None)), safe=False), pa.int64())
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ):
        ms = pc.cast(arr, pa.int64(), safe=False)
    elif pa.types.is_string(typ):
        ms = _text_timestamps(arr)
    elif pa.types.is_large_string(typ) or pa.types.is_string_view(typ):  # pandas 3 / polars text columns
        ms = _text_timestamps(pc.cast(arr, pa.string()))
    else:
        raise InputFileError(f"timestamp column of type {typ} is not supported")
    return np.asarray(ms.fill_null(MISSING_TIMESTAMP).to_numpy(zero_copy_only=False), dtype=np.int64)


def _text_timestamps(arr: pa.Array) -> pa.Array:
    stripped = pc.utf8_trim_whitespace(arr)
    numeric = pc.match_substring_regex(stripped, r"^[+-]?\d+$")
    as_int = pc.if_else(numeric, stripped, None)
    ints = pc.cast(as_int, pa.int64())
    iso = _normalized_iso(pc.if_else(numeric, None, stripped))
    try:
        parsed = pc.cast(pc.cast(iso, pa.timestamp("ms", tz="UTC")), pa.int64())
    except pa.ArrowInvalid:
        parsed = pa.array([_parse_iso_ms(v) for v in iso.to_pylist()], type=pa.int64())
    return pc.coalesce(ints, parsed)


def _normalized_iso(text: pa.Array) -> pa.Array:
    """RFC 3339 / ISO-8601 text in the form Arrow's millisecond cast accepts (vectorized): fractional seconds
    truncated to milliseconds (Arrow rejects more digits than the unit holds, e.g. Python's ``isoformat()``
    microseconds), lower-case ``t`` / ``z`` upper-cased, and a date-time without a zone offset taken as UTC."""
    upper = pc.utf8_upper(text)
    truncated = pc.replace_substring_regex(upper, _FRACTION_BEYOND_MS, r"\1")
    naive = pc.match_substring_regex(truncated, _NAIVE_DATE_TIME)
    return pc.if_else(naive, pc.binary_join_element_wise(truncated, "Z", ""), truncated)


def _parse_iso_ms(value: str | None) -> int | None:
    """Slow path for a batch with some unparseable timestamps: parse one value, None when invalid."""
    if value is None:
        return None
    try:
        return int(pc.cast(pa.array([value]), pa.timestamp("ms", tz="UTC")).cast(pa.int64())[0].as_py())
    except pa.ArrowInvalid:
        return None


def ids_from_arrow(array: pa.Array | pa.ChunkedArray) -> NDArray[np.object_]:
    text = pc.cast(array, pa.string())
    return np.asarray(text.to_pylist(), dtype=object)


def arrow_chunk(batch: pa.RecordBatch, opts: ReadOptions, lines: NDArray[np.int64], position: int) -> Chunk:
    names = batch.schema.names
    ts = timestamps_from_arrow(batch.column(names.index(opts.timestamp_column))) if opts.timestamp_column else None
    ids = ids_from_arrow(batch.column(names.index(opts.id_column))) if opts.id_column else None
    drop = opts.exclude | {c for c in (opts.timestamp_column, opts.id_column) if c is not None}
    role_names = opts.roles.names() if opts.roles is not None else frozenset()
    keep = [i for i, n in enumerate(names) if n not in drop and n not in role_names]
    features = batch.select(keep) if len(keep) != len(names) else batch
    roles = {n: column_from_arrow(batch.column(names.index(n))) for n in role_names if n in names}
    _, extras = split_roles(Columns(batch.num_rows, roles), opts.roles)
    return Chunk(typed_columns(features), ts, ids, lines, position, **extras)


def typed_columns(batch: pa.RecordBatch) -> Columns:
    """Columns of a typed batch; whole numbers of floating-point columns count as Fractional (a ``3.0`` cell)."""
    columns = columns_from_arrow(batch)
    floating = [f.name for f in batch.schema if pa.types.is_floating(f.type)]
    if not floating:
        return columns
    out = dict(columns.columns)
    for name in floating:
        col = out[name]
        kinds = col.kinds.copy()
        kinds[kinds == Kind.INTEGRAL] = Kind.FRACTIONAL
        out[name] = Column(col.numbers, kinds, col.strings)
    return Columns(columns.n_rows, out)
