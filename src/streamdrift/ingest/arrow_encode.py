"""Capture rows as an Apache Arrow IPC columnar batch (the capture SDK's ``arrow`` format; read back by
:mod:`streamdrift.ingest.arrow`, whose docstring describes the message). pyarrow is imported on first use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ARROW_MAGIC", "FORMAT", "VERSION", "arrow_message", "encode_arrow_batch", "finite_or_null",
           "scalar_array", "stream_bytes", "struct_array"]

ARROW_MAGIC: Final[bytes] = b"\xff\xff\xff\xff"  # Arrow IPC continuation marker: first bytes of every stream
FORMAT: Final[str] = "columnar-arrow"
VERSION: Final[str] = "1"


def encode_arrow_batch(
    model_id: str, rows: Sequence[Mapping[str, Any]], *, model_version: str | None = None
) -> bytes | None:
    """An Arrow batch of capture ``rows`` (shaped as for :func:`streamdrift.ingest.records.encode_columnar_batch`),
    or None when a column cannot take one Arrow type (then send a JSON columnar batch)."""
    return arrow_message(model_id, model_version, lambda: _row_fields(rows))


def arrow_message(model_id: str, model_version: str | None, fields_of: Callable[[], dict[str, pa.Array]],
                  ) -> bytes | None:
    """The Arrow batch message of the fields ``fields_of()`` builds, with the batch metadata; None when they
    cannot be built (a column that takes no one Arrow type)."""
    import pyarrow as pa

    try:
        fields = fields_of()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    meta = {"streamdrift.format": FORMAT, "schema_version": VERSION, "model_id": model_id}
    if model_version is not None:
        meta["model_version"] = model_version
    return stream_bytes(pa.RecordBatch.from_arrays(list(fields.values()), names=list(fields), metadata=meta))


def stream_bytes(batch: pa.RecordBatch) -> bytes:
    """One record batch as an Arrow IPC stream: the message an Arrow columnar batch is."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def _row_fields(rows: Sequence[Mapping[str, Any]]) -> dict[str, pa.Array]:
    import pyarrow as pa

    fields: dict[str, pa.Array] = {
        "timestamp": pa.array([int(r["timestamp"]) for r in rows], type=pa.int64()),
        "inference_id": pa.array([r.get("inference_id") for r in rows], type=pa.string()),
        "features": _struct_of([r.get("features") or {} for r in rows], numbers_only=False),
    }
    predictions = [r.get("prediction") for r in rows]
    if any(isinstance(p, Mapping) for p in predictions):
        pairs = [p if isinstance(p, Mapping) else {"label": p} for p in predictions]
        fields["prediction"] = pa.StructArray.from_arrays(
            [scalar_array([p.get("label") for p in pairs]),
             finite_or_null(pa.array([p.get("score") for p in pairs], type=pa.float64()))],
            names=["label", "score"])
    elif any(p is not None for p in predictions):
        fields["prediction"] = scalar_array(predictions)
    if any(r.get("attributions") is not None for r in rows):
        fields["attributions"] = _struct_of([r.get("attributions") or {} for r in rows], numbers_only=True)
    return fields


def _struct_of(mappings: Sequence[Mapping[str, object]], *, numbers_only: bool) -> pa.Array:
    import pyarrow as pa

    names: dict[str, None] = {}
    for m in mappings:
        names.update(dict.fromkeys(m))
    arrays = [finite_or_null(pa.array([m.get(name) for m in mappings], type=pa.float64())) if numbers_only
              else scalar_array([m.get(name) for m in mappings]) for name in names]
    return struct_array(arrays, list(names), len(mappings))


def struct_array(arrays: list[pa.Array], names: list[str], n: int) -> pa.Array:
    """The struct column of ``n`` rows with these fields (none: an empty struct per row)."""
    import pyarrow as pa

    if not names:
        return pa.array([{}] * n, type=pa.struct([]))
    return pa.StructArray.from_arrays(arrays, names=names)


def scalar_array(values: list[object]) -> pa.Array:
    """Values of one column; text is dictionary-encoded (categories repeat), bool never mixes with numbers."""
    import pyarrow as pa

    types = set(map(type, values)) - {type(None)}
    if bool in types and types != {bool}:
        raise pa.ArrowTypeError("booleans mixed with other values")
    if types == {str}:
        return pa.array(values, type=pa.string()).dictionary_encode()
    if types and types <= {int, float} and float in types:
        return finite_or_null(pa.array(values, type=pa.float64()))
    return finite_or_null(pa.array(values))


def finite_or_null(arr: pa.Array) -> pa.Array:
    """NaN and infinities become null (missing), as the SDK's JSON encoding writes them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_floating(arr.type):
        return arr
    return pc.if_else(pc.is_finite(arr), arr, pa.scalar(None, arr.type))
