"""Capture and label records as the capture SDK sends them (JSON records and JSON columnar batches); the
worker's parsers (:mod:`streamdrift.ingest.capture`, :mod:`streamdrift.ingest.labels`) read them back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

__all__ = ["DUMP_OPTIONS", "encode_capture_record", "encode_columnar_batch", "encode_label_record"]

DUMP_OPTIONS: Final[int] = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

def _record_dict(
    model_id: str,
    *,
    features: Mapping[str, object],
    prediction: object,
    inference_id: str | None,
    timestamp_ms: int,
    model_version: str | None = None,
    attributions: Mapping[str, object] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> dict[str, object]:
    record: dict[str, object] = {"model_id": model_id}
    if model_version is not None:
        record["model_version"] = model_version
    record["inference_id"] = inference_id
    record["timestamp"] = int(timestamp_ms)
    record["features"] = features
    if prediction is not None:
        record["prediction"] = prediction
    if attributions is not None:
        record["attributions"] = attributions
    if metadata is not None:
        record["metadata"] = metadata
    return record


def encode_capture_record(
    model_id: str,
    *,
    features: Mapping[str, object],
    prediction: object,
    inference_id: str | None,
    timestamp_ms: int,
    model_version: str | None = None,
    attributions: Mapping[str, object] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> bytes:
    """One JSON capture record (numpy scalars/arrays allowed; NaN / inf become null = missing)."""
    record = _record_dict(
        model_id,
        features=features,
        prediction=prediction,
        inference_id=inference_id,
        timestamp_ms=timestamp_ms,
        model_version=model_version,
        attributions=attributions,
        metadata=metadata,
    )
    return orjson.dumps(record, option=DUMP_OPTIONS)


def encode_label_record(model_id: str, inference_id: str, label: object, timestamp_ms: int) -> bytes:
    return orjson.dumps(
        {"model_id": model_id, "inference_id": inference_id, "label": label, "timestamp": int(timestamp_ms)},
        option=DUMP_OPTIONS,
    )


def encode_columnar_batch(
    model_id: str, rows: Sequence[Mapping[str, Any]], *, model_version: str | None = None
) -> bytes:
    """A columnar batch of capture ``rows`` (dicts shaped like JSON capture records, without model_id).

    Each row has ``features`` and ``timestamp`` (epoch ms), optionally ``inference_id``, ``prediction`` (a
    scalar or ``{"label", "score"}``) and ``attributions``. A feature absent from a row is written as null.
    """
    names = _union_keys(r.get("features") or {} for r in rows)
    batch: dict[str, object] = {
        "format": "columnar",
        "model_id": model_id,
        "model_version": model_version,
        "n": len(rows),
        "inference_id": [r.get("inference_id") for r in rows],
        "timestamp": [int(r["timestamp"]) for r in rows],
        "features": {name: [(r.get("features") or {}).get(name) for r in rows] for name in names},
    }
    predictions = [r.get("prediction") for r in rows]
    if any(isinstance(p, Mapping) for p in predictions):
        pairs = [p if isinstance(p, Mapping) else {"label": p} for p in predictions]
        batch["prediction"] = {"label": [p.get("label") for p in pairs], "score": [p.get("score") for p in pairs]}
    elif any(p is not None for p in predictions):
        batch["prediction"] = predictions
    if any(r.get("attributions") is not None for r in rows):
        attr_names = _union_keys(r.get("attributions") or {} for r in rows)
        batch["attributions"] = {
            name: [(r.get("attributions") or {}).get(name) for r in rows] for name in attr_names
        }
    return orjson.dumps(batch, option=DUMP_OPTIONS)


def _union_keys(mappings: Iterable[Mapping[str, object]]) -> list[str]:
    names: dict[str, None] = {}
    for m in mappings:
        names.update(dict.fromkeys(m))
    return list(names)
