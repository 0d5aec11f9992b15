"""What the data plane knows of one assigned capture partition (and its co-partitioned labels partition)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamdrift.ingest.sources.pairing import PairStore
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.worker.deadletter import DeadLetterRecord


@dataclass
class LabelProgress:
    """The labels partition that goes with a capture partition: offsets and the labels watermark."""

    committed_offset: int | None
    committed_watermark: int | None
    next_offset: int | None
    watermark_ms: int | None
    last_record_wall_ms: int
    at_end: bool = False  # the consumer reached the partition's end (no backlog): it may be judged idle

    def observe(self, max_ts: int, delay_ms: int) -> None:
        candidate = max_ts - delay_ms
        self.watermark_ms = candidate if self.watermark_ms is None else max(self.watermark_ms, candidate)


@dataclass
class PartitionState:
    """One assigned capture partition: its pipeline (windows, label join) and offsets."""

    pipeline: PartitionPipeline
    committed_offset: int | None  # next offset to read after the last committed transaction
    committed_watermark: int | None
    committed_labels_closed: int | None = None  # labels stage closed for windows starting before this
    next_offset: int | None = None  # next offset to read after what was consumed
    last_record_wall_ms: int = 0
    dead: list[DeadLetterRecord] = field(default_factory=list)
    labels: LabelProgress | None = None  # the co-partitioned labels partition (None: labels disabled)
    at_end: bool = False  # the consumer reached the partition's end (no backlog): it may be judged idle
    pairs: PairStore | None = None  # a paired source's halves waiting for their other half
    pair_outcomes: Counter[str] = field(default_factory=Counter)  # since the last commit: counted once committed

    def close(self) -> None:
        if self.pipeline.labels is not None:
            self.pipeline.labels.store.close()


def note_ends(parts: Mapping[int, PartitionState], at_end: Mapping[int, bool], *, labels: bool) -> None:
    """Record which partitions (capture, or their labels partitions) a poll read to their end."""
    for partition, ended in at_end.items():
        state = parts.get(partition)
        if state is None:
            continue
        if not labels:
            state.at_end = ended
        elif state.labels is not None:
            state.labels.at_end = ended


def advance_idle(parts: Mapping[int, PartitionState], now_ms: int, idle_ms: int, delay_ms: int,
                 polling_since_ms: int = 0) -> None:
    """Idle partitions advance their watermark by wall clock: those that sent nothing for ``idle_ms`` AND whose
    consumer reached their end (an end-of-partition event after their last message), so a partition with a
    backlog still to read (after a restart, a rebalance, a slow start) never advances past records in the topic.
    A labels partition alike, to ``now - delay``. ``polling_since_ms``: since when the loop polled without a gap;
    quiet time before it does not count (the end-of-partition event is stale once the loop stopped reading)."""
    for state in parts.values():
        if state.at_end and now_ms - max(state.last_record_wall_ms, polling_since_ms) >= idle_ms:
            state.pipeline.advance_idle(now_ms)
        labels = state.labels
        if labels is not None and labels.at_end and \
                now_ms - max(labels.last_record_wall_ms, polling_since_ms) >= idle_ms:
            labels.observe(now_ms, delay_ms)
