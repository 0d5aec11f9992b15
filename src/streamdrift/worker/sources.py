"""Mapped capture sources in the worker (docs/sources.md): one data plane per source, beside the one of
streamdrift's own capture topic, all driven by one loop in the data-plane process.

Each source's data plane has its own consumer group (``<group_id>.<source name>``) and so its own transactional
id: its consumers only ever read its topic, and its offsets, dead letters and partials commit in its own
transactions, exactly once as for the capture topic. The control plane sees every source partition as one more
capture partition: source k's partition p is partition ``base_k + p`` of the partials (bases in settings order
after the capture topic's partitions, :func:`capture_layout`), so a window is complete when every partition of
every source closed it. Adding partitions to a source topic changes the layout: restart every worker.

Request / response pairing (presets ``oip-v2``, ``kserve-cloudevents``): a :class:`PairStore` per partition,
not in the transaction. Like the label join's store it is rebuilt from the topic on every assignment and
after an abort (:func:`rebuild_pairs`): the partition is re-read from the TTL span before the committed
watermark up to the committed offset through a fresh store whose pairs are discarded (committed transactions
accounted them), so a half whose partner comes after the committed offset is waiting again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

from confluent_kafka import Message

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.ingest.deadletters import DeadLetter
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser
from streamdrift.ingest.sources.pairing import PairStore
from streamdrift.metrics import Metrics
from streamdrift.settings import Settings
from streamdrift.worker.joinrestore import messages_of, replay, replay_consumer
from streamdrift.worker.partitions import PartitionState
from streamdrift.worker.stats import DataPlaneStats

log = logging.getLogger(__name__)


def source_settings(settings: Settings, source: SourceSettings) -> Settings:
    """The settings of a source's data plane: its topic as capture (its labels topic as labels, or labels off)
    and its own consumer group."""
    topics = settings.topics.model_copy(update={"capture": source.topic,
                                                "labels": source.labels_topic or settings.topics.labels})
    labels = settings.labels.model_copy(update={"enabled": settings.labels.enabled and source.labels_topic is not None})
    return settings.model_copy(update={"topics": topics, "labels": labels,
                                       "group_id": f"{settings.group_id}.{source.name}"})


def capture_layout(settings: Settings, count: Callable[[str], int]) -> tuple[dict[str | None, int], int]:
    """The partials partition base of the capture topic (key None) and of each source (by name), and the total
    number of capture partitions the control plane waits for. ``count``: a topic's partition count."""
    bases: dict[str | None, int] = {None: 0}
    total = count(settings.topics.capture)
    for source in settings.sources:
        bases[source.name] = total
        total += count(source.topic)
    return bases, total


def parser_of(settings: Settings, source: SourceSettings) -> MappedParser:
    return MappedParser(source, limits=settings.limits.capture_limits(), max_bytes=settings.max_record_bytes)


def rebuild_pairs(settings: Settings, parser: MappedParser, partition: int, end: int | None,
                  since_ms: int | None) -> PairStore | None:
    """The partition's pair store as of its committed offset (see the module docs); None without pairing."""
    pairs = parser.new_pairs()
    if pairs is None or since_ms is None or not end:
        return pairs
    started = time.monotonic()
    consumer = replay_consumer(settings, "pairrestore")
    try:
        n = replay(consumer, settings.topics.capture, partition, end, since_ms,
                   lambda msgs: parser.parse(messages_of(msgs), pairs))
    finally:
        consumer.close()
    pairs.take_outcomes()  # accounted by the committed transactions
    log.info("pair store of %s[%d] rebuilt from %d messages in %.1fs (%d waiting)", settings.topics.capture,
             partition, n, time.monotonic() - started, len(pairs))
    return pairs


def parse_source(parser: MappedParser, state: PartitionState, msgs: list[Message], stats: DataPlaneStats,
                 now_ms: int, metrics: Metrics | None = None) -> tuple[list[CaptureBatch], list[DeadLetter]]:
    """A poll of one partition of a mapped source: its batches and dead letters. Pair outcomes wait in
    ``state.pair_outcomes`` until the transaction holding the poll's offsets commits (:func:`flush_outcomes`):
    an abort drops them with the state and the replay counts them again, so each is counted once."""
    parsed = parser.parse(messages_of(msgs), state.pairs, now_ms)
    if state.pairs is not None:
        state.pair_outcomes.update(state.pairs.take_outcomes())
    return parsed


def flush_outcomes(label_outcomes: Counter[tuple[str, str]], parts: Iterable[PartitionState],
                   parser: MappedParser | None, stats: DataPlaneStats, metrics: Metrics | None) -> None:
    """After a commit: the label join's outcomes (model, outcome) to ``streamdrift_label_join_total`` and the
    pairs' to ``stats.pairs_by_outcome`` and ``streamdrift_source_pairs_total{source, outcome}``."""
    if metrics is not None:
        for (model, outcome), n in label_outcomes.items():
            metrics.label_joined(model or "_all", outcome, n)
    label_outcomes.clear()
    for state in parts:
        if not state.pair_outcomes:
            continue
        stats.pairs_by_outcome.update(state.pair_outcomes)
        if metrics is not None and parser is not None:
            for outcome, n in state.pair_outcomes.items():
                metrics.source_paired(parser.source.name, outcome, n)
        state.pair_outcomes.clear()
