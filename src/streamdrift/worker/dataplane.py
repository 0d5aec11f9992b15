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
import copy
import itertools
import logging
import os
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar, cast, overload

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka import KafkaError as CKafkaError

from streamdrift.errors import ConfigError, KafkaError
from streamdrift.ingest.records import CaptureBatch, DeadLetter, parse_capture, parse_labels
from streamdrift.metrics import Metrics
from streamdrift.monitors.model_quality.concept import ConceptDriftConfig, ConceptDriftMonitor
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import Settings
from streamdrift.window.joinstore import MemoryBudget
from streamdrift.window.partials import LABELS, PartialDelta, Stage, WindowClosed, encode_partial
from streamdrift.window.windows import PartitionWindows, WindowSpec
from streamdrift.worker.baselines import BaselineWatcher
from streamdrift.worker.concept_events import concept_event
from streamdrift.worker.deadletter import DeadLetterRecord
from streamdrift.worker.joinrestore import new_store, rebuild_store
from streamdrift.worker.kafka_errors import call_with_retry, from_error, txn_requires_abort, wrap
from streamdrift.worker.monitors import MODEL_QUALITY, ErrorStream, PartitionMonitors
from streamdrift.worker.offsets import decode_labels_closed, decode_watermark, encode_watermark
from streamdrift.worker.setup import BaselineCache, ModelSetup
from streamdrift.worker.stats import DataPlaneStats

PARSE_AHEAD_MAX_BYTES = 1 << 14  # a poll whose first message is smaller (JSON records) is parsed one partition ahead
In = TypeVar("In")
Out = TypeVar("Out")

log = logging.getLogger(__name__)
_CONNECTIVITY = frozenset({CKafkaError._TRANSPORT, CKafkaError._ALL_BROKERS_DOWN, CKafkaError._RESOLVE})


@dataclass
class PartitionState:
    """What the data plane knows of one assigned capture partition."""

    windows: PartitionWindows
    committed_offset: int | None  # next offset to read after the last committed transaction
    committed_watermark: int | None
    committed_labels_closed: int | None = None  # labels stage closed for windows starting before this
    next_offset: int | None = None  # next offset to read after what was consumed
    last_record_wall_ms: int = 0
    dead: list[DeadLetterRecord] = field(default_factory=list)
    monitors: PartitionMonitors | None = None
    labels: LabelProgress | None = None  # the co-partitioned labels partition (None: labels disabled)


@dataclass
class LabelProgress:
    """The labels partition that goes with a capture partition: offsets and the labels watermark."""

    committed_offset: int | None
    committed_watermark: int | None
    next_offset: int | None
    watermark_ms: int | None
    last_record_wall_ms: int

    def observe(self, max_ts: int, delay_ms: int) -> None:
        candidate = max_ts - delay_ms
        self.watermark_ms = candidate if self.watermark_ms is None else max(self.watermark_ms, candidate)


class KafkaTimestamps(Sequence[int]):
    """The Kafka timestamps of a poll's messages, read only where a record has no timestamp of its own (the
    fallback of :func:`parse_capture`; most polls never read one)."""

    def __init__(self, messages: list[Message]) -> None:
        self._messages = messages

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [m.timestamp()[1] for m in self._messages[index]]
        return int(self._messages[index].timestamp()[1])


def parsed_in_order(executor: Executor | None, parse: Callable[[In], Out],
                    inputs: list[In]) -> Generator[Out, None, None]:
    """``parse`` of each input, in order: the next input is parsed in ``executor`` while the caller parses the
    first input or works on the current result (one parse ahead, so at most two inputs' results exist at once);
    without an executor, one after the other here. Closing the generator (or a parse raising here) cancels the
    parse ahead if it has not started, else waits for it: no parse runs on after the generator ended, and what a
    parse ahead that nobody takes raised is logged. (Parsing the second input beside the first: median ratio to
    the raw rate 67% against 63% when it waited for the first, 10 interleaved passes each.)"""
    def submit(i: int) -> Future[Out] | None:
        return executor.submit(parse, inputs[i]) if executor is not None and i < len(inputs) else None

    ahead: Future[Out] | None = None
    try:
        for i, item in enumerate(inputs):
            if ahead is None:  # the first (or no executor): the next is parsed there while this one is parsed here
                ahead = submit(i + 1)
                current = parse(item)
            else:
                current = ahead.result()
                ahead = submit(i + 1)
            yield current
    finally:
        if ahead is not None and not ahead.cancel():
            failed = ahead.exception()  # waits for the running parse
            if failed is not None:
                log.warning("a parse ahead that was not used raised: %r", failed)


def _add_captures(monitors: PartitionMonitors, batches: list[CaptureBatch],
                  wm_before: int | None) -> list[ErrorStream]:
    """The predictions of one partition's batches into its label join, bias and attribution states."""
    return [stream for batch in batches for stream in monitors.add_capture(batch, wm_before)]


def _without_errors(messages: list[Message], what: str) -> list[Message]:
    """The poll's messages that are not error events; those are logged (a fatal one raises)."""
    kept: list[Message] = []
    for msg in messages:
        err = msg.error()
        if err is None:
            kept.append(msg)
        elif err.fatal():
            raise from_error(err, what)
        else:
            log.warning("%s error: %s", what, err.str())
    return kept


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
        # librdkafka prefetches up to 64 MB per consumer by default; that counts towards the worker's RSS and
        # buys no throughput here (one consume() call takes batch_size messages at a time) -- as long as a full
        # queue pauses fetching for a moment only: the default pause (fetch.queue.backoff.ms) is 1 s, which cut
        # a consumer with an 8-16 MB queue to ~80k messages/s; with 10 ms it reads ~500k/s (both measured)
        "queued.max.messages.kbytes": 8 << 10,
        "fetch.queue.backoff.ms": 10,
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.stats = stats or DataPlaneStats()
        self.metrics = metrics
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
        self._join_budget = MemoryBudget(settings.labels.max_memory_items)  # shared by the partitions' join stores
        self._last_commit = 0.0
        self._pending_records = 0  # capture records consumed since the last commit (bounds delta memory)
        self._backlog = False  # the last consume() showed records beyond it: the worker is behind the log end
        self._labels_backlog = False  # ... and the same for the labels consumer
        self._in_txn = False
        self._last_conn_error = 0.0
        self._consumer = Consumer({**consumer_config(settings), "error_cb": self._on_client_error})
        self._producer = Producer({**producer_config(settings), "error_cb": self._on_client_error})
        self._n_partials = 0
        self._labels_topic = settings.topics.labels
        self._labels_on = settings.labels.enabled
        # labels: a second consumer in the same group, assigned by hand the partitions matching capture's
        # (co-partitioned); its offsets go into the capture consumer's transaction.
        self._labels_consumer = (
            Consumer({**consumer_config(settings), "error_cb": self._on_client_error}) if self._labels_on else None
        )
        self._baselines: BaselineWatcher | None = None
        self._baseline_cache = BaselineCache()
        self._concept: dict[str, ConceptDriftMonitor] = {}
        self._concept_committed: dict[str, ConceptDriftMonitor] = {}
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
        self._n_partials = self._partition_count(self.settings.topics.partials)
        if self._labels_on:
            n_capture = self._partition_count(self._topic)
            n_labels = self._partition_count(self._labels_topic)
            if n_capture != n_labels:
                raise ConfigError(
                    f"{self._labels_topic} has {n_labels} partitions, {self._topic} {n_capture}: labels must be "
                    "co-partitioned with capture (same count, same key = model id) to be joined"
                )
            self._baselines = BaselineWatcher(self.settings, self._partition_count(self.settings.topics.baselines))
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
        if self._in_txn:
            self._abort("shutdown")
        self._consumer.close()
        if self._labels_consumer is not None:
            self._labels_consumer.close()
        if self._baselines is not None:
            self._baselines.stop()
        for state in self._parts.values():
            if state.monitors is not None:
                state.monitors.store.close()
        self._producer.flush(10)
        self._parser.shutdown(wait=True, cancel_futures=True)
        if self._joiner is not None:
            self._joiner.shutdown(wait=True, cancel_futures=True)
        log.info("data plane stopped")

    # -- one loop iteration ------------------------------------------------------------------------
    def step(self, timeout: float = 0.2) -> None:
        if self._labels_backlog:
            timeout = 0.0  # labels are waiting: do not block on capture
        try:
            messages = self._consumer.consume(self.settings.batch_size, timeout)
        except KafkaException as exc:
            raise wrap(exc, "consume") from exc
        groups = self._by_partition(messages, "consume")
        self._backlog = self._behind(len(messages), groups)
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
            self._update_gauges(self.metrics, now_ms)
        # a due window commits at once when the worker is caught up (alert latency); behind the log end, closes
        # ride the regular commits (each transaction costs a few coordinator round trips)
        if (self._clock() - self._last_commit >= self.settings.commit_interval
                or self._pending_records >= self.settings.commit_max_records
                or (not self._backlog and self._any_due())):
            self.commit()

    def _behind(self, n_messages: int, groups: dict[int, list[Message]]) -> bool:
        """Whether the worker is behind the log end: a full batch, or (big messages: the capped prefetch queue
        holds fewer than a batch) a partition whose high watermark, as of its last fetch, lies more than another
        poll's worth of messages beyond this poll. A live stream whose next records arrive during the poll is not
        behind: its due windows commit at once (alert latency). No broker call: librdkafka's cached watermarks."""
        if n_messages >= self.settings.batch_size:
            return True
        for partition, msgs in groups.items():
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(self._topic, partition), cached=True)
            except KafkaException:
                continue
            if high - ((msgs[-1].offset() or 0) + 1) > len(msgs) + 1:  # + 1: a transaction marker is no record
                return True
        return False

    @staticmethod
    def _by_partition(messages: list[Message], what: str) -> dict[int, list[Message]]:
        """The messages of one poll grouped by partition; error events are logged (fatal ones raise).

        A poll holds long runs of one partition's messages (librdkafka serves one fetch queue at a time), so the
        runs are grouped whole, and the messages are looked at one by one in C only (measured: 100-140 ns a
        message less than one Python loop over them)."""
        if any(map(Message.error, messages)):
            messages = _without_errors(messages, what)
        by_partition: dict[int, list[Message]] = defaultdict(list)
        for partition, run in itertools.groupby(messages, key=Message.partition):
            by_partition[partition or 0].extend(run)
        return by_partition

    def _dead_letters(self, state: PartitionState, msgs: list[Message], dead: list[DeadLetter], topic: str,
                      partition: int) -> None:
        """Unparseable records to the partition's dead letters (sent in the next transaction), counted."""
        for d in dead:
            bad = msgs[d.index]
            state.dead.append(DeadLetterRecord(bad.key(), bad.value() or b"", d.reason, d.detail, topic, partition,
                                               bad.offset() or 0))
            self.stats.deadlettered[d.reason] += 1
            if self.metrics is not None:
                self.metrics.record_deadlettered(d.reason)

    def _process(self, groups: dict[int, list[Message]]) -> None:
        now_ms = int(self._clock() * 1000)
        # partitions revoked while the batch was in flight are skipped
        parts = [(p, msgs) for p, msgs in groups.items() if p in self._parts]
        # Parsing ahead pays for JSON records (the native reader runs without the GIL); columnar batches are
        # decoded mostly holding it, and the two threads would only take turns (measured ~5-10% slower). Not in
        # smaller chunks: 1,024 messages a chunk (so this thread parses a poll's first chunk only) measured slower,
        # median ratio to the raw rate 52% against 58%, 512: 42% (per-batch costs; the two cores are busy anyway).
        small = bool(parts) and len(parts[0][1][0].value() or b"") < PARSE_AHEAD_MAX_BYTES
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
        raw: list[bytes | None] = list(map(Message.value, msgs))
        # a tombstone (None) is an empty record, a dead letter
        values = cast("list[bytes]", raw) if all(raw) else [value or b"" for value in raw]
        return parse_capture(values, max_bytes=self.settings.max_record_bytes,
                             fallback_timestamps_ms=KafkaTimestamps(msgs))

    def _process_partition(self, partition: int, state: PartitionState, msgs: list[Message],
                           parsed: tuple[list[CaptureBatch], list[DeadLetter]], joiner: Executor | None,
                           joins: list[Future[list[ErrorStream]]]) -> None:
        """One partition's part of a poll: the label join (in ``joiner`` if given: its future goes to ``joins``,
        and nothing else touches the partition's monitors until the caller waited for it), the windows' profiles,
        dead letters."""
        batches, dead = parsed
        self.stats.consumed += len(msgs)
        self._pending_records += sum(batch.n_rows for batch in batches)
        m = self.metrics
        if state.monitors is not None:
            wm_before = state.windows.watermark_ms
            if joiner is not None:
                joins.append(joiner.submit(_add_captures, state.monitors, batches, wm_before))
            else:
                self._concept_update(_add_captures(state.monitors, batches, wm_before))
        for batch, result in zip(batches, state.windows.add_many(batches), strict=True):
            self.stats.add_model(batch.model_id, result.n_added, result.n_late)
            self.stats.late_dropped += result.n_late_dropped
            if m is not None:
                m.record_consumed(batch.model_id, batch.n_rows)
                m.record_processed(batch.model_id, result.n_added)
                if result.n_late:
                    m.record_late(batch.model_id, self._spec.late_policy, result.n_late)
        self._dead_letters(state, msgs, dead, self._topic, partition)
        state.next_offset = (msgs[-1].offset() or 0) + 1

    # -- labels and the other monitors ------------------------------------------------------------
    def _process_labels(self, messages: list[Message]) -> None:
        now_ms = int(self._clock() * 1000)
        delay_ms = round(self.settings.labels.delay * 1000)
        for partition, msgs in self._by_partition(messages, "consume labels").items():
            state = self._parts.get(partition)
            if state is None or state.labels is None or state.monitors is None:
                continue
            values = [msg.value() or b"" for msg in msgs]
            labels, dead = parse_labels(values, max_bytes=self.settings.max_record_bytes,
                                        fallback_timestamps_ms=KafkaTimestamps(msgs))
            self._concept_update(state.monitors.add_labels(labels))
            self._dead_letters(state, msgs, dead, self._labels_topic, partition)
            if labels.n_rows:
                state.labels.observe(int(labels.timestamps_ms.max()), delay_ms)
            state.labels.next_offset = (msgs[-1].offset() or 0) + 1
            state.labels.last_record_wall_ms = now_ms

    def _setup_of(self, model_id: str) -> ModelSetup:
        blob = self._baselines.get(model_id) if self._baselines is not None else None
        return self._baseline_cache.setup(model_id, blob)

    def _concept_update(self, streams: list[ErrorStream]) -> None:
        if not self.settings.labels.concept_drift:
            return
        config = ConceptDriftConfig(params={"delta": self.settings.labels.concept_delta})
        for stream in streams:
            monitor = self._concept.get(stream.model_id)
            if monitor is None:
                monitor = self._concept[stream.model_id] = ConceptDriftMonitor(config)
            for signal in monitor.update(stream.errors):
                start = int(stream.window_starts[signal.index])
                event = concept_event(stream.model_id, start, start + self._spec.size_ms, signal,
                                      self._setup_of(stream.model_id).baseline_id)
                self._concept_events.append((stream.model_id, event.to_json()))
                if self.metrics is not None:
                    self.metrics.alert(stream.model_id, event.monitor, event.check, event.status)

    @staticmethod
    def _labels_closed(state: PartitionState) -> int | None:
        return state.monitors.labels_closed_before if state.monitors is not None else None

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
        delay_ms = round(self.settings.labels.delay * 1000)
        for state in self._parts.values():
            if now_ms - state.last_record_wall_ms >= idle_ms:
                state.windows.advance_idle(now_ms)
            if state.labels is not None and now_ms - state.labels.last_record_wall_ms >= idle_ms:
                state.labels.observe(now_ms, delay_ms)

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
        return any(s.windows.due_windows(limit=1) for s in self._parts.values())

    # -- the transaction ---------------------------------------------------------------------------
    def commit(self) -> None:
        """One transaction with everything pending; on failure abort and rewind to the last commit."""
        self._last_commit = self._clock()
        self._pending_records = 0  # an abort replays them from the last commit, counting them again
        offsets = self._produce_pending()
        if not self._in_txn:  # nothing to commit: outcomes (label expiry) depend on no uncommitted output
            self._flush_outcomes()  # (a later abort rebuilds the join store and may count an expiry again)
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
            if state is None:
                continue
            if tp.topic == self._labels_topic and state.labels is not None:
                state.labels.committed_offset = tp.offset
                state.labels.committed_watermark = decode_watermark(tp.metadata)
            elif tp.topic == self._topic:
                state.committed_offset = tp.offset
                state.committed_watermark = decode_watermark(tp.metadata)
                state.committed_labels_closed = decode_labels_closed(tp.metadata)
        self._concept_committed = copy.deepcopy(self._concept)
        self._flush_outcomes()

    def _flush_outcomes(self) -> None:
        if self.metrics is not None:
            for (model, outcome), n in self._pending_outcomes.items():
                self.metrics.label_joined(model or "_all", outcome, n)
        self._pending_outcomes.clear()

    def _begin(self) -> None:
        if not self._in_txn:
            self._producer.begin_transaction()
            self._in_txn = True

    def _produce_pending(self) -> list[TopicPartition]:
        offsets: list[TopicPartition] = []
        for partition, state in sorted(self._parts.items()):
            produced = self._produce_partition(partition, state)
            moved = state.next_offset is not None and state.next_offset != state.committed_offset
            wm, lc = state.windows.watermark_ms, self._labels_closed(state)
            progressed = wm != state.committed_watermark or lc != state.committed_labels_closed
            if produced or moved or (state.next_offset is not None and progressed):
                self._begin()
                offsets.append(TopicPartition(self._topic, partition, state.next_offset or 0,
                                              encode_watermark(wm, lc)))
            labels = state.labels
            if labels is not None and labels.next_offset is not None and (
                produced or labels.next_offset != labels.committed_offset
                or labels.watermark_ms != labels.committed_watermark
            ):
                self._begin()
                offsets.append(TopicPartition(self._labels_topic, partition, labels.next_offset,
                                              encode_watermark(labels.watermark_ms)))
        if self._concept_events:
            self._begin()
            for key, value in self._concept_events:
                self._send(self.settings.topics.alerts, key.encode(), value)
            self._concept_events.clear()
        return [tp for tp in offsets if tp.offset > 0]

    def _produce_partition(self, partition: int, state: PartitionState) -> bool:
        produced = False
        end_offset = state.next_offset if state.next_offset is not None else -1
        self._expire_join(state)  # before the monitors drain: its outcomes go into this transaction
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
        produced |= self._produce_monitors(partition, state)
        produced |= self._produce_closed(partition, state)
        for dead in state.dead:
            self._begin()
            self._send(self.settings.topics.deadletter, dead.key, dead.value, dead.headers())
            produced = True
        state.dead.clear()
        return produced

    def _produce_monitors(self, partition: int, state: PartitionState) -> bool:
        """Monitor states (model quality, bias, attribution) as deltas with an empty profile; their id
        (source ``<capture>#monitors@<labels offset>``, partition, capture offset) is new at every drain."""
        monitors = state.monitors
        if monitors is None:
            return False
        self._count_outcomes(monitors)
        drained = monitors.drain()
        if not drained:
            return False
        self._begin()
        labels_offset = state.labels.next_offset if state.labels is not None else None
        source = f"{self._topic}#monitors@{labels_offset if labels_offset is not None else -1}"
        end_offset = state.next_offset if state.next_offset is not None else -1
        size = self._spec.size_ms
        for (model, start), extras in sorted(drained.items()):
            # model quality belongs to the window's labels stage, bias and attribution to its data stage
            by_stage: dict[Stage, dict[str, bytes]] = {}
            for name, blob in extras.items():
                by_stage.setdefault(LABELS if name == MODEL_QUALITY else "data", {})[name] = blob
            for stage, part in sorted(by_stage.items()):
                msg = PartialDelta(model, None, start, start + size, source, partition, end_offset, 0,
                                   DatasetProfile.empty(self._params), part, stage=stage)
                self._send(self.settings.topics.partials, model.encode(), encode_partial(msg))
                self.stats.deltas += 1
        return True

    def _count_outcomes(self, monitors: PartitionMonitors) -> None:
        """Label outcomes go to the metrics once their transaction commits (an abort replays them)."""
        self._pending_outcomes.update(monitors.take_outcomes())

    def _produce_closed(self, partition: int, state: PartitionState) -> bool:
        wm = state.windows.watermark_ms
        if wm is None:
            return False
        markers: list[WindowClosed] = []
        # the data stage: due once the capture watermark passed the end (labels do not hold it)
        for start, end in state.windows.due_windows():
            if state.monitors is not None:
                state.monitors.close_window(start)
            models = state.windows.close(start)
            markers.append(WindowClosed(self._topic, partition, start, end, wm, tuple(models)))
            self.stats.windows_closed += 1
            if self.metrics is not None:
                for model in models:
                    self.metrics.window_closed(model)
        labels_marker = self._close_labels(partition, state)
        if labels_marker is not None:
            markers.append(labels_marker)
        if not markers:
            return False
        self._begin()
        for marker in markers:
            blob = encode_partial(marker)
            for p in range(self._n_partials):
                self._send(self.settings.topics.partials, None, blob, partition=p)
        return True

    @staticmethod
    def _expire_join(state: PartitionState) -> None:
        """Join entries expire against the smaller of the two watermarks (event time: a replay decides alike)."""
        if state.monitors is None or state.labels is None:
            return
        lwm, cwm = state.labels.watermark_ms, state.windows.watermark_ms
        if lwm is not None and cwm is not None:
            state.monitors.expire(min(lwm, cwm))

    def _close_labels(self, partition: int, state: PartitionState) -> WindowClosed | None:
        """The labels stage of windows closes once both watermarks passed their end (one marker per advance:
        the merger closes every window ending at or before its watermark)."""
        if state.monitors is None or state.labels is None:
            return None
        cwm, lwm = state.windows.watermark_ms, state.labels.watermark_ms
        if cwm is None or lwm is None:
            return None
        watermark = min(cwm, lwm)
        boundary = state.monitors.close_labels(watermark)
        if boundary is None:
            return None
        size = self._spec.size_ms
        return WindowClosed(self._topic, partition, boundary - size, boundary, watermark, stage=LABELS)

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
        self._concept = copy.deepcopy(self._concept_committed)
        self._concept_events.clear()
        self._pending_outcomes.clear()
        self._rewind(list(self._parts))

    def _rewind(self, partitions: list[int]) -> None:
        """Drop uncommitted state and seek back to the last committed offset and watermark."""
        for partition in partitions:
            state = self._parts[partition]
            if state.monitors is not None:
                state.monitors.store.close()
            labels = state.labels
            fresh = self._fresh_state(partition, state.committed_offset, state.committed_watermark,
                                      labels.committed_offset if labels else None,
                                      labels.committed_watermark if labels else None,
                                      state.committed_labels_closed)
            self._parts[partition] = fresh
            offset = OFFSET_BEGINNING if state.committed_offset is None else state.committed_offset
            self._consumer.seek(TopicPartition(self._topic, partition, offset))
            if self._labels_consumer is not None and labels is not None:
                l_offset = OFFSET_BEGINNING if labels.committed_offset is None else labels.committed_offset
                self._labels_consumer.seek(TopicPartition(self._labels_topic, partition, l_offset))

    # -- rebalancing -------------------------------------------------------------------------------
    def _fresh_state(self, partition: int, offset: int | None, watermark: int | None,
                     labels_offset: int | None = None, labels_watermark: int | None = None,
                     labels_closed: int | None = None) -> PartitionState:
        windows = PartitionWindows(self._spec, self._params, watermark_ms=watermark)
        now_ms = int(self._clock() * 1000)
        state = PartitionState(windows, offset, watermark, labels_closed, next_offset=offset,
                               last_record_wall_ms=now_ms)
        if not self._labels_on:
            return state
        state.labels = LabelProgress(labels_offset, labels_watermark, labels_offset, labels_watermark, now_ms)
        closed_before = None if watermark is None else watermark - watermark % self._spec.size_ms
        marks = [w for w in (watermark, labels_watermark) if w is not None]
        since = min(marks) - round(self.settings.labels.ttl * 1000) if len(marks) == 2 else None
        store = (rebuild_store(self.settings, partition, self._join_budget, offset, labels_offset, since)
                 if since is not None else new_store(self.settings, partition, self._join_budget))
        state.monitors = PartitionMonitors(store, self._spec.size_ms, closed_before, self._setup_of, labels_closed)
        return state

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=30)
            labels_committed = {
                tp.partition: tp
                for tp in (self._labels_consumer.committed(
                    [TopicPartition(self._labels_topic, p.partition) for p in partitions], timeout=30)
                    if self._labels_consumer is not None else [])
            }
        except KafkaException as exc:
            raise wrap(exc, "read committed offsets") from exc
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else None
            watermark = decode_watermark(tp.metadata)
            ltp = labels_committed.get(tp.partition)
            l_offset = ltp.offset if ltp is not None and ltp.offset >= 0 else None
            l_watermark = decode_watermark(ltp.metadata) if ltp is not None else None
            self._parts[tp.partition] = self._fresh_state(tp.partition, offset, watermark, l_offset, l_watermark,
                                                          decode_labels_closed(tp.metadata))
        log.info("assigned partitions %s", sorted(tp.partition for tp in committed))
        consumer.incremental_assign(partitions)
        if self._labels_consumer is not None:
            self._labels_consumer.incremental_assign([
                TopicPartition(self._labels_topic, tp.partition,
                               lt.offset if (lt := labels_committed.get(tp.partition)) is not None and lt.offset >= 0
                               else OFFSET_BEGINNING)
                for tp in committed
            ])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [tp.partition for tp in partitions]
        if self._in_txn or any(self._parts.get(p) is not None for p in revoked):
            try:
                self.commit()
            except KafkaError as exc:  # the new owner replays from the last commit
                log.warning("commit on revoke failed: %s", exc)
        for p in revoked:
            state = self._parts.pop(p, None)
            if state is not None and state.monitors is not None:
                state.monitors.store.close()
        log.info("revoked partitions %s", sorted(revoked))
        consumer.incremental_unassign(partitions)
        if self._labels_consumer is not None:
            self._labels_consumer.incremental_unassign([TopicPartition(self._labels_topic, p) for p in revoked])

    def _partition_count(self, topic: str) -> int:
        try:
            metadata = self._consumer.list_topics(topic, timeout=15)
        except KafkaException as exc:
            raise wrap(exc, f"describe topic {topic}") from exc
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise KafkaError(f"topic {topic} does not exist (run `streamdrift topics create`)")
        return len(info.partitions)
