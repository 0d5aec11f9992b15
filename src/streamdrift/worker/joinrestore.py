"""Rebuilding a partition's join store after a restart, a rebalance or an aborted transaction.

The join store holds what is *pending*: predictions waiting for a label, labels waiting for a prediction, and
recently matched keys (to recognise duplicate labels). It is not in the transaction; instead it is rebuilt
from the topics themselves: the predictions of capture p and the labels of labels p in the ``ttl`` span before
the committed offsets (``offsets_for_times(min watermark - ttl)`` .. committed offset) are fed to a fresh store
and their join results are discarded (they were accounted by committed transactions). The store then holds
exactly the pending state that goes with the committed offsets, so the replay from there counts every label
once. Cost: reading the ``ttl`` span of both partitions once per assignment (see docs/worker.md).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import cast

from confluent_kafka import OFFSET_END, Consumer, KafkaException, Message, TopicPartition

from streamdrift.ingest.records import parse_capture, parse_labels
from streamdrift.ingest.sources.engine import MappedParser, Messages
from streamdrift.ingest.sources.pairing import PairStore
from streamdrift.settings import Settings
from streamdrift.window.joinstore import JoinStore, MemoryBudget
from streamdrift.window.labels import add_labels, add_predictions
from streamdrift.window.spilldir import private_directory
from streamdrift.worker.kafka_errors import wrap

log = logging.getLogger(__name__)
_CHUNK = 5000


def new_store(settings: Settings, partition: int, budget: MemoryBudget) -> JoinStore:
    """An empty join store for ``partition`` (its spill file, when configured, is started afresh), holding in
    memory its share of ``budget`` (the worker process's ``labels.max_memory_items``, shared by its stores)."""
    s = settings.labels
    path: Path | None = None
    if s.spill_dir is not None:
        directory = private_directory(s.spill_dir)  # created 0700; ConfigError when others could write to it
        path = directory / f"{settings.group_id}-p{partition}-{os.getpid()}-{uuid.uuid4().hex[:6]}.sqlite"
    return JoinStore(path, max_memory_items=s.max_memory_items, ttl_ms=round(s.ttl * 1000),
                     budget=budget, sample_rate=s.sample_rate)


def rebuild_store(settings: Settings, partition: int, budget: MemoryBudget, capture_end: int | None,
                  labels_end: int | None, since_ms: int | None, parser: MappedParser | None = None) -> JoinStore:
    """A store holding the pending join state as of the committed offsets (see the module docs); ``parser``: the
    mapping of a mapped source (its capture and labels topics are read through it, without pairing)."""
    store = new_store(settings, partition, budget)
    if since_ms is None or (not capture_end and not labels_end):
        return store
    started = time.monotonic()
    consumer = replay_consumer(settings, "joinrestore")
    pairs = None if parser is None else parser.new_pairs()  # one store over the replay: pairs span polls
    try:
        n_pred = replay(consumer, settings.topics.capture, partition, capture_end, since_ms,
                        lambda msgs: _feed(msgs, store, settings, True, parser, pairs))
        n_lab = replay(consumer, settings.topics.labels, partition, labels_end, since_ms,
                       lambda msgs: _feed(msgs, store, settings, False, parser, None))
    finally:
        consumer.close()
    log.info("join store of partition %d rebuilt from %d capture and %d label messages in %.1fs "
             "(%d predictions, %d labels pending)", partition, n_pred, n_lab, time.monotonic() - started,
             store.pending_predictions, store.pending_labels)
    return store


def _start_offset(consumer: Consumer, topic: str, partition: int, since_ms: int) -> int:
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, partition, max(0, since_ms))], timeout=30)
    except KafkaException as exc:
        raise wrap(exc, f"look up offsets of {topic}") from exc
    offset = found[0].offset
    return offset if offset >= 0 else OFFSET_END


def replay_consumer(settings: Settings, purpose: str) -> Consumer:
    """A consumer outside the group that reads committed records by hand (the replays of a rebuild)."""
    return Consumer(settings.client_config({
        "group.id": f"{settings.group_id}-{purpose}-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": False,
        "fetch.queue.backoff.ms": 10,  # a full prefetch queue pauses fetching 10 ms, not the default 1 s
    }))


def replay(consumer: Consumer, topic: str, partition: int, end: int | None, since_ms: int,
           feed: Callable[[list[Message]], object]) -> int:
    """Feed ``partition``'s messages from the first at or after ``since_ms`` up to ``end`` (exclusive), in
    polls, to ``feed``; how many it read."""
    if not end:
        return 0
    start = _start_offset(consumer, topic, partition, since_ms)
    if start == OFFSET_END or start >= end:
        return 0
    consumer.assign([TopicPartition(topic, partition, start)])
    seen = 0
    position = start
    deadline = time.monotonic() + 300
    while position < end and time.monotonic() < deadline:
        try:
            # no more than are left: consume() returns once it has them, instead of waiting out its timeout for a
            # full chunk (1 s per replay: after an abort, 1-2 s per partition before the data plane went on)
            batch = consumer.consume(max(1, min(_CHUNK, end - position)), 1.0)
        except KafkaException as exc:
            raise wrap(exc, f"replay {topic}") from exc
        msgs = [m for m in batch if m.error() is None and (m.offset() or 0) < end]
        if batch:
            position = max(position, max((m.offset() or 0) for m in batch) + 1)
        if msgs:
            feed(msgs)
            seen += len(msgs)
    consumer.unassign()
    return seen


def _feed(msgs: list[Message], store: JoinStore, settings: Settings, predictions: bool,
          parser: MappedParser | None, pairs: PairStore | None) -> None:
    values = [m.value() or b"" for m in msgs]
    stamps = [m.timestamp()[1] for m in msgs]
    if parser is not None:
        poll = messages_of(msgs)
        if predictions:
            for batch in parser.parse(poll, pairs)[0]:
                add_predictions(store, batch)
        else:
            add_labels(store, parser.parse_labels(poll)[0])
        return
    if predictions:
        batches, _ = parse_capture(values, max_bytes=settings.max_record_bytes, fallback_timestamps_ms=stamps,
                                   limits=settings.limits.capture_limits())
        for batch in batches:
            add_predictions(store, batch)
        return
    labels, _ = parse_labels(values, max_bytes=settings.max_record_bytes, fallback_timestamps_ms=stamps,
                             limits=settings.limits.capture_limits())
    add_labels(store, labels)


def messages_of(msgs: list[Message]) -> Messages:
    """A poll's messages as the mapping engine reads them."""
    raw: list[bytes | None] = list(map(Message.value, msgs))
    # a tombstone (None) is an empty message (a dead letter)
    values = cast("list[bytes]", raw) if None not in raw else [v or b"" for v in raw]
    return Messages(values, list(map(Message.key, msgs)), list(map(Message.headers, msgs)),
                    list(map(itemgetter(1), map(Message.timestamp, msgs))))
