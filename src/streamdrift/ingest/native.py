"""A poll of JSON capture (or label) records -> columns through the native reader (``streamdrift._native``, Rust).

The native reader parses each record with serde_json straight into per-model columns: no Python object per value,
one Python string per inference id and per distinct category value of a column; the kinds of the rows computed
there too. It takes only polls of valid JSON capture records with numeric timestamps, no booleans, no column
mixing text and numbers, no integer model version and no ``-0`` (which serde_json reads as -0.0 and orjson as 0),
whose other values pass orjson's checks too; it answers None for any other poll, and the Python path then reads
it and names the dead letters. Both give the same batches (``tests/unit/ingest/test_native_records.py``),
and :func:`read_labels` does the same for :func:`streamdrift.ingest.records.parse_labels`.

The limits (:class:`streamdrift.ingest.limits.Checks`: lengths, features per record and per model in the poll,
the timestamp range) are checked there too: a poll holding a value beyond one is left to the Python path, which
dead-letters it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamdrift import _native
from streamdrift.columns.chunks import CaptureBatch, LabelBatch
from streamdrift.columns.columns import Categories, Column, Columns, object_array
from streamdrift.ingest.limits import DEFAULT_CHECKS, Checks


def native_limits(checks: Checks) -> tuple[int, int, int, int, int, int, int]:
    """The limits as the native reader takes them."""
    lim = checks.limits
    return (lim.max_features, lim.max_model_id_chars, lim.max_inference_id_chars, lim.max_name_chars,
            lim.max_value_chars, checks.min_ts, checks.max_ts)


def read_records(values: Sequence[bytes], max_message_bytes: int, max_total_bytes: int,
                 checks: Checks = DEFAULT_CHECKS) -> list[CaptureBatch] | None:
    """One :class:`CaptureBatch` per (model id, model version) in first-seen order, or None when the poll holds
    anything the native reader does not take (see the module docstring), is empty, or has a message longer than
    ``max_message_bytes`` or more than ``max_total_bytes`` in all, or a value beyond one of the ``checks``."""
    listed = values if isinstance(values, list) else list(values)
    raw = _native.read_capture_records(listed, max_message_bytes, max_total_bytes, native_limits(checks))
    if raw is None:
        return None
    return [_batch(*item) for item in raw]


def _batch(
    model_id: str,
    model_version: str | None,
    sources: bytearray,
    timestamps: bytearray,
    ids: list[str | None],
    features: tuple[list[str], list[_native.RawColumn]],
    prediction: _native.RawColumn | None,
    scores: bytearray | None,
    attributions: tuple[list[str], list[_native.RawColumn]] | None,
) -> CaptureBatch:
    n = len(ids)
    return CaptureBatch(
        model_id=model_id,
        model_version=model_version,
        timestamps_ms=np.frombuffer(timestamps, dtype=np.int64),
        inference_ids=object_array(ids),
        features=_columns(n, features),
        prediction=None if prediction is None else _column(prediction),
        score=None if scores is None else np.frombuffer(scores, dtype=np.float64),
        attributions=None if attributions is None else _columns(n, attributions),
        source_index=np.frombuffer(sources, dtype=np.int64),
    )


def _columns(n: int, table: tuple[list[str], list[_native.RawColumn]]) -> Columns:
    names, cols = table
    return Columns(n, {name: _column(col) for name, col in zip(names, cols, strict=True)})


def _column(raw: _native.RawColumn) -> Column:
    numbers, kinds, strings, coded = raw
    if strings is None or coded is None:
        return Column(np.frombuffer(numbers, dtype=np.float64), np.frombuffer(kinds, dtype=np.uint8))
    codes, values = coded
    return Column(
        np.frombuffer(numbers, dtype=np.float64),
        np.frombuffer(kinds, dtype=np.uint8),
        object_array(strings),
        Categories(np.frombuffer(codes, dtype=np.int64).astype(np.intp, copy=False), object_array(values)),
    )


def read_labels(values: Sequence[bytes], max_message_bytes: int, max_total_bytes: int,
                checks: Checks = DEFAULT_CHECKS) -> LabelBatch | None:
    """Every message a valid label record (string inference id, non-null number or text label, numeric
    timestamp), else None: the Python path reads the poll and names the dead letters."""
    listed = values if isinstance(values, list) else list(values)
    raw = _native.read_label_records(listed, max_message_bytes, max_total_bytes, native_limits(checks))
    if raw is None:
        return None
    model_ids, inference_ids, timestamps, labels = raw
    return LabelBatch(object_array(model_ids), object_array(inference_ids), np.frombuffer(timestamps, dtype=np.int64),
                      _column(labels), np.arange(len(model_ids), dtype=np.int64))
