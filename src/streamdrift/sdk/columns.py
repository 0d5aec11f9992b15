"""Predictions given as columns (batch inference) -> the capture SDK's messages, without a Python object per value.

:meth:`streamdrift.sdk.client.CaptureClient.capture_batch` takes a batch of predictions as columns (numpy arrays,
lists or pyarrow arrays, one per feature; anything ``numpy.asarray`` takes) and sends it as Arrow or JSON
columnar batches (``schemas/columnar_batch.schema.json``), or as one JSON record per row. The messages are the ones
:func:`streamdrift.ingest.arrow.encode_arrow_batch` / :func:`streamdrift.ingest.records.encode_columnar_batch` write for
the same records given row by row, so the worker reads them the same way (``tests/unit/test_capture_columns.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.ingest.arrow import arrow_message, finite_or_null, scalar_array, struct_array
from streamdrift.ingest.records import DUMP_OPTIONS

if TYPE_CHECKING:
    import pyarrow as pa

Values = Any  # one column: a numpy array, a list, a pyarrow (chunked) array, anything numpy.asarray takes


@dataclass(frozen=True)
class ColumnBatch:
    """Capture records as columns, all of one length; ``labels`` / ``scores``: the prediction."""

    timestamps_ms: NDArray[np.int64]
    inference_ids: list[str | None]
    features: dict[str, Values]
    labels: Values | None = None
    scores: NDArray[np.float64] | None = None
    attributions: dict[str, NDArray[np.float64]] | None = None

    @property
    def n_rows(self) -> int:
        return len(self.inference_ids)

    def take(self, rows: NDArray[np.intp]) -> ColumnBatch:
        """The batch of these rows."""
        at = rows.tolist()
        return ColumnBatch(
            self.timestamps_ms[rows], [self.inference_ids[i] for i in at],
            {name: _take(values, rows) for name, values in self.features.items()},
            None if self.labels is None else _take(self.labels, rows),
            None if self.scores is None else self.scores[rows],
            None if self.attributions is None else {name: v[rows] for name, v in self.attributions.items()},
        )  # fmt: skip

    def parts(self, rows: NDArray[np.intp], max_rows: int) -> Iterator[ColumnBatch]:
        """The batches of ``rows``, in order, at most ``max_rows`` each (one copy of each row)."""
        for start in range(0, rows.size, max_rows):
            yield self.take(rows[start : start + max_rows])

    def rows(self) -> list[dict[str, Any]]:
        """The records one by one, shaped as :func:`streamdrift.ingest.records.encode_capture_record` takes them."""
        features = {name: _python_list(values) for name, values in self.features.items()}
        labels = None if self.labels is None else _python_list(self.labels)
        scores = None if self.scores is None else self.scores.tolist()
        attributions = None if self.attributions is None else {n: v.tolist() for n, v in self.attributions.items()}
        out = []
        for i, (ts, inference_id) in enumerate(zip(self.timestamps_ms.tolist(), self.inference_ids, strict=True)):
            row: dict[str, Any] = {"inference_id": inference_id, "timestamp": ts,
                                   "features": {name: values[i] for name, values in features.items()},
                                   "prediction": _prediction(labels, scores, i)}
            if attributions is not None:
                row["attributions"] = {name: values[i] for name, values in attributions.items()}
            out.append(row)
        return out


def column_batch(
    features: Mapping[str, Values],
    labels: Values | None,
    scores: Values | None,
    inference_ids: Sequence[str | None],
    timestamps_ms: NDArray[np.int64],
    attributions: Mapping[str, Values] | None = None,
) -> ColumnBatch:
    """Check that every column has one value per inference id; ValueError naming the first that does not."""
    n = len(inference_ids)
    if timestamps_ms.shape != (n,):
        raise ValueError(f"{timestamps_ms.size} timestamps for {n} predictions")
    cols = dict(features)
    for name, values in [*cols.items(), ("predictions", labels), ("scores", scores),
                         *((f"attributions[{k}]", v) for k, v in (attributions or {}).items())]:
        if values is not None and len(values) != n:
            raise ValueError(f"{name}: {len(values)} values for {n} predictions")
    return ColumnBatch(
        timestamps_ms, list(inference_ids), cols, labels,
        None if scores is None else np.asarray(scores, dtype=np.float64),
        None if attributions is None else {k: np.asarray(v, dtype=np.float64) for k, v in attributions.items()},
    )  # fmt: skip


def encode_arrow_columns(model_id: str, batch: ColumnBatch, *, model_version: str | None = None) -> bytes | None:
    """The Arrow batch :func:`~streamdrift.ingest.arrow.encode_arrow_batch` writes for these records, or None when
    a column cannot take one Arrow type (then send a JSON columnar batch)."""
    return arrow_message(model_id, model_version, lambda: _arrow_fields(batch))


def encode_columnar_columns(model_id: str, batch: ColumnBatch, *, model_version: str | None = None) -> bytes:
    """The JSON columnar batch :func:`~streamdrift.ingest.records.encode_columnar_batch` writes for these records."""
    out: dict[str, object] = {
        "format": "columnar",
        "model_id": model_id,
        "model_version": model_version,
        "n": batch.n_rows,
        "inference_id": batch.inference_ids,
        "timestamp": batch.timestamps_ms.tolist(),
        "features": {name: _python_list(values) for name, values in batch.features.items()},
    }
    if batch.scores is not None:
        labels = [None] * batch.n_rows if batch.labels is None else _python_list(batch.labels)
        out["prediction"] = {"label": labels, "score": batch.scores.tolist()}
    elif _any_value(batch.labels):
        out["prediction"] = _python_list(batch.labels)
    if batch.attributions is not None:
        out["attributions"] = {name: values.tolist() for name, values in batch.attributions.items()}
    return orjson.dumps(out, option=DUMP_OPTIONS)


def _arrow_fields(batch: ColumnBatch) -> dict[str, pa.Array]:
    import pyarrow as pa

    n = batch.n_rows
    fields: dict[str, pa.Array] = {
        "timestamp": pa.array(batch.timestamps_ms, type=pa.int64()),
        "inference_id": pa.array(batch.inference_ids, type=pa.string()),
        "features": struct_array([_arrow_column(v) for v in batch.features.values()], list(batch.features), n),
    }
    if batch.scores is not None:
        labels = pa.nulls(n) if batch.labels is None else _arrow_column(batch.labels)
        scores = finite_or_null(pa.array(batch.scores, type=pa.float64()))
        fields["prediction"] = pa.StructArray.from_arrays([labels, scores], names=["label", "score"])
    elif _any_value(batch.labels):
        fields["prediction"] = _arrow_column(batch.labels)
    if batch.attributions is not None:
        arrays = [finite_or_null(pa.array(v, type=pa.float64())) for v in batch.attributions.values()]
        fields["attributions"] = struct_array(arrays, list(batch.attributions), n)
    return fields


def _arrow_column(values: Values) -> pa.Array:
    """One column as the row-wise encoder types it: text dictionary-encoded, NaN / infinities null, booleans
    alone, integers as int64; anything else (objects, mixed values) through the same rule as a row's values."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            return values.cast(pa.string()).dictionary_encode()
        if pa.types.is_floating(values.type):
            return finite_or_null(values.cast(pa.float64()))
        if pa.types.is_integer(values.type):
            return values.cast(pa.int64())
        return scalar_array(values.to_pylist())
    if not isinstance(values, np.ndarray):  # a list (or any sequence): exactly the row-wise rule
        return scalar_array(list(values))
    if values.dtype.kind == "u" and values.size and int(values.max()) > np.iinfo(np.int64).max:
        raise OverflowError("integers beyond int64")  # as for a row's Python ints: a JSON columnar batch
    if values.dtype.kind in "iu":
        return pa.array(values.astype(np.int64, copy=False))
    if values.dtype.kind == "f":
        return finite_or_null(pa.array(values.astype(np.float64, copy=False)))
    if values.dtype.kind == "b":
        return pa.array(values)
    return scalar_array(values.tolist())


def _any_value(values: Values | None) -> bool:
    """Whether a column holds any value (the row-wise encoders leave out a prediction that is None in every
    row)."""
    if values is None:
        return False
    if hasattr(values, "null_count"):  # pyarrow
        return bool(values.null_count < len(values))
    arr = values if isinstance(values, np.ndarray) else None
    if arr is not None and arr.dtype.kind != "O":
        return bool(arr.size)
    return any(v is not None for v in (arr.tolist() if arr is not None else values))


def _take(values: Values, rows: NDArray[np.intp]) -> Values:
    """The values of ``rows`` in the column's own kind (an Arrow array stays one: its type decides the encoding)."""
    if isinstance(values, list):
        return [values[i] for i in rows.tolist()]
    if hasattr(values, "to_pylist"):  # pyarrow
        return values.take(rows)
    return np.asarray(values)[rows]


def _python_list(values: Values) -> list[Any]:
    """Python values of a column (numpy scalars become Python numbers, NaN stays NaN: written as null)."""
    if hasattr(values, "to_pylist"):
        return list(values.to_pylist())
    if isinstance(values, list):
        return values
    return list(np.asarray(values).tolist())


def _prediction(labels: list[Any] | None, scores: list[float] | None, i: int) -> object:
    if scores is None:
        return None if labels is None else labels[i]
    return {"label": None if labels is None else labels[i], "score": scores[i]}
