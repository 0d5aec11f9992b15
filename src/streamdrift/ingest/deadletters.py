"""Dead letters: a capture or label message that cannot be used, named by its index in the poll and a reason tag.

The tags are metric labels and the dead-letter topic's ``reason`` field; every tag any parser gives is in
:data:`DEAD_LETTER_REASONS`:

- ``not_json``: not one JSON document (incl. a ``NaN`` literal, which orjson rejects);
- ``not_object``: JSON, but not an object;
- ``missing_field``: ``model_id``, ``features``, ``timestamp`` (without a fallback), ``inference_id`` or ``label``
  (label records) absent;
- ``wrong_type``: nested values where scalars belong, bool where a number belongs, an Arrow type this format
  does not take;
- ``non_finite``: a number that overflows a double, NaN or infinity in an Arrow batch;
- ``too_large``: a message over the byte limit, or an Arrow batch whose buffers decompress past
  ``max_decoded_bytes``;
- ``too_many_rows``: a batch declaring more rows than ``max_rows_per_message`` or than its (decoded) bytes allow;
- ``too_many_features``: a record or batch with more than ``max_features`` features (or attributions), or one
  whose names would take its model's features in the poll past that limit;
- ``too_long``: a model id / version, inference id, feature name or text value longer than its limit;
- ``bad_timestamp``: not epoch milliseconds / ISO-8601, before ``min_timestamp_ms``, after ``max_timestamp_ms``
  (year 3000: microseconds sent as milliseconds land there), or more than ``max_future_ms`` ahead of the
  caller's clock;
- ``bad_batch``: an inconsistent columnar batch (lengths, an unknown format, an unreadable Arrow stream);
- ``too_many_models``: a record of a model beyond the ``max_models`` a data plane monitors (given by the worker,
  not the parsers);
- ``mapping_mismatch``: a message of a mapped source (:mod:`streamdrift.ingest.sources`) that does not match its
  preset or mapping; the detail starts with the path that failed (a JSON pointer, ``header <name>`` or ``key``).

The limits are :class:`streamdrift.ingest.limits.CaptureLimits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from streamdrift.errors import BadRecordError

__all__ = ["DEAD_LETTER_REASONS", "DETAIL_MAX", "DeadLetter", "dead_letter"]

DEAD_LETTER_REASONS: Final[tuple[str, ...]] = (
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "non_finite",
    "too_large",
    "too_many_rows",
    "too_many_features",
    "too_long",
    "bad_timestamp",
    "bad_batch",
    "too_many_models",
    "mapping_mismatch",
)
DETAIL_MAX: Final[int] = 200  # characters of a dead letter's detail


@dataclass(frozen=True)
class DeadLetter:
    index: int  # of the message in the input sequence
    reason: str  # one of DEAD_LETTER_REASONS
    detail: str


def dead_letter(index: int, exc: BadRecordError) -> DeadLetter:
    return DeadLetter(index, exc.reason, exc.detail[:DETAIL_MAX])
