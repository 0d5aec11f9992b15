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

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from typing import cast

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as CKafkaError

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.errors import ConfigError, KafkaError, PartialsTooLargeError
from streamdrift.events.concept import ConceptTracker
from streamdrift.events.events import DriftEvent
from streamdrift.ingest.records import DeadLetter, parse_capture, parse_labels
from streamdrift.ingest.sources.engine import MappedParser
from streamdrift.metrics import Metrics
from streamdrift.monitors.model_quality.concept import ConceptDriftConfig
from streamdrift.monitors.registry import ModelMonitors
from streamdrift.settings import Settings
from streamdrift.window.labels import ErrorStream
from streamdrift.window.windows import WindowSpec
from streamdrift.worker.admission import ModelAdmission
from streamdrift.worker.assignment import (
    Committed,
    PartitionFactory,
    labels_start,
    read_committed,
    seek_committed,
)
from streamdrift.worker.baselines import BaselineWatcher
from streamdrift.worker.clients import consumer_config, producer_config
from streamdrift.worker.deadletter import queue_dead_letters
from streamdrift.worker.health import Heartbeat
from streamdrift.worker.joinrestore import messages_of
from streamdrift.worker.kafka_errors import call_with_retry, wrap
from streamdrift.worker.offsets import decode_labels_closed, decode_watermark, encode_watermark
from streamdrift.worker.partitions import PartitionState, advance_idle, note_ends
from streamdrift.worker.polls import KafkaTimestamps, behind, by_partition, parsed_in_order, update_lag_gauges
from streamdrift.worker.produce import close_quietly, produce_partition
from streamdrift.worker.setup import BaselineCache
from streamdrift.worker.sources import flush_outcomes, parse_source
from streamdrift.worker.stats import DataPlaneStats
from streamdrift.worker.topics import topic_partitions
from streamdrift.worker.transaction import Transaction

_MIN_PARTIAL_BYTES = 64 << 10
PARSE_AHEAD_MAX_BYTES = 1 << 14  # a poll whose first message is smaller (JSON records) is parsed one partition ahead

log = logging.getLogger(__name__)
_POLL_GAP_S = 1.0  # consume() returning this much later than its timeout: the loop was away from its partitions
_CONNECTIVITY = frozenset({CKafkaError._TRANSPORT, CKafkaError._ALL_BROKERS_DOWN, CKafkaError._RESOLVE})


class DataPlane:
    """Consume capture -> profile -> transactional partials. ``run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        stats: DataPlaneStats | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        heartbeat: Heartbeat | None = None,
        source: MappedParser | None = None,  # a mapped source's data plane (see streamdrift.worker.sources)
        partition_base: int = 0,  # ... and its partials partition of its partition 0
    ) -> None:
        self.settings = settings
        self._source = source
        self._lag_label = "_capture" if source is None else source.source.name  # watermark lag's source
        self.heartbeat = heartbeat  # /health: the wall clock of every loop iteration
        self.stats = stats or DataPlaneStats()
        self.metrics = metrics
        self._clock = clock
        self._spec = WindowSpec(
            size_ms=settings.window.size_ms,
            lateness_ms=settings.window.lateness_ms,
            late_policy=settings.window.late_policy,
        )
        self._topic = settings.topics.capture
        self._limits = settings.limits.capture_limits()
        self._admission = ModelAdmission(settings.limits.max_models)
        self._broken = False  # a commit raised: the state is not what the last commit left
        self._parts: dict[int, PartitionState] = {}
        self._last_commit = 0.0
        self._pending_records = 0  # capture records consumed since the last commit (bounds delta memory)
        self._backlog = False  # the last consume() showed records beyond it: the worker is behind the log end
        self._labels_backlog = False  # ... and the same for the labels consumer
        self._last_conn_error = 0.0
        self._late_logged = 0.0
        self._last_polled = 0.0  # wall clock when consume() last returned
        self._polling_since_ms = 0  # polled without a gap since then: a partition quiet that long is idle
        self._consumer = Consumer({**consumer_config(settings), "error_cb": self._on_client_error})
        self._txn = Transaction({**producer_config(settings), "error_cb": self._on_client_error})
        self._producer = self._txn.producer
        self._n_partials = 0
        self._labels_topic = settings.topics.labels
        self._labels_on = settings.labels.enabled
        # labels: a second consumer in the same group, assigned by hand the partitions matching capture's
        # (co-partitioned); its offsets go into the capture consumer's transaction.
        self._labels_consumer = (
            Consumer({**consumer_config(settings), "error_cb": self._on_client_error}) if self._labels_on else None
        )
        self._baselines: BaselineWatcher | None = None
        self._baseline_cache = BaselineCache(settings.monitor_config())
        self._factory = PartitionFactory(settings, self._spec, self._monitors_of, self._baseline_cache.config.profile,
                                         clock, parser=source, partition_base=partition_base)
        self._concept = ConceptTracker(ConceptDriftConfig(params={"delta": settings.labels.concept_delta}),
                                       self._spec.size_ms, lambda model: self._monitors_of(model).baseline_id)
        self._concept_events: list[tuple[str, bytes]] = []
        self._pending_outcomes: Counter[tuple[str, str]] = Counter()
        # parses the next partitions' messages of a poll while this thread profiles one (the native reader
        # releases the GIL): parse_capture is pure, and results are taken in partition order
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamdrift-parse")
        # joins columnar polls' predictions while this thread profiles them (see _process)
        self._joiner = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamdrift-join")
                        if self._labels_on else None)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        call_with_retry(lambda: self._producer.init_transactions(30), "init transactions")
        self._n_partials = topic_partitions(self._consumer, self.settings.topics.partials)
        if self._labels_on:
            n_capture = topic_partitions(self._consumer, self._topic)
            n_labels = topic_partitions(self._consumer, self._labels_topic)
            if n_capture != n_labels:
                raise ConfigError(
                    f"{self._labels_topic} has {n_labels} partitions, {self._topic} {n_capture}: labels must be "
                    "co-partitioned with capture (same count, same key = model id) to be joined"
                )
        # the baselines define each model's monitors (window profiles declare the baseline's categorical
        # features; bias and attribution states follow its sections)
        self._baselines = BaselineWatcher(self.settings, topic_partitions(self._consumer, self.settings.topics.baselines))
        self._baselines.start()
        if not self._baselines.wait_caught_up(30):
            log.warning("baselines not read within 30 s: monitors start without them")
        self._consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("data plane started: topic=%s group=%s", self._topic, self.settings.group_id)

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.is_set():
                self.step(0.05)  # consume() waits its whole timeout for a part-full batch: keep it short
            self.commit()
        finally:
            self.close()

    def close(self) -> None:
        """Abort an open transaction, close the clients: every step runs even when a client failed fatally (a
        fenced producer or consumer: its calls raise) so that the rebuild starts from closed clients."""
        labels = self._labels_consumer
        close_quietly([("abort", lambda: self._abort("shutdown") if self._txn.open else None),
                       ("consumer close", self._consumer.close), ("labels consumer close", None if labels is None else labels.close),
                       ("producer flush", lambda: self._producer.flush(10))])
        if self._baselines is not None:
            self._baselines.stop()
        for state in self._parts.values():
            state.close()
        self._parser.shutdown(wait=True, cancel_futures=True)
        if self._joiner is not None:
            self._joiner.shutdown(wait=True, cancel_futures=True)
        log.info("data plane stopped")

    # -- one loop iteration ------------------------------------------------------------------------
    def step(self, timeout: float = 0.2) -> None:
        if self.heartbeat is not None:
            self.heartbeat.beat(self._clock())
        if self._labels_backlog or self._backlog:
            # labels are waiting: do not block on capture. Behind the log end: take what is fetched without waiting
            # for a full batch: messages of several KB fill the capped prefetch queue (queued.max.messages.kbytes)
            # with fewer than batch_size, so consume() sat out its whole timeout every poll while the fetcher could
            # have refilled the queue during the processing (OIP messages of 32 rows, ~16 KB: each poll waited the
            # 0.1 s, then processed, one after the other). An empty poll is no backlog: the next one waits again.
            timeout = 0.0
        try:
            messages = self._consumer.consume(self.settings.batch_size, timeout)
        except KafkaException as exc:
            raise wrap(exc, "consume") from exc
        polled = self._clock()
        if polled - self._last_polled > timeout + _POLL_GAP_S:  # away from the partitions (see _advance_idle)
            self._polling_since_ms = int(polled * 1000)
        self._last_polled = polled
        at_end: dict[int, bool] = {}
        groups = by_partition(messages, "consume", at_end)
        self._note_ends(at_end, labels=False)
        self._backlog = behind(self._consumer, self._topic, len(messages), groups, self.settings.batch_size)
        if groups:
            self._process(groups)
        if self._labels_consumer is not None and self._parts:
            try:
                labels = self._labels_consumer.consume(self.settings.batch_size, 0)
            except KafkaException as exc:
                raise wrap(exc, "consume labels") from exc
            self._labels_backlog = len(labels) >= self.settings.batch_size
            if labels:
                self._process_labels(labels)
        now_ms = int(self._clock() * 1000)
        self._advance_idle(now_ms)
        if self.metrics is not None:
            update_lag_gauges(self.metrics, self._consumer, self._topic, self._parts, now_ms, self._lag_label)
            self.metrics.features_dropped_to(sum(getattr(m.get("data_quality"), "dropped_features", 0)
                                                 for m in self._baseline_cache.all_monitors()))
        # a due window commits at once when the worker is caught up (alert latency); behind the log end, closes
        # ride the regular commits (each transaction costs a few coordinator round trips)
        if (self._clock() - self._last_commit >= self.settings.commit_interval
                or self._pending_records >= self.settings.commit_max_records
                or (not self._backlog and self._any_due())):
            self.commit()

    def _dead_letters(self, state: PartitionState, msgs: list[Message], dead: list[DeadLetter], topic: str,
                      partition: int) -> None:  # to the next transaction, counted
        queue_dead_letters(state.dead, msgs, dead, topic, partition, self.stats.deadlettered, self.metrics)

    def _process(self, groups: dict[int, list[Message]]) -> None:
        now_ms = int(self._clock() * 1000)
        # partitions revoked while the batch was in flight are skipped
        parts = [(p, msgs) for p, msgs in groups.items() if p in self._parts]
        # Parsing ahead pays for JSON records and a mapped source's JSON of any size (their native readers run
        # without the GIL); columnar batches are decoded mostly holding it, and the two threads would only take
        # turns (measured ~5-10% slower). Not in smaller chunks: 1,024 messages a chunk measured slower, median
        # ratio to the raw rate 52% against 58%, 512: 42% (per-batch costs; the two cores are busy anyway).
        small = bool(parts) and (self._source is not None
                                 or len(parts[0][1][0].value() or b"") < PARSE_AHEAD_MAX_BYTES)
        executor = self._parser if small else None
        # Columnar polls use the other core for the label join instead: each partition's predictions are joined
        # in the join thread while this one profiles them (the join's native loops release the GIL). Measured,
        # Arrow records with labels on: median 642k against 583k records/s, 3 interleaved passes each. JSON polls,
        # whose parse ahead already keeps the other core busy, measured slower with it, 4 passes each: 247k
        # against 266k with a join thread, 277k against 288k with the joins queued in the parser thread.
        joiner = self._joiner if executor is None else None
        joins: list[Future[list[ErrorStream]]] = []
        try:
            with contextlib.closing(parsed_in_order(executor, self._parse, [m for _, m in parts])) as parsed:
                for (partition, msgs), result in zip(parts, parsed, strict=True):
                    state = self._parts[partition]
                    self._process_partition(partition, state, msgs, result, joiner, joins)
                    state.last_record_wall_ms = now_ms
        finally:
            wait(joins)  # no join runs on once this returns or raises: the monitors are this thread's again
        for done in joins:  # in submission order: the concept detectors see what a sequential run sees
            self._concept_update(done.result())

    def _parse(self, msgs: list[Message]) -> tuple[list[CaptureBatch], list[DeadLetter]]:
        if self._source is not None:
            return parse_source(self._source, self._parts[msgs[0].partition() or 0], msgs, self.stats,
                                int(self._clock() * 1000), self.metrics)
        raw: list[bytes | None] = list(map(Message.value, msgs))
        # a tombstone (None) is an empty record, a dead letter
        values = cast("list[bytes]", raw) if all(raw) else [value or b"" for value in raw]
        return parse_capture(values, max_bytes=self.settings.max_record_bytes,
                             fallback_timestamps_ms=KafkaTimestamps(msgs), limits=self._limits,
                             now_ms=int(self._clock() * 1000))

    def _process_partition(self, partition: int, state: PartitionState, msgs: list[Message],
                           parsed: tuple[list[CaptureBatch], list[DeadLetter]], joiner: Executor | None,
                           joins: list[Future[list[ErrorStream]]]) -> None:
        """One partition's part of a poll: the label join (in ``joiner`` if given: its future goes to ``joins``,
        and nothing else touches the partition's monitors until the caller waited for it), the windows' profiles,
        dead letters."""
        batches, dead = parsed
        batches = self._admission.admit(batches, dead)
        self.stats.consumed += len(msgs)
        self._pending_records += sum(batch.n_rows for batch in batches)
        m = self.metrics
        pipeline = state.pipeline
        if pipeline.labels is not None:
            if joiner is not None:
                joins.append(joiner.submit(pipeline.join_captures, batches))
            else:
                self._concept_update(pipeline.join_captures(batches))
        for batch, result in zip(batches, pipeline.add_captures(batches), strict=True):
            self.stats.add_model(batch.model_id, result.n_added, result.n_late)
            self.stats.late_dropped += result.n_late_dropped
            if m is not None:
                m.record_consumed(batch.model_id, batch.n_rows)
                m.record_processed(batch.model_id, result.n_added)
                if result.n_late:
                    m.record_late(batch.model_id, self._spec.late_policy, result.n_late)
            if result.n_late and self._clock() - self._late_logged > 10:  # at most every 10 s: the metric counts
                self._late_logged = self._clock()
                log.warning("%d late records of %s on partition %d (watermark %s): %s", result.n_late,
                            batch.model_id, partition, pipeline.watermark_ms, self._spec.late_policy)
        self._dead_letters(state, msgs, dead, self._topic, partition)
        state.next_offset = (msgs[-1].offset() or 0) + 1

    # -- labels and the other monitors ------------------------------------------------------------
    def _process_labels(self, messages: list[Message]) -> None:
        now_ms = int(self._clock() * 1000)
        delay_ms = round(self.settings.labels.delay * 1000)
        at_end: dict[int, bool] = {}
        grouped = by_partition(messages, "consume labels", at_end)
        self._note_ends(at_end, labels=True)
        for partition, msgs in grouped.items():
            state = self._parts.get(partition)
            if state is None or state.labels is None:
                continue
            labels, dead = (parse_labels([msg.value() or b"" for msg in msgs], max_bytes=self.settings.max_record_bytes,
                                         fallback_timestamps_ms=KafkaTimestamps(msgs), limits=self._limits,
                                         now_ms=now_ms)
                            if self._source is None else self._source.parse_labels(messages_of(msgs), now_ms))
            self._concept_update(state.pipeline.add_labels(labels))
            self._dead_letters(state, msgs, dead, self._labels_topic, partition)
            if labels.n_rows:
                state.labels.observe(int(labels.timestamps_ms.max()), delay_ms)
            state.labels.next_offset = (msgs[-1].offset() or 0) + 1
            state.labels.last_record_wall_ms = now_ms

    def _monitors_of(self, model_id: str) -> ModelMonitors:
        blob = self._baselines.get(model_id) if self._baselines is not None else None
        return self._baseline_cache.monitors(model_id, blob)

    def _concept_update(self, streams: list[ErrorStream]) -> None:
        if not self.settings.labels.concept_drift or not streams:
            return
        for event in self._concept.update(streams):
            self._concept_events.append((event.model_id, event.to_json()))
            self._count_alert(event)

    def _count_alert(self, event: DriftEvent) -> None:
        if self.metrics is not None:
            self.metrics.alert(event.model_id, event.monitor, event.check, event.status)

    def _on_client_error(self, err: CKafkaError) -> None:
        """Client-level errors (librdkafka retries them itself); remember connectivity trouble."""
        if err.code() in _CONNECTIVITY:
            if self._clock() - self._last_conn_error > self.settings.window.idle_timeout:
                log.warning("Kafka connectivity problem: %s", err.str())
            self._last_conn_error = self._clock()
        elif err.fatal():
            log.error("fatal Kafka client error: %s", err.str())

    def _note_ends(self, at_end: dict[int, bool], *, labels: bool) -> None:
        note_ends(self._parts, at_end, labels=labels)

    def _advance_idle(self, now_ms: int) -> None:
        """Idle partitions advance by wall clock (see :func:`advance_idle`), but never while (or shortly after)
        the broker was unreachable: records produced during an outage arrive late otherwise. Nor when the loop
        was away from its partitions (a rebalance callback's commit, a slow transaction) for part of that time:
        a partition that gave no records then was not read, not idle (its records would arrive late)."""
        idle_ms = self.settings.window.idle_timeout_ms
        if now_ms - self._last_conn_error * 1000 >= idle_ms:
            advance_idle(self._parts, now_ms, idle_ms, round(self.settings.labels.delay * 1000),
                         self._polling_since_ms)

    def _any_due(self) -> bool:
        return any(s.pipeline.any_due() for s in self._parts.values())

    # -- the transaction ---------------------------------------------------------------------------
    def commit(self) -> None:
        """One transaction with everything pending; on failure abort and rewind to the last commit."""
        self._last_commit = self._clock()
        self._pending_records = 0  # an abort replays them from the last commit, counting them again
        offsets = self._produce_pending()
        if not self._txn.open:  # nothing to commit: outcomes (label expiry) depend on no uncommitted output
            self._flush_outcomes()  # (a later abort rebuilds the join store and may count an expiry again)
            return
        try:
            failed = self._txn.commit(offsets, self._consumer.consumer_group_metadata())
        except KafkaError:
            self._broken = True  # state not rewound: closing must not commit it (the next owner replays)
            raise
        if failed is not None:
            self._abort(str(failed))
            return
        self.stats.commits += 1
        if self.metrics is not None:
            self.metrics.transaction("committed")
        for tp in offsets:
            state = self._parts.get(tp.partition)
            if state is None:
                continue
            if tp.topic == self._labels_topic and state.labels is not None:
                state.labels.committed_offset = tp.offset
                state.labels.committed_watermark = decode_watermark(tp.metadata)
            elif tp.topic == self._topic:
                state.committed_offset = tp.offset
                state.committed_watermark = decode_watermark(tp.metadata)
                state.committed_labels_closed = decode_labels_closed(tp.metadata)
        self._concept.commit()
        self._flush_outcomes()

    def _flush_outcomes(self) -> None:  # label join and pairing outcomes of what was just committed
        flush_outcomes(self._pending_outcomes, self._parts.values(), self._source, self.stats, self.metrics)

    def _produce_pending(self) -> list[TopicPartition]:
        offsets: list[TopicPartition] = []
        for partition, state in sorted(self._parts.items()):
            produced = self._produce_partition(partition, state)
            moved = state.next_offset is not None and state.next_offset != state.committed_offset
            wm, lc = state.pipeline.watermark_ms, state.pipeline.labels_closed_before
            progressed = wm != state.committed_watermark or lc != state.committed_labels_closed
            if produced or moved or (state.next_offset is not None and progressed):
                self._txn.begin()
                offsets.append(TopicPartition(self._topic, partition, state.next_offset or 0,
                                              encode_watermark(wm, lc)))
            labels = state.labels
            if labels is not None and labels.next_offset is not None and (
                produced or labels.next_offset != labels.committed_offset
                or labels.watermark_ms != labels.committed_watermark
            ):
                self._txn.begin()
                offsets.append(TopicPartition(self._labels_topic, partition, labels.next_offset,
                                              encode_watermark(labels.watermark_ms)))
        if self._concept_events:
            self._txn.begin()
            for key, value in self._concept_events:
                self._txn.send(self.settings.topics.alerts, key.encode(), value)
            self._concept_events.clear()
        return [tp for tp in offsets if tp.offset > 0]

    def _produce_partition(self, partition: int, state: PartitionState) -> bool:
        return produce_partition(self._txn, self.settings, self._n_partials, state, self.stats, self.metrics,
                                 self._pending_outcomes)

    def _abort(self, why: str) -> None:
        """Abort the transaction and rewind every partition to its last commit (the replay rebuilds what was
        lost). When the broker refused a partial as too large, then raise: the data plane is rebuilt with smaller
        partials and producer batches (after the rewind: closing it must not commit what the abort lost)."""
        too_large = self._txn.too_large(self.settings.topics.partials)
        self._txn.abort()
        self.stats.aborts += 1
        if self.metrics is not None:
            self.metrics.transaction("aborted")
        log.info("transaction aborted (%s); rewinding %d partitions", why, len(self._parts))
        self._concept.rollback()
        self._concept_events.clear()
        self._pending_outcomes.clear()
        self._rewind(list(self._parts))
        if too_large is not None:  # the topic takes less: rebuild with smaller partials (and producer batches)
            limit = min(self.settings.limits.max_partial_bytes, too_large) // 2
            message = (f"the broker refused a {too_large}-byte partials message (MSG_SIZE_TOO_LARGE): the partials "
                       f"topic's max.message.bytes is below limits.max_partial_bytes "
                       f"({self.settings.limits.max_partial_bytes})")
            if limit < _MIN_PARTIAL_BYTES:
                raise KafkaError(f"{message}, even at {self.settings.limits.max_partial_bytes} bytes", fatal=True)
            raise PartialsTooLargeError(f"{message}: going on with {limit}", limit)

    def _rewind(self, partitions: list[int]) -> None:
        """Drop uncommitted state and seek back to the last committed offset and watermark."""
        for partition in partitions:
            state = self._parts[partition]
            state.close()
            committed = Committed.of(state, partition)
            self._parts[partition] = self._factory.fresh(committed)
            seek_committed(self._consumer, self._labels_consumer, self._topic, self._labels_topic, committed)

    # -- rebalancing -------------------------------------------------------------------------------
    def _fresh_state(self, partition: int, offset: int | None, watermark: int | None) -> PartitionState:  # tests
        return self._factory.fresh(Committed(partition, offset, watermark))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = read_committed(consumer, self._labels_consumer, self._labels_topic, partitions)
        for c in committed:
            self._parts[c.partition] = self._factory.fresh(c)
        log.info("assigned partitions %s", sorted(c.partition for c in committed))
        consumer.incremental_assign(partitions)
        if self._labels_consumer is not None:
            self._labels_consumer.incremental_assign([labels_start(self._labels_topic, c) for c in committed])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [tp.partition for tp in partitions]
        if not self._broken and (self._txn.open or any(self._parts.get(p) is not None for p in revoked)):
            try:
                self.commit()
            except KafkaError as exc:  # the new owner replays from the last commit
                log.warning("commit on revoke failed: %s", exc)
        for p in revoked:
            state = self._parts.pop(p, None)
            if state is not None:
                state.close()
        log.info("revoked partitions %s", sorted(revoked))
        consumer.incremental_unassign(partitions)
        if self._labels_consumer is not None:
            self._labels_consumer.incremental_unassign([TopicPartition(self._labels_topic, p) for p in revoked])
