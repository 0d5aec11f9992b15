"""Dead-letter records: the original bytes as value, where they came from and why in headers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Message

from streamdrift.ingest.deadletters import DeadLetter
from streamdrift.metrics import Metrics

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


HeaderValue = str | bytes | None


def read_headers(headers: Sequence[tuple[str, HeaderValue]] | Mapping[str, HeaderValue] | None) -> dict[str, str]:
    """Header name -> decoded value (what ``Message.headers()`` returns), for readers of the dead-letter topic."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in items if v is not None}


def queue_dead_letters(queue: list[DeadLetterRecord], msgs: Sequence[Message], dead: Sequence[DeadLetter],
                       topic: str, partition: int, counts: Counter[str], metrics: Metrics | None) -> None:
    """A poll's unusable messages to the partition's dead letters (sent in the next transaction), counted."""
    for d in dead:
        bad = msgs[d.index]
        queue.append(DeadLetterRecord(bad.key(), bad.value() or b"", d.reason, d.detail, topic, partition,
                                      bad.offset() or 0))
        counts[d.reason] += 1
        if metrics is not None:
            metrics.record_deadlettered(d.reason)
