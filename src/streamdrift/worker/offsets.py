"""The watermark travels in the committed offset's metadata string, so a replay makes the same late decisions.

confluent-kafka passes ``TopicPartition.metadata`` through ``send_offsets_to_transaction`` and returns it
from ``Consumer.committed()`` (checked against the real broker in tests/integration/test_worker_e2e.py).
"""

from __future__ import annotations

import orjson

_VERSION = 1


def encode_watermark(watermark_ms: int | None) -> str:
    return orjson.dumps({"v": _VERSION, "wm": watermark_ms}).decode()


def decode_watermark(metadata: str | None) -> int | None:
    """The watermark stored with a committed offset; None when absent or unreadable (start fresh)."""
    if not metadata:
        return None
    try:
        data = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        return None
    wm = data.get("wm")
    return wm if isinstance(wm, int) and not isinstance(wm, bool) else None
