"""The rolling references and previous windows (:mod:`streamdrift.monitors.reference`) filled again from the
profiles topic when the control plane starts, so a restart does not reset them: every partition read from the
first offset whose window starts within the look-back (the last ``rolling_windows`` + 1 windows of
``window.size``, or a week and an hour with ``same_hour_last_week``, plus the lateness and the merge timeout a
window may take to be released) to its end as it was
(read_committed). Windows older than that are not read: after a longer stop a reference starts with what there
is. A window the restarted control plane judges again (a replay) is not after the last kept one and is not kept
twice."""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as CKafkaError

from streamdrift.errors import SerializationError
from streamdrift.monitors.base import DATA
from streamdrift.monitors.reference import HOUR_MS, WEEK_MS, ReferenceWindows
from streamdrift.settings import Settings
from streamdrift.window.stored import decode_stored, window_of_key
from streamdrift.worker.topics import topic_partitions

log = logging.getLogger(__name__)


def lookback_ms(settings: Settings) -> int:
    h, w = settings.history, settings.window
    windows = max(h.rolling_windows, 1) + 1
    slack = w.lateness + settings.merge_timeout + w.idle_timeout
    week = (WEEK_MS + HOUR_MS) / 1000 if h.same_hour_last_week else 0.0
    return round((max(windows * w.size, week) + slack) * 1000)


def rebuild_references(settings: Settings, references: ReferenceWindows, now_ms: int | None = None,
                       timeout_s: float = 60.0) -> int:
    """Feed ``references`` the data-stage windows of the look-back from the profiles topic; how many were read.
    A failure is logged, not raised: the references then start empty, as on a first start."""
    if not references.config.enabled or not settings.history.enabled:
        return 0
    since = (now_ms if now_ms is not None else int(time.time() * 1000)) - lookback_ms(settings)
    topic = settings.history.topic
    consumer = Consumer(settings.client_config({
        "group.id": f"{settings.group_id}-references-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True,
    }))  # fmt: skip
    n = 0
    try:
        partitions = topic_partitions(consumer, topic)
        wanted = [TopicPartition(topic, p, since) for p in range(partitions)]
        starts = consumer.offsets_for_times(wanted, timeout=15)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in range(partitions)}
        todo = {tp.partition: tp.offset for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        if not todo:
            return 0
        consumer.assign([TopicPartition(topic, p, o) for p, o in todo.items()])
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for message in consumer.consume(500, 1.0):
                p = message.partition() or 0
                err = message.error()
                if err is not None:
                    if err.code() == CKafkaError._PARTITION_EOF:
                        todo.pop(p, None)
                        continue
                    raise KafkaException(err)
                offset = message.offset() or 0
                if p not in todo or offset >= ends[p]:
                    todo.pop(p, None)
                    continue
                n += _add(references, message.key() or b"", message.value() or b"", offset)
                if offset >= ends[p] - 1:
                    todo.pop(p, None)
        if todo:
            log.warning("references: %d partitions of %s not read to their end within %.0f s", len(todo), topic,
                        timeout_s)
    except (KafkaException, SerializationError) as exc:
        log.error("references not read back from %s (they start empty): %s", topic, exc)
    finally:
        consumer.close()
    return n


def _add(references: ReferenceWindows, key: bytes, value: bytes, offset: int) -> int:
    try:
        model, _ = window_of_key(key)
        if not references.config.applies(model):
            return 0
        stored = decode_stored(value, offset)
    except SerializationError as exc:
        log.warning("profiles message at offset %d unreadable, skipped: %s", offset, exc)
        return 0
    window = stored.window
    if window.stage != DATA or stored.window_seconds is not None:  # roll-up windows are no reference
        return 0
    references.add(window.model_id, window.window_start_ms, window.profile)
    return 1
