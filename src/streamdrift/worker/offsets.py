"""The watermark travels in the committed offset's metadata string, so a replay makes the same late decisions.

confluent-kafka passes ``TopicPartition.metadata`` through ``send_offsets_to_transaction`` and returns it
from ``Consumer.committed()`` (checked against the real broker in tests/integration/test_worker_e2e.py).
"""

from __future__ import annotations

import orjson

_VERSION = 1


def encode_watermark(watermark_ms: int | None, labels_closed_before: int | None = None) -> str:
    """``labels_closed_before`` (capture offsets only): windows starting before it have their labels stage
    closed on the partition (see :mod:`streamdrift.window.partials`)."""
    data: dict[str, int | None] = {"v": _VERSION, "wm": watermark_ms}
    if labels_closed_before is not None:
        data["lc"] = labels_closed_before
    return orjson.dumps(data).decode()


def decode_watermark(metadata: str | None) -> int | None:
    """The watermark stored with a committed offset; None when absent or unreadable (start fresh)."""
    return _field(metadata, "wm")


def decode_labels_closed(metadata: str | None) -> int | None:
    """The labels-stage close boundary stored with a committed capture offset (None: nothing closed)."""
    return _field(metadata, "lc")


def _field(metadata: str | None, key: str) -> int | None:
    if not metadata:
        return None
    try:
        data = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        return None
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
