"""Failure drills for a worker on a local Kafka cluster (:mod:`.kafkacluster`): a worker of two data-plane
processes and a control plane under a steady real-time stream of known capture records and labels, the
cluster's failures one after another (kill -9 of the leader of most capture partitions, of the data plane's
transaction coordinator, a rolling restart, a broker cut off with SIGSTOP), the time from each failure to the
first new committed window, and afterwards what the worker published compared with what was produced.

Six models, one per capture partition (labels on the same partition number: co-partitioned), each window's
feature ``f0`` shifted by 10 standard deviations in odd windows (by window index): every window's data-quality
check on ``f0`` flips, so each window's drift event is known. Used by tests/integration/test_cluster_exactly_once.py
and benchmarks/bench_cluster.py; not used by the worker itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from harness import (
    capture_records,
    create_all_topics,
    start_worker,
    stop_worker,
    unique_settings,
)

from streamdrift.baseline.build import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.kafkacluster import KafkaCluster
from streamdrift.dev.localkafka import find_free_port
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.ingest.encode import encode_label_record
from streamdrift.monitors.base import DATA, LABELS
from streamdrift.monitors.model_quality.window import merge_blobs
from streamdrift.settings import EvaluationSettings, LabelSettings, Settings, WindowSettings
from streamdrift.window.stored import StoredWindow, decode_stored
from streamdrift.worker.baselines import publish_baseline
from streamdrift.worker.clients import transactional_id
from streamdrift.worker.setup import BaselineCache
from streamdrift.worker.topics import topic_partitions

log = logging.getLogger(__name__)

SIZE_MS = 3000
N_MODELS = 6  # model m<p> on capture (and labels) partition p
LABEL_LAG_S = 2.0
SHIFT = 10.0  # f0 in odd windows: far outside the baseline, so every odd window raises and every even one clears
N_NUMERIC = 4
DATA_PLANES = ("w0", "w1")


def drill_settings(bootstrap: str, *, replication_factor: int = 3) -> Settings:
    settings = unique_settings(
        bootstrap, capture_partitions=N_MODELS,
        # idle_timeout beyond a failover (broker.session.timeout.ms 9 s, then the producers' retries): a partition
        # whose leader is gone gets no records meanwhile, they wait in the producers; an idle advance then would
        # drop them as late (docs/worker.md, On a Kafka cluster)
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=20.0),
        labels=LabelSettings(delay=LABEL_LAG_S + 1.5), commit_interval=1.0,
        merge_timeout=600.0,  # no window is released partial during a failure: it waits for every partition
        evaluation=EvaluationSettings(raise_after=1, clear_after=1),
        web_host="127.0.0.1", web_port=find_free_port(span=2),
    )
    return settings.model_copy(update={"topics": settings.topics.model_copy(
        update={"replication_factor": replication_factor})})


def shifted(window_start_ms: int) -> bool:
    return (window_start_ms // SIZE_MS) % 2 == 1


class Feeder(threading.Thread):
    """``rate`` capture records a second stamped with the wall clock, spread over the models; each gets its
    label LABEL_LAG_S later. Counted per (model, window) when the broker acknowledged them."""

    def __init__(self, settings: Settings, rate: int) -> None:
        super().__init__(daemon=True, name="drill-feeder")
        self.settings, self.rate = settings, rate
        self.captured: Counter[tuple[str, int]] = Counter()
        self.labelled: Counter[tuple[str, int]] = Counter()  # by the prediction's window
        self.failed = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _counter(self, counter: Counter[tuple[str, int]], key: tuple[str, int]) -> Callable[[Any, Any], None]:
        def delivered(err: object, _msg: object) -> None:
            if err is None:
                counter[key] += 1
            else:
                self.failed += 1
                log.warning("drill record not delivered: %s", err)
        return delivered

    def _run(self) -> None:
        rng = np.random.default_rng(17)
        t = self.settings.topics
        producer = Producer(self.settings.client_config({"linger.ms": 10, "enable.idempotence": True}))
        waiting: deque[tuple[float, int, str, int, int]] = deque()  # due, partition, inference id, label, window
        per_tick = max(1, self.rate // 10 // N_MODELS)
        while not self.halt.is_set() or waiting:
            now = time.monotonic()
            if not self.halt.is_set():
                ts = int(time.time() * 1000)
                window = ts - ts % SIZE_MS
                for p in range(N_MODELS):
                    model = f"m{p}"
                    done = self._counter(self.captured, (model, window))
                    values = capture_records(model, [ts] * per_tick, rng, n_numeric=N_NUMERIC,
                                             shift=SHIFT if shifted(window) else 0.0)
                    for i, value in enumerate(values):
                        producer.produce(t.capture, value=value, key=model.encode(), partition=p, timestamp=ts,
                                         on_delivery=done)
                        waiting.append((now + LABEL_LAG_S, p, f"{model}-{ts}-{i}", i % 2, window))
            while waiting and waiting[0][0] <= now:
                _, p, iid, label, window = waiting.popleft()
                model = f"m{p}"
                producer.produce(t.labels, key=model.encode(), partition=p,
                                 value=encode_label_record(model, iid, label, int(time.time() * 1000)),
                                 on_delivery=self._counter(self.labelled, (model, window)))
            producer.poll(0)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))
        if producer.flush(600):
            raise RuntimeError("drill records left unacknowledged after 600 s")


@dataclass
class Seen:
    """What the worker committed, as read (read_committed) while the drill runs, with the wall clock of arrival."""

    windows: list[tuple[float, str, int, str, int, int, bool]] = field(default_factory=list)
    # (arrival, model, start, stage, n_records, n_labelled, partial)
    events: list[dict[str, Any]] = field(default_factory=list)
    stored: list[StoredWindow] = field(default_factory=list)  # the windows themselves, in the order read


class Watcher(threading.Thread):
    """Reads the profiles topic (every merged window) and alerts as the control plane commits them."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True, name="drill-watcher")
        self.settings = settings
        self.seen = Seen()
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self._offsets: set[tuple[str, int, int]] = set()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _run(self) -> None:
        consumer = Consumer(self.settings.client_config({
            "group.id": f"drill-{self.settings.group_id}", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "isolation.level": "read_committed", "session.timeout.ms": 6000}))
        # assigned, not subscribed: no group to rebalance when a coordinator dies (a re-join without committed
        # offsets would read everything again); a message seen twice (same offset) is counted once
        topics = [self.settings.history.topic, self.settings.topics.alerts]
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                         for p in range(topic_partitions(consumer, t))])
        try:
            while not self.halt.is_set():
                msgs = [m for m in consumer.consume(500, 0.2) if m.error() is None]
                if msgs:
                    self._note(msgs, time.time())
        finally:
            consumer.close()

    def _note(self, msgs: list[Message], now: float) -> None:
        with self.lock:
            for m in msgs:
                where = (m.topic() or "", m.partition() or 0, m.offset() or 0)
                if where in self._offsets:
                    continue
                self._offsets.add(where)
                if m.topic() == self.settings.topics.alerts:
                    self.seen.events.append(orjson.loads(m.value() or b"{}"))
                    continue
                stored = decode_stored(m.value() or b"")
                self.seen.stored.append(stored)
                w = stored.window
                quality = merge_blobs(w.extras.get("model_quality", [])) if w.stage == LABELS else None
                self.seen.windows.append((now, w.model_id, w.window_start_ms, w.stage, w.n_records,
                                          0 if quality is None else quality.n, w.partial))

    def first_window_after(self, failed_at: float) -> float | None:
        """Arrival of the first data-stage window committed after ``failed_at`` (wall clock, s) that was still
        open then (its end after the failure): its records were read and committed after the failure."""
        with self.lock:
            arrivals = [at for at, _, start, stage, *_ in self.seen.windows
                        if stage == DATA and at >= failed_at and start + SIZE_MS > failed_at * 1000]
        return min(arrivals) if arrivals else None

    def latencies(self, before: float) -> list[float]:
        """Seconds from each data-stage window's end to its arrival, of the windows that arrived before ``before``."""
        with self.lock:
            return [at - (start + SIZE_MS) / 1000 for at, _, start, stage, *_ in self.seen.windows
                    if stage == DATA and at < before]

    def data_windows(self) -> int:
        with self.lock:
            return sum(1 for w in self.seen.windows if w[3] == DATA)


class Drill:
    """The worker on ``cluster`` (or any bootstrap), the stream, the failures. ``log_dir``: the workers' logs."""

    def __init__(self, cluster: KafkaCluster | None, settings: Settings, log_dir: Path, *, rate: int = 300,
                 recovery_timeout: float = 300.0) -> None:
        self.cluster, self.settings, self.log_dir = cluster, settings, log_dir
        self.rate, self.recovery_timeout = rate, recovery_timeout
        self.feeder = Feeder(settings, rate)
        self.watcher = Watcher(settings)
        self.workers: dict[str, Any] = {}
        self.recovery: dict[str, list[float]] = defaultdict(list)
        self.baselines: dict[str, bytes] = {}  # model -> the baseline published at the start

    # -- set-up and tear-down ----------------------------------------------------------------------------
    def start(self, warm_up_timeout: float = 240.0) -> None:
        create_all_topics(self.settings)
        rng = np.random.default_rng(3)
        for p in range(N_MODELS):
            rows = [orjson.loads(r)["features"] for r in capture_records(f"m{p}", [0] * 2000, rng, n_numeric=N_NUMERIC)]
            self.baselines[f"m{p}"] = build_baseline([columns_from_rows(rows)], f"m{p}").to_json()
            publish_baseline(self.settings, self.baselines[f"m{p}"])
        for name in DATA_PLANES:
            self.workers[name] = start_worker(self.settings, role="dataplane", log_path=self.log_dir / f"{name}.log",
                                              extra_args=["--instance-id", name, "--log-level", "INFO"])
        self.workers["control"] = start_worker(self.settings, role="controlplane",
                                               log_path=self.log_dir / "control.log")
        self.watcher.start()
        self.feeder.start()
        self._wait(lambda: self.watcher.data_windows() >= 2 * N_MODELS, warm_up_timeout, "the first windows")

    def finish(self, settle_timeout: float = 240.0) -> None:
        """Stop the stream, wait until its last windows are committed, stop the worker and the reader."""
        self.feeder.halt.set()
        self.feeder.join(900)
        expected = {key for key, n in self.feeder.captured.items() if n}
        labelled = {key for key, n in self.feeder.labelled.items() if n}
        try:  # a window that does not come is reported by problems()
            self._wait(lambda: expected <= self._committed_keys(DATA) and labelled <= self._committed_keys(LABELS),
                       settle_timeout, "the last windows")
            time.sleep(2 * self.settings.commit_interval + 2)  # a duplicate would come now
        except TimeoutError as exc:
            log.error("%s", exc)
        finally:
            self.stop()

    def stop(self) -> None:
        self.feeder.halt.set()
        for proc in self.workers.values():
            stop_worker(proc)
        self.watcher.halt.set()
        self.watcher.join(30)

    def steady_latency(self, windows: int = 4 * N_MODELS, timeout: float = 120.0) -> float:
        """Median seconds from a window's end to its commit with no failure (once ``windows`` were committed)."""
        self._wait(lambda: self.watcher.data_windows() >= windows, timeout, "steady windows")
        return float(np.median(self.watcher.latencies(time.time())))

    def self_repairs(self) -> dict[str, int]:
        """Per worker process, how often it rebuilt its clients or started its control plane again (its log)."""
        out = {}
        for name in self.workers:
            path = self.log_dir / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            out[name] = text.count("rebuilding clients (") + text.count("starting it again (")
        return out

    def dead_workers(self) -> list[str]:
        """Workers that exited (nobody restarts them: the drill expects them to ride out every failure)."""
        return [name for name, proc in self.workers.items() if proc.poll() is not None]

    def _committed_keys(self, stage: str) -> set[tuple[str, int]]:
        with self.watcher.lock:
            return {(w[1], w[2]) for w in self.watcher.seen.windows if w[3] == stage}

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            for thread in (self.feeder, self.watcher):
                if thread.error is not None:
                    raise RuntimeError(f"{thread.name} failed") from thread.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not committed within {timeout:.0f} s; dead workers: {self.dead_workers()}")
            time.sleep(0.2)

    # -- failures ---------------------------------------------------------------------------------------
    def _recovered(self, kind: str, failed_at: float) -> float:
        """Wait for the first window committed after the failure; record and return the seconds it took."""
        self._wait(lambda: self.watcher.first_window_after(failed_at) is not None, self.recovery_timeout,
                   f"a window after {kind}")
        seconds = (self.watcher.first_window_after(failed_at) or failed_at) - failed_at
        self.recovery[kind].append(seconds)
        log.info("%s: first new committed window after %.1f s", kind, seconds)
        return seconds

    def _cluster(self) -> KafkaCluster:
        if self.cluster is None:
            raise RuntimeError("this drill has no cluster to fail")
        return self.cluster

    def leader_kill(self, down_s: float = 10.0) -> int:
        """kill -9 the node leading most capture partitions; start it again after ``down_s``."""
        cluster = self._cluster()
        node = Counter(cluster.leaders(self.settings.topics.capture).values()).most_common(1)[0][0]
        return self._kill_and_return("leader kill", node, down_s)

    def coordinator_kill(self, down_s: float = 10.0) -> int:
        """kill -9 the transaction coordinator of the first data plane's transactional id."""
        tid = transactional_id(self.settings.group_id, DATA_PLANES[0])
        return self._kill_and_return("coordinator kill", self._cluster().transaction_coordinator(tid), down_s)

    def _kill_and_return(self, kind: str, node: int, down_s: float) -> int:
        cluster = self._cluster()
        failed_at = time.time()
        cluster.kill(node)
        time.sleep(down_s)
        cluster.start_node(node)
        self._recovered(kind, failed_at)
        cluster.wait_in_sync()
        return node

    def rolling_restart(self) -> None:
        """Each node in turn restarted (SIGTERM, controlled shutdown), the next once every partition is in sync."""
        cluster = self._cluster()
        for node in sorted(cluster.nodes):
            failed_at = time.time()
            cluster.restart_node(node)
            self._recovered("rolling restart", failed_at)
            cluster.wait_in_sync()

    def cut_off(self, paused_s: float = 20.0) -> int:
        """SIGSTOP the node leading most capture partitions for ``paused_s`` (beyond the broker session timeout:
        the controller fences it, its partitions' leaders move), then SIGCONT."""
        cluster = self._cluster()
        node = Counter(cluster.leaders(self.settings.topics.capture).values()).most_common(1)[0][0]
        failed_at = time.time()
        cluster.pause(node)
        try:
            self._wait(lambda: self.watcher.first_window_after(failed_at) is not None
                       or time.time() - failed_at > paused_s, self.recovery_timeout, "cut off")
            time.sleep(max(0.0, paused_s - (time.time() - failed_at)))
        finally:
            cluster.resume(node)
        self._recovered("cut off", failed_at)
        cluster.wait_in_sync()
        return node

    def dump_topics(self, directory: Path, timeout: float = 30.0) -> dict[str, int]:
        """Every committed message of the partials, profiles and alerts topics, one JSON line each, in
        ``directory`` (``partials.jsonl``: partition, offset, timestamp, kind, model, window, source partition,
        records, watermark; ``profiles.jsonl``: the windows; ``alerts.jsonl``: the events with their offsets): what
        a failed drill's control plane read and wrote. Returns the messages written per topic."""
        from streamdrift.window.partials import PartialDelta, decode_partial

        def partial(m: Message) -> dict[str, Any] | None:
            if not m.value():  # a tick
                return None
            msg = decode_partial(m.value() or b"")
            row: dict[str, Any] = {"stage": msg.stage, "from": msg.partition, "w": msg.window_start_ms}
            if isinstance(msg, PartialDelta):
                row.update(kind="delta", model=msg.model_id, n=msg.n_records, end_offset=msg.end_offset)
            else:
                row.update(kind="closed", watermark=msg.watermark_ms, models=list(msg.models))
            return row

        def profile(m: Message) -> dict[str, Any]:
            w = decode_stored(m.value() or b"").window
            return {"model": w.model_id, "w": w.window_start_ms, "stage": w.stage, "n": w.n_records,
                    "partial": w.partial}

        def alert(m: Message) -> dict[str, Any]:
            return dict(orjson.loads(m.value() or b"{}"))

        t = self.settings.topics
        return {name: self._dump(topic, directory / f"{name}.jsonl", how, timeout)
                for name, topic, how in (("partials", t.partials, partial), ("profiles", self.settings.history.topic,
                                                                             profile), ("alerts", t.alerts, alert))}

    def _dump(self, topic: str, path: Path, row_of: Callable[[Message], dict[str, Any] | None],
              timeout: float) -> int:
        consumer = Consumer(self.settings.client_config({
            "group.id": f"dump-{self.settings.group_id}", "enable.auto.commit": False,
            "isolation.level": "read_committed"}))
        n = 0
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                             for p in range(topic_partitions(consumer, topic))])
            deadline = time.monotonic() + timeout
            with path.open("wb") as out:
                while time.monotonic() < deadline:
                    msgs = consumer.consume(1000, 2.0)
                    if not msgs:
                        break
                    for m in msgs:
                        row = None if m.error() is not None else row_of(m)
                        if row is not None:
                            where = {"p": m.partition(), "o": m.offset(), "ts": (m.timestamp() or (0, 0))[1]}
                            out.write(orjson.dumps({**where, **row}) + b"\n")
                            n += 1
        finally:
            consumer.close()
        return n

    # -- what the worker published -------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every difference between what was produced and what the worker committed; empty when exactly once."""
        out: list[str] = []
        if self.feeder.error is not None or self.feeder.failed:
            out.append(f"feeder: {self.feeder.failed} records not delivered, error {self.feeder.error!r}")
        with self.watcher.lock:
            windows, events = list(self.watcher.seen.windows), list(self.watcher.seen.events)
            stored = list(self.watcher.seen.stored)
        for stage, produced in ((DATA, self.feeder.captured), (LABELS, self.feeder.labelled)):
            got: dict[tuple[str, int], list[int]] = defaultdict(list)
            for _, model, start, st, n_records, n_labelled, partial in windows:
                if st == stage:
                    got[(model, start)].append(n_records if stage == DATA else n_labelled)
                    if partial:
                        out.append(f"{stage} window {model}@{start} released partial")
            for key in sorted(set(got) | set(produced)):
                counts = got.get(key, [])
                if len(counts) != 1 or counts[0] != produced.get(key, 0):
                    out.append(f"{stage} window {key[0]}@{key[1]}: produced {produced.get(key, 0)}, committed {counts}")
        ids = Counter(e["event_id"] for e in events)
        out += [f"event {i} published {n} times" for i, n in ids.items() if n > 1]
        out += self._events_differ(stored, events)
        return out

    def _events_differ(self, stored: list[StoredWindow], events: list[dict[str, Any]]) -> list[str]:
        """Every committed window judged again, in the order the control plane committed it, by the live path's
        judge and monitors (the baseline published at the start, the same hysteresis): the events that gives,
        by id, must be exactly the published ones, each once. (The shift makes every odd window raise f0 and
        every even one clear it, but a clean window may still drift by chance: the statistics decide which
        events are due, this check only whether each due event was published once.)"""
        cache = BaselineCache(self.settings.monitor_config())
        rules = self.settings.evaluation
        judges: dict[str, WindowJudge] = {}
        expected: Counter[str] = Counter()
        seen: set[tuple[str, int, str]] = set()
        for window in stored:
            if window.key in seen:  # a window committed twice is reported by problems() already
                continue
            seen.add(window.key)
            model = window.window.model_id
            judge = judges.setdefault(model, WindowJudge(Hysteresis(rules.raise_after, rules.clear_after)))
            judged = judge.judge(window.window, cache.monitors(model, self.baselines.get(model)))
            expected.update(event.event_id for event in judged.events)
        published = Counter(str(e["event_id"]) for e in events)
        by_id = {str(e["event_id"]): e for e in events}
        out = [f"event {i} due (windows judged again) but not published" for i in expected - published]
        out += [f"event {i} published but not due: {by_id[i].get('model_id')}@{by_id[i].get('window_start')} "
                f"{by_id[i].get('check')} {by_id[i].get('feature')} {by_id[i].get('status')}"
                for i in published - expected]
        raised = sum(1 for e in events if e.get("feature") == "f0" and e.get("status") == "raised")
        odd = sum(1 for w in stored if w.window.stage == DATA and shifted(w.window.window_start_ms))
        if raised < 0.8 * odd:  # the drill's own premise: the shift is detected
            out.append(f"f0 raised in {raised} of {odd} shifted windows")
        return out
