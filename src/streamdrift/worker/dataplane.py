"""The data plane: capture batches -> per-(model, window, partition) deltas, committed exactly once.

One confluent-kafka consumer (read_committed, no auto commit) and one transactional producer per process.
Every ``commit_interval`` (and at once when a partition's watermark passes a window's end) ONE transaction
carries: the deltas profiled since the last commit (``partials``, key = model id), a ``WindowClosed`` per
(partition, window) to every partition of ``partials``, dead letters, and the consumer offsets with the
partition's watermark in the offset metadata (KIP-447 ``send_offsets_to_transaction``). A failed transaction
is aborted and the affected partitions are rewound to their last committed offset and watermark, so the
replay rebuilds exactly the deltas that were lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka import KafkaError as CKafkaError

from streamdrift.errors import KafkaError
from streamdrift.metrics import Metrics
from streamdrift.partials import PartialDelta, WindowClosed, encode_partial
from streamdrift.profiles import ProfileParams
from streamdrift.records import parse_capture
from streamdrift.settings import Settings
from streamdrift.windows import PartitionWindows, WindowSpec
from streamdrift.worker.deadletter import DeadLetterRecord
from streamdrift.worker.kafka_errors import call_with_retry, from_error, txn_requires_abort, wrap
from streamdrift.worker.offsets import decode_watermark, encode_watermark
from streamdrift.worker.stats import DataPlaneStats

log = logging.getLogger(__name__)
_CONNECTIVITY = frozenset({CKafkaError._TRANSPORT, CKafkaError._ALL_BROKERS_DOWN, CKafkaError._RESOLVE})

LabelHook = Callable[[Sequence[Message]], None]


@dataclass
class PartitionState:
    """What the data plane knows of one assigned capture partition."""

    windows: PartitionWindows
    committed_offset: int | None  # next offset to read after the last committed transaction
    committed_watermark: int | None
    next_offset: int | None = None  # next offset to read after what was consumed
    last_record_wall_ms: int = 0
    dead: list[DeadLetterRecord] = field(default_factory=list)


def transactional_id(group_id: str, instance_id: str | None) -> str:
    """Fixed for a named instance (a restart fences the crashed predecessor and aborts its open transaction at
    once); otherwise unique per process (KIP-447 fences zombies by group generation; an orphaned transaction is
    aborted by the broker after ``transaction.timeout.ms``)."""
    if instance_id:
        return f"{group_id}-dataplane-{instance_id}"
    return f"{group_id}-dataplane-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def consumer_config(settings: Settings) -> dict[str, str | int | float | bool]:
    extra: dict[str, str | int | float | bool] = {
        "group.id": settings.group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    if settings.instance_id:
        extra["group.instance.id"] = settings.instance_id
    return settings.client_config(extra)


def producer_config(settings: Settings) -> dict[str, str | int | float | bool]:
    txn_timeout_ms = max(10_000, round(settings.commit_interval * 5000))
    return settings.client_config(
        {
            "transactional.id": transactional_id(settings.group_id, settings.instance_id),
            "linger.ms": 20,
            "compression.type": "none",  # aiokafka (faust) cannot read lz4 without the lz4 package
            "message.max.bytes": 8 << 20,
            "transaction.timeout.ms": txn_timeout_ms,
        }
    )


class DataPlane:
    """Consume capture -> profile -> transactional partials. ``run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        stats: DataPlaneStats | None = None,
        metrics: Metrics | None = None,
        label_hook: LabelHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.stats = stats or DataPlaneStats()
        self.metrics = metrics
        self.label_hook = label_hook  # model-quality engineer: labels topic handler (not consumed yet)
        self._clock = clock
        self._spec = WindowSpec(
            size_ms=settings.window.size_ms,
            lateness_ms=settings.window.lateness_ms,
            late_policy=settings.window.late_policy,
        )
        p = settings.profile
        self._params = ProfileParams(kll_k=p.kll_k, frequent_lg_max_k=p.frequent_lg_max_k, hll_lg_k=p.hll_lg_k)
        self._topic = settings.topics.capture
        self._parts: dict[int, PartitionState] = {}
        self._last_commit = 0.0
        self._in_txn = False
        self._last_conn_error = 0.0
        self._consumer = Consumer({**consumer_config(settings), "error_cb": self._on_client_error})
        self._producer = Producer({**producer_config(settings), "error_cb": self._on_client_error})
        self._n_partials = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        call_with_retry(lambda: self._producer.init_transactions(30), "init transactions")
        self._n_partials = self._partition_count(self.settings.topics.partials)
        self._consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("data plane started: topic=%s group=%s", self._topic, self.settings.group_id)

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.is_set():
                self.step()
            self.commit()
        finally:
            self.close()

    def close(self) -> None:
        if self._in_txn:
            self._abort("shutdown")
        self._consumer.close()
        self._producer.flush(10)
        log.info("data plane stopped")

    # -- one loop iteration ------------------------------------------------------------------------
    def step(self, timeout: float = 0.2) -> None:
        try:
            messages = self._consumer.consume(self.settings.batch_size, timeout)
        except KafkaException as exc:
            raise wrap(exc, "consume") from exc
        if messages:
            self._process(messages)
        now_ms = int(self._clock() * 1000)
        self._advance_idle(now_ms)
        if self.metrics is not None:
            self._update_gauges(self.metrics, now_ms)
        if self._clock() - self._last_commit >= self.settings.commit_interval or self._any_due():
            self.commit()

    def _process(self, messages: list[Message]) -> None:
        by_partition: dict[int, list[Message]] = defaultdict(list)
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise from_error(err, "consume")
                log.warning("consume error: %s", err.str())
                continue
            by_partition[msg.partition() or 0].append(msg)
        now_ms = int(self._clock() * 1000)
        for partition, msgs in by_partition.items():
            state = self._parts.get(partition)
            if state is None:  # revoked while the batch was in flight
                continue
            self._process_partition(partition, state, msgs)
            state.last_record_wall_ms = now_ms

    def _process_partition(self, partition: int, state: PartitionState, msgs: list[Message]) -> None:
        values = [msg.value() or b"" for msg in msgs]
        stamps = [msg.timestamp()[1] for msg in msgs]
        batches, dead = parse_capture(
            values, max_bytes=self.settings.max_record_bytes, fallback_timestamps_ms=stamps
        )
        self.stats.consumed += len(values)
        m = self.metrics
        for batch, result in zip(batches, state.windows.add_many(batches), strict=True):
            self.stats.add_model(batch.model_id, result.n_added, result.n_late)
            self.stats.late_dropped += result.n_late_dropped
            if m is not None:
                m.record_consumed(batch.model_id, batch.n_rows)
                m.record_processed(batch.model_id, result.n_added)
                if result.n_late:
                    m.record_late(batch.model_id, self._spec.late_policy, result.n_late)
        for d in dead:
            bad = msgs[d.index]
            state.dead.append(
                DeadLetterRecord(
                    bad.key(), bad.value() or b"", d.reason, d.detail, self._topic, partition, bad.offset() or 0
                )
            )
            self.stats.deadlettered[d.reason] += 1
            if m is not None:
                m.record_deadlettered(d.reason)
        state.next_offset = (msgs[-1].offset() or 0) + 1

    def _on_client_error(self, err: CKafkaError) -> None:
        """Client-level errors (librdkafka retries them itself); remember connectivity trouble."""
        if err.code() in _CONNECTIVITY:
            if self._clock() - self._last_conn_error > self.settings.window.idle_timeout:
                log.warning("Kafka connectivity problem: %s", err.str())
            self._last_conn_error = self._clock()
        elif err.fatal():
            log.error("fatal Kafka client error: %s", err.str())

    def _advance_idle(self, now_ms: int) -> None:
        """Idle partitions advance by wall clock, but never while (or shortly after) the broker was unreachable:
        records produced during an outage arrive late otherwise."""
        idle_ms = self.settings.window.idle_timeout_ms
        if now_ms - self._last_conn_error * 1000 < idle_ms:
            return
        for state in self._parts.values():
            if now_ms - state.last_record_wall_ms >= idle_ms:
                state.windows.advance_idle(now_ms)

    def _update_gauges(self, metrics: Metrics, now_ms: int) -> None:
        """Watermark lag and consumer lag (from the high watermarks the fetcher already has: no request)."""
        for partition, state in self._parts.items():
            if state.windows.watermark_ms is not None:
                metrics.set_watermark_lag(partition, (now_ms - state.windows.watermark_ms) / 1000)
            if state.next_offset is not None:
                try:
                    _, high = self._consumer.get_watermark_offsets(
                        TopicPartition(self._topic, partition), cached=True
                    )
                except KafkaException:
                    continue
                if high >= 0:
                    metrics.set_consumer_lag(self._topic, partition, max(0, high - state.next_offset))

    def _any_due(self) -> bool:
        return any(s.windows.due_windows() for s in self._parts.values())

    # -- the transaction ---------------------------------------------------------------------------
    def commit(self) -> None:
        """One transaction with everything pending; on failure abort and rewind to the last commit."""
        self._last_commit = self._clock()
        offsets = self._produce_pending()
        if not self._in_txn:
            return
        try:
            self._producer.send_offsets_to_transaction(offsets, self._consumer.consumer_group_metadata(), 30)
            self._producer.commit_transaction(60)
        except KafkaException as exc:
            self._on_txn_failure(exc)
            return
        self._in_txn = False
        self.stats.commits += 1
        for tp in offsets:
            state = self._parts.get(tp.partition)
            if state is not None:
                state.committed_offset = tp.offset
                state.committed_watermark = decode_watermark(tp.metadata)

    def _begin(self) -> None:
        if not self._in_txn:
            self._producer.begin_transaction()
            self._in_txn = True

    def _produce_pending(self) -> list[TopicPartition]:
        offsets: list[TopicPartition] = []
        for partition, state in sorted(self._parts.items()):
            produced = self._produce_partition(partition, state)
            moved = state.next_offset is not None and state.next_offset != state.committed_offset
            wm = state.windows.watermark_ms
            if produced or moved or (state.next_offset is not None and wm != state.committed_watermark):
                self._begin()
                offsets.append(TopicPartition(self._topic, partition, state.next_offset or 0, encode_watermark(wm)))
        return [tp for tp in offsets if tp.offset > 0]

    def _produce_partition(self, partition: int, state: PartitionState) -> bool:
        produced = False
        end_offset = state.next_offset if state.next_offset is not None else -1
        for delta in state.windows.drain_deltas():
            self._begin()
            msg = PartialDelta(
                model_id=delta.model_id,
                model_version=delta.model_version,
                window_start_ms=delta.window_start_ms,
                window_end_ms=delta.window_end_ms,
                source_topic=self._topic,
                partition=partition,
                end_offset=end_offset,
                n_records=delta.n_records,
                profile=delta.profile,
            )
            self._send(self.settings.topics.partials, delta.model_id.encode(), encode_partial(msg))
            self.stats.deltas += 1
            produced = True
        produced |= self._produce_closed(partition, state)
        for dead in state.dead:
            self._begin()
            self._send(self.settings.topics.deadletter, dead.key, dead.value, dead.headers())
            produced = True
        state.dead.clear()
        return produced

    def _produce_closed(self, partition: int, state: PartitionState) -> bool:
        wm = state.windows.watermark_ms
        if wm is None:
            return False
        markers: list[WindowClosed] = []
        for start, end in sorted(state.windows.due_windows()):
            models = state.windows.close(start)
            markers.append(WindowClosed(self._topic, partition, start, end, wm, tuple(models)))
            self.stats.windows_closed += 1
            if self.metrics is not None:
                for model in models:
                    self.metrics.window_closed(model)
        if not markers:
            return False
        self._begin()
        for marker in markers:
            blob = encode_partial(marker)
            for p in range(self._n_partials):
                self._send(self.settings.topics.partials, None, blob, partition=p)
        return True

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        kwargs: dict[str, object] = {"key": key, "value": value}
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, **kwargs)  # type: ignore[arg-type]
                return
            except BufferError:
                self._producer.poll(0.05)  # queue full: let deliveries drain
            except KafkaException as exc:
                raise wrap(exc, f"produce to {topic}") from exc

    def _on_txn_failure(self, exc: KafkaException) -> None:
        wrapped = wrap(exc, "commit transaction")
        if wrapped.fatal or not (txn_requires_abort(exc) or wrapped.retriable):
            raise wrapped from exc
        log.warning("transaction failed, aborting and replaying from the last commit: %s", wrapped)
        self._abort(str(wrapped))

    def _abort(self, why: str) -> None:
        try:
            self._producer.abort_transaction(30)
        except KafkaException as exc:
            raise wrap(exc, "abort transaction") from exc
        finally:
            self._in_txn = False
        self.stats.aborts += 1
        log.info("transaction aborted (%s); rewinding %d partitions", why, len(self._parts))
        self._rewind(list(self._parts))

    def _rewind(self, partitions: list[int]) -> None:
        """Drop uncommitted state and seek back to the last committed offset and watermark."""
        for partition in partitions:
            state = self._parts[partition]
            self._parts[partition] = self._fresh_state(state.committed_offset, state.committed_watermark)
            offset = OFFSET_BEGINNING if state.committed_offset is None else state.committed_offset
            self._consumer.seek(TopicPartition(self._topic, partition, offset))

    # -- rebalancing -------------------------------------------------------------------------------
    def _fresh_state(self, offset: int | None, watermark: int | None) -> PartitionState:
        windows = PartitionWindows(self._spec, self._params, watermark_ms=watermark)
        now_ms = int(self._clock() * 1000)
        return PartitionState(windows, offset, watermark, next_offset=offset, last_record_wall_ms=now_ms)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=30)
        except KafkaException as exc:
            raise wrap(exc, "read committed offsets") from exc
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else None
            watermark = decode_watermark(tp.metadata)
            self._parts[tp.partition] = self._fresh_state(offset, watermark)
        log.info("assigned partitions %s", sorted(tp.partition for tp in committed))
        consumer.incremental_assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [tp.partition for tp in partitions]
        if self._in_txn or any(self._parts.get(p) is not None for p in revoked):
            try:
                self.commit()
            except KafkaError as exc:  # the new owner replays from the last commit
                log.warning("commit on revoke failed: %s", exc)
        for p in revoked:
            self._parts.pop(p, None)
        log.info("revoked partitions %s", sorted(revoked))
        consumer.incremental_unassign(partitions)

    def _partition_count(self, topic: str) -> int:
        try:
            metadata = self._consumer.list_topics(topic, timeout=15)
        except KafkaException as exc:
            raise wrap(exc, f"describe topic {topic}") from exc
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise KafkaError(f"topic {topic} does not exist (run `streamdrift topics create`)")
        return len(info.partitions)
