"""Reading a model's windows back from the profiles topic (``history.topic``; the control plane writes them,
:mod:`streamdrift.window.stored`), and publishing re-evaluated events to ``alerts``.

A model's windows are on one partition (:func:`~streamdrift.window.stored.profiles_partition`) and every
message's timestamp is its window's start, so a reader seeks to the first offset at or after ``from``
(``offsets_for_times``: no earlier offset holds a later timestamp) and reads to the partition's end as it was
when it started (read_committed: windows of aborted control-plane transactions are never read). Keys are
checked before values are decoded: other models' windows on the partition cost their bytes on the wire only.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka import KafkaError as CKafkaError

from streamdrift.errors import KafkaError, SerializationError
from streamdrift.events.events import DriftEvent
from streamdrift.settings import Settings
from streamdrift.window.stored import (
    StoredWindow,
    decode_stored,
    profiles_partition,
    rollup_model,
    window_of_key,
)
from streamdrift.worker.kafka_errors import from_error, wrap
from streamdrift.worker.topics import topic_partitions

log = logging.getLogger(__name__)


@dataclass
class ReadStats:
    """What a read saw: messages on the partition in range, the model's windows yielded, unreadable ones."""

    messages: int = 0
    windows: int = 0
    unreadable: int = 0
    bytes: int = 0


def read_windows(settings: Settings, model_id: str, from_ms: int | None = None, to_ms: int | None = None, *,
                 stats: ReadStats | None = None, stall_timeout_s: float = 60.0,
                 rollup_seconds: int | None = None) -> Iterator[StoredWindow]:
    """The stored window stages of ``model_id`` whose start is in ``[from_ms, to_ms)`` (None: open), in the
    order the control plane wrote them; with ``rollup_seconds``, its roll-up windows of that size instead
    (``window.rollups``). KafkaError when the topic is missing or the read stalls."""
    stats = stats if stats is not None else ReadStats()
    topic = settings.history.topic
    consumer = Consumer(settings.client_config({
        "group.id": f"{settings.group_id}-history-{uuid.uuid4().hex[:8]}",  # required; offsets never committed
        "enable.auto.commit": False, "isolation.level": "read_committed", "enable.partition.eof": True,
        # bounded prefetch (a larger first message is still fetched whole): the read's memory stays flat however
        # many windows it reads (64 MB fetch and 256 MB queue limits: 1.1 GB RSS over 43,200 windows of 21 KB)
        "fetch.message.max.bytes": 4 << 20, "fetch.max.bytes": 16 << 20, "queued.max.messages.kbytes": 32 << 10,
        "queued.min.messages": 1000,
    }))  # fmt: skip
    try:
        partition = profiles_partition(model_id, topic_partitions(consumer, topic))
        tp = TopicPartition(topic, partition, from_ms if from_ms is not None else 0)
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=15)
            start = consumer.offsets_for_times([tp], timeout=15)[0].offset if from_ms is not None else low
        except KafkaException as exc:
            raise wrap(exc, f"find the windows of {model_id} on {topic}") from exc
        if start < 0 or start >= high:  # no message at or after from_ms
            return
        consumer.assign([TopicPartition(topic, partition, start)])
        wanted = model_id if rollup_seconds is None else rollup_model(model_id, rollup_seconds)
        yield from _read(consumer, wanted, from_ms, to_ms, high, stats, stall_timeout_s)
    finally:
        consumer.close()


def _read(consumer: Consumer, model_id: str, from_ms: int | None, to_ms: int | None, high: int, stats: ReadStats,
          stall_timeout_s: float) -> Iterator[StoredWindow]:
    last = time.monotonic()
    while True:
        messages = consumer.consume(500, 1.0)
        if not messages:
            if time.monotonic() - last > stall_timeout_s:
                raise KafkaError(f"reading the profiles topic stalled for {stall_timeout_s:g} s")
            continue
        last = time.monotonic()
        for message in messages:
            err = message.error()
            if err is not None:
                if err.code() == CKafkaError._PARTITION_EOF:
                    return
                raise from_error(err, "read the profiles topic")
            offset = message.offset() or 0
            if offset >= high:  # written after the read began: not asked for
                return
            stats.messages += 1
            try:
                model, start = window_of_key(message.key() or b"")
                if model == model_id and (from_ms is None or start >= from_ms) and (to_ms is None or start < to_ms):
                    value = message.value() or b""
                    stats.bytes += len(value)
                    stored = decode_stored(value, offset)
                    stats.windows += 1
                    yield stored
            except SerializationError as exc:
                stats.unreadable += 1
                log.warning("profiles message at offset %d unreadable, skipped: %s", offset, exc)
            if offset >= high - 1:  # the end as it was at the start: later windows are not asked for
                return


def publish_events(settings: Settings, events: Iterable[DriftEvent]) -> int:
    """Produce ``events`` to ``alerts`` (key: model id), waiting for every ack; how many were sent. The key is
    partitioned as the control plane's producer (aiokafka, Java's murmur2) partitions it, so a model's
    re-evaluated events follow its live ones on the same partition (librdkafka's default, CRC-32, would put
    them on another)."""
    producer = Producer(settings.client_config({"enable.idempotence": True, "linger.ms": 20,
                                                "partitioner": "murmur2_random"}))
    failed: list[CKafkaError] = []

    def delivered(err: CKafkaError | None, _msg: object) -> None:
        if err is not None:
            failed.append(err)

    n = 0
    try:
        for event in events:
            producer.produce(settings.topics.alerts, key=event.model_id.encode(), value=event.to_json(),
                             on_delivery=delivered)
            producer.poll(0)
            n += 1
    except (KafkaException, BufferError) as exc:
        raise KafkaError(f"publish events to {settings.topics.alerts} failed: {exc}") from exc
    if producer.flush(60) or failed:
        raise KafkaError(f"{len(failed) or 'some'} of {n} events to {settings.topics.alerts} were not delivered")
    return n
