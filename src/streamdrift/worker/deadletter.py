"""Dead-letter records: the original bytes as value, where they came from and why in headers."""

from __future__ import annotations

from dataclasses import dataclass

HEADER_REASON = "streamdrift.reason"
HEADER_DETAIL = "streamdrift.detail"
HEADER_TOPIC = "streamdrift.source.topic"
HEADER_PARTITION = "streamdrift.source.partition"
HEADER_OFFSET = "streamdrift.source.offset"
_MAX_DETAIL = 1000


@dataclass(frozen=True)
class DeadLetterRecord:
    key: bytes | None
    value: bytes
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_REASON, self.reason.encode()),
            (HEADER_DETAIL, self.detail[:_MAX_DETAIL].encode()),
            (HEADER_TOPIC, self.topic.encode()),
            (HEADER_PARTITION, str(self.partition).encode()),
            (HEADER_OFFSET, str(self.offset).encode()),
        ]


def read_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """Header name -> decoded value, for consumers of the dead-letter topic."""
    return {k: v.decode("utf-8", "replace") for k, v in (headers or []) if v is not None}
