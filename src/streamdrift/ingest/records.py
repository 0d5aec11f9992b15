"""Bytes on the capture / labels topics -> per-model batches of columns, and back (for the capture SDK).

A capture message is either ONE JSON capture record::

    {"model_id": "m", "model_version": "3", "inference_id": "…", "timestamp": 1718000000000,
     "features": {"age": 41, "city": "Oslo"}, "prediction": 1 | "yes" | {"label": 1, "score": 0.93},
     "attributions": {"age": 0.12}, "metadata": {...}}

or a columnar batch of many records of one model (``schemas/columnar_batch.schema.json``)::

    {"format": "columnar", "model_id": "m", "model_version": null, "n": 2,
     "inference_id": ["a", "b"], "timestamp": [1718000000000, 1718000000001],
     "features": {"age": [41, null]}, "prediction": [1, 0] | {"label": [...], "score": [...]},
     "attributions": {"age": [0.1, 0.2]}}

or the same batch as an Apache Arrow IPC stream (:mod:`streamdrift.ingest.arrow`; told apart by its first bytes).

Timestamps are epoch milliseconds (integers or finite floats) or ISO-8601 text (UTC when no offset). A feature
absent from a record, or ``null``, is missing (not bad input). A message that cannot be used, or
that passes one of the limits (:class:`CaptureLimits`: rows, decoded size, features, lengths, timestamp range),
becomes a :class:`DeadLetter` naming its index in the input sequence and a reason tag
(:data:`DEAD_LETTER_REASONS`, described in :mod:`streamdrift.ingest.deadletters`). A columnar batch is
dead-lettered as a whole. Parsing never raises for bad input.

This module is the public entry; the work is done in :mod:`~streamdrift.ingest.capture` (grouping, the fast
paths), :mod:`~streamdrift.ingest.jsonrecords`, :mod:`~streamdrift.ingest.columnar`,
:mod:`~streamdrift.ingest.fastcolumnar` (simdjson), :mod:`~streamdrift.ingest.arrow`,
:mod:`~streamdrift.ingest.native` (Rust), :mod:`~streamdrift.ingest.labels`, :mod:`~streamdrift.ingest.segments`
(concatenation) and :mod:`~streamdrift.ingest.encode` (the SDK's encoders).
"""

from __future__ import annotations

from streamdrift.columns.chunks import CaptureBatch, LabelBatch
from streamdrift.ingest.capture import parse_capture
from streamdrift.ingest.deadletters import DEAD_LETTER_REASONS, DeadLetter
from streamdrift.ingest.encode import (
    DUMP_OPTIONS,
    encode_capture_record,
    encode_columnar_batch,
    encode_label_record,
)
from streamdrift.ingest.labels import parse_labels
from streamdrift.ingest.limits import DEFAULT_LIMITS, CaptureLimits
from streamdrift.ingest.segments import concat_columns

__all__ = [
    "DEAD_LETTER_REASONS",
    "DEFAULT_LIMITS",
    "DUMP_OPTIONS",
    "CaptureBatch",
    "CaptureLimits",
    "DeadLetter",
    "LabelBatch",
    "concat_columns",
    "encode_capture_record",
    "encode_columnar_batch",
    "encode_label_record",
    "parse_capture",
    "parse_labels",
]
