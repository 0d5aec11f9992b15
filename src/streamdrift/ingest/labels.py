"""Label messages ``{"model_id", "inference_id", "label", "timestamp"}`` -> one :class:`LabelBatch`, plus dead
letters (the same reasons and limits as capture records)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamdrift.columns.chunks import LabelBatch
from streamdrift.columns.columns import column_from_values, object_array
from streamdrift.errors import BadRecordError
from streamdrift.ingest.capture import PRELOAD_MAX_MESSAGE, PRELOAD_MAX_TOTAL
from streamdrift.ingest.deadletters import DeadLetter, dead_letter
from streamdrift.ingest.limits import DEFAULT_LIMITS, CaptureLimits, Checks
from streamdrift.ingest.native import read_labels
from streamdrift.ingest.values import SCALARS, inference_id, load_json, model_key, timestamp_ms

__all__ = ["parse_labels"]


def parse_labels(
    values: Sequence[bytes],
    *,
    max_bytes: int = 1 << 20,
    fallback_timestamps_ms: Sequence[int] | None = None,
    native: bool = True,
    limits: CaptureLimits = DEFAULT_LIMITS,
    now_ms: int | None = None,
) -> tuple[LabelBatch, list[DeadLetter]]:
    """Parse label records ``{"model_id", "inference_id", "label", "timestamp"}``; ``label`` must be a scalar.

    ``limits`` and ``now_ms`` as for :func:`streamdrift.ingest.capture.parse_capture` (the model id, inference id
    and text label lengths, the timestamp range). ``native``: a poll of only valid label records is read by the
    native reader (the same batch); False always takes the Python path.
    """
    checks = Checks.of(limits, now_ms)
    if native:
        read = read_labels(values, min(max_bytes, PRELOAD_MAX_MESSAGE), PRELOAD_MAX_TOTAL, checks)
        if read is not None:
            return read, []
    model_ids: list[str] = []
    ids: list[str] = []
    stamps: list[int] = []
    labels: list[object] = []
    sources: list[int] = []
    dead: list[DeadLetter] = []
    max_id, max_text = limits.max_inference_id_chars, limits.max_value_chars
    for index, value in enumerate(values):
        fallback = None if fallback_timestamps_ms is None else int(fallback_timestamps_ms[index])
        try:
            obj = load_json(value, max_bytes)
            model_id, _ = model_key(obj, checks)
            ident = inference_id(obj.get("inference_id"))
            if ident is None:
                raise BadRecordError("missing_field", "inference_id")
            if len(ident) > max_id:
                checks.text(ident, "inference_id", max_id)
            label = obj.get("label")
            if label is None:
                raise BadRecordError("missing_field", "label")
            if type(label) not in SCALARS:
                raise BadRecordError("wrong_type", "label must be a scalar")
            if type(label) is str and len(label) > max_text:
                checks.text(label, "label")
            ts = timestamp_ms(obj.get("timestamp"), fallback, checks)
        except BadRecordError as exc:
            dead.append(dead_letter(index, exc))
            continue
        model_ids.append(model_id)
        ids.append(ident)
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
