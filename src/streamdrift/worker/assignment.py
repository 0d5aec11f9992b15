"""A data plane's assigned partitions: their fresh state from the committed offsets (and the watermarks in
the offsets' metadata), and the seeks back to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streamdrift.ingest.sources.engine import MappedParser
from streamdrift.monitors.registry import ModelMonitors
from streamdrift.profile.profiles import ProfileParams
from streamdrift.settings import Settings
from streamdrift.window.joinstore import MemoryBudget
from streamdrift.window.labels import PartitionLabels
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.window.windows import WindowSpec
from streamdrift.worker.joinrestore import new_store, rebuild_store
from streamdrift.worker.kafka_errors import call_with_retry
from streamdrift.worker.offsets import decode_labels_closed, decode_watermark
from streamdrift.worker.partitions import LabelProgress, PartitionState
from streamdrift.worker.sources import rebuild_pairs


@dataclass(frozen=True)
class Committed:
    """What the last committed transaction left of one capture partition and its labels partition."""

    partition: int
    offset: int | None
    watermark: int | None
    labels_offset: int | None = None
    labels_watermark: int | None = None
    labels_closed: int | None = None

    @classmethod
    def of(cls, state: PartitionState, partition: int) -> Committed:
        labels = state.labels
        return cls(partition, state.committed_offset, state.committed_watermark,
                   labels.committed_offset if labels else None, labels.committed_watermark if labels else None,
                   state.committed_labels_closed)


def read_committed(consumer: Consumer, labels_consumer: Consumer | None, labels_topic: str,
                   partitions: list[TopicPartition]) -> list[Committed]:
    # retried: while the group coordinator moves (a broker failure) the answer is NOT_COORDINATOR for a moment;
    # raised, it would cost a rebuild of the clients and a rebalance
    committed = call_with_retry(lambda: consumer.committed(partitions, timeout=30), "read committed offsets")
    labels = {tp.partition: tp for tp in (call_with_retry(lambda: labels_consumer.committed(
        [TopicPartition(labels_topic, p.partition) for p in partitions], timeout=30), "read committed label offsets")
        if labels_consumer is not None else [])}
    out = []
    for tp in committed:
        ltp = labels.get(tp.partition)
        out.append(Committed(
            tp.partition, tp.offset if tp.offset >= 0 else None, decode_watermark(tp.metadata),
            ltp.offset if ltp is not None and ltp.offset >= 0 else None,
            decode_watermark(ltp.metadata) if ltp is not None else None, decode_labels_closed(tp.metadata)))
    return out


def seek_committed(consumer: Consumer, labels_consumer: Consumer | None, topic: str, labels_topic: str,
                   committed: Committed) -> None:
    """Both consumers back to the partition's committed offsets (the beginning when none)."""
    p = committed.partition
    consumer.seek(TopicPartition(topic, p, OFFSET_BEGINNING if committed.offset is None else committed.offset))
    if labels_consumer is not None:
        offset = OFFSET_BEGINNING if committed.labels_offset is None else committed.labels_offset
        labels_consumer.seek(TopicPartition(labels_topic, p, offset))


def labels_start(labels_topic: str, committed: Committed) -> TopicPartition:
    offset = committed.labels_offset if committed.labels_offset is not None else OFFSET_BEGINNING
    return TopicPartition(labels_topic, committed.partition, offset)


class PartitionFactory:
    """Builds a partition's state as its last commit left it: windows from the committed watermark, the label
    join rebuilt from the topics (see :mod:`streamdrift.worker.joinrestore`)."""

    def __init__(self, settings: Settings, spec: WindowSpec, monitors_of: Callable[[str], ModelMonitors],
                 params: ProfileParams, clock: Callable[[], float], *, parser: MappedParser | None = None,
                 partition_base: int = 0) -> None:
        """``parser``: a mapped source's (its pairs and join are rebuilt through it); ``partition_base``: the
        partials partition of the topic's partition 0 (see :mod:`streamdrift.worker.sources`)."""
        self.settings = settings
        self.parser = parser
        self.partition_base = partition_base
        self.spec = spec
        self.monitors_of = monitors_of
        self.params = params
        self.clock = clock
        self.join_budget = MemoryBudget(settings.labels.max_memory_items)  # shared by the partitions' stores

    def fresh(self, c: Committed) -> PartitionState:
        now_ms = int(self.clock() * 1000)
        labels: PartitionLabels | None = None
        progress: LabelProgress | None = None
        if self.settings.labels.enabled:
            progress = LabelProgress(c.labels_offset, c.labels_watermark, c.labels_offset, c.labels_watermark, now_ms)
            # the pending join state goes with the committed offsets: rebuild it from the ttl span before them
            # (with one watermark too: a partition whose labels had committed nothing yet still has predictions
            # waiting, and the labels that come after the restart must find them)
            marks = [w for w in (c.watermark, c.labels_watermark) if w is not None]
            since = min(marks) - round(self.settings.labels.ttl * 1000) if marks else None
            store = (rebuild_store(self.settings, c.partition, self.join_budget, c.offset, c.labels_offset, since,
                                   self.parser)
                     if since is not None else new_store(self.settings, c.partition, self.join_budget))
            labels = PartitionLabels(store, self.spec.size_ms, self.monitors_of, c.labels_closed)
        pairs = None
        if self.parser is not None:
            since_pairs = (None if c.watermark is None
                           else c.watermark - round(self.parser.source.pairing.ttl_seconds * 1000))
            pairs = rebuild_pairs(self.settings, self.parser, c.partition, c.offset, since_pairs)
        pipeline = PartitionPipeline(self.spec, self.settings.topics.capture, self.partition_base + c.partition,
                                     self.monitors_of,
                                     watermark_ms=c.watermark, labels=labels, params=self.params,
                                     max_message_bytes=self.settings.limits.max_partial_bytes)
        return PartitionState(pipeline, c.offset, c.watermark, c.labels_closed, next_offset=c.offset,
                              last_record_wall_ms=now_ms, labels=progress, pairs=pairs)
