"""Control-plane throughput through a real local Kafka broker: windows released per second against a raw read.

A partials topic (12 partitions by default) is prefilled with what the data planes of a 3-partition capture topic
send: per window and capture partition, one delta per model (keyed by model id, so the models spread over the
partials partitions; small profiles of 5 numeric features, so merging is cheap and the commit path shows) and a
``WindowClosed`` marker to every partials partition. ONE control plane (``streamdrift run --role controlplane``)
then merges the topic from its beginning. For each run it prints, as soon as measured:
  * the control plane: the windows on the profiles topic and their rate from the first window *sent* (read
    read_uncommitted: it was processed, its transaction still open) to the last *committed* (read_committed):
    processing and committing together, whichever way a version overlaps them (a version that commits beside the
    agent may commit nearly every window at the end, so first-to-last committed alone would time nothing); and
    CPU milliseconds per window of its process group (the supervisor and its faust child; user + system from
    /proc, over the same interval);
  * the reference, same run and same topic: a confluent_kafka Consumer reading the prefilled partials topic from
    its beginning to its end (read_committed); as windows/s (the run's windows over that time) and the ratio
    control plane / raw read.
Then every version's runs and medians. Nothing is asserted.

``--python NAME=INTERPRETER`` (repeatable) compares versions of the control plane in one session on one broker:
the worker is started with that interpreter (a worktree's ``.venv/bin/python`` runs that worktree's code), the
versions alternate within each run (the order rotates from run to run) on fresh topics of the same data. Without
it, the control plane of this checkout (the harness's ``start_worker``).

    .venv/bin/python benchmarks/bench_controlplane.py [--models 40] [--windows 30] [--partitions 12] [--runs 3]
        [--python A=/work/wt-a/.venv/bin/python --python B=.venv/bin/python ...] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness)

# isort: split

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka import KafkaError as CKafkaError
from harness import create_all_topics, settings_env, start_worker, stop_worker, unique_settings

from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import LocalKafka
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import LabelSettings, Settings, WindowSettings
from streamdrift.window.partials import PartialDelta, WindowClosed, encode_partial

CAPTURE_PARTITIONS = 3
MINUTE_MS = 60_000
ROWS = 50  # records per delta
N_NUMERIC = 5
POOL = 64  # distinct delta profiles, reused round robin
_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of process group ``pgid`` (the worker and its children)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def _settings(bootstrap: str, partitions: int) -> Settings:
    settings = unique_settings(
        bootstrap, capture_partitions=CAPTURE_PARTITIONS,
        window=WindowSettings(size=MINUTE_MS / 1000, lateness=1.0, idle_timeout=600.0), merge_timeout=600.0,
        labels=LabelSettings(enabled=False), web_port=0,
    )  # fmt: skip
    # the partials topic (and alerts, profiles: every topic but capture and labels) has topics.partitions
    return settings.model_copy(update={"topics": settings.topics.model_copy(update={"partitions": partitions})})


def profile_pool(settings: Settings, rng: np.random.Generator) -> list[DatasetProfile]:
    pool = []
    for _ in range(POOL):
        values = rng.normal(size=(ROWS, N_NUMERIC)).round(6).tolist()
        rows: list[dict[str, object]] = [{f"f{i}": v for i, v in enumerate(row)} for row in values]
        profile = DatasetProfile.empty(ProfileParams(kll_k=settings.profile.kll_k))
        profile.update(columns_from_rows(rows))
        pool.append(profile)
    return pool


def prefill(settings: Settings, models: int, windows: int, pool: Sequence[DatasetProfile]) -> int:
    """What the data planes send for ``windows`` windows of ``models`` models (see the module docs), in order,
    windows in the past; returns the messages produced."""
    producer = Producer(settings.client_config({"linger.ms": 5, "enable.idempotence": True,
                                                 "message.max.bytes": 8 << 20}))
    capture, partials, n_partials = settings.topics.capture, settings.topics.partials, settings.topics.partitions
    ids = [f"model-{k:03d}" for k in range(models)]
    first = (int(time.time() * 1000) // MINUTE_MS - windows - 5) * MINUTE_MS
    n = 0

    def send(value: bytes, key: bytes | None = None, partition: int = -1) -> None:
        while True:
            try:
                producer.produce(partials, key=key, value=value, partition=partition)
                return
            except BufferError:
                producer.poll(0.01)

    for w in range(windows):
        start, end = first + w * MINUTE_MS, first + (w + 1) * MINUTE_MS
        for c in range(CAPTURE_PARTITIONS):
            for k, model in enumerate(ids):
                delta = PartialDelta(model, None, start, end, capture, c, (w + 1) * models * ROWS, ROWS,
                                     pool[(k * CAPTURE_PARTITIONS + c + w) % len(pool)])
                send(encode_partial(delta), key=model.encode())
                n += 1
            closed = encode_partial(WindowClosed(capture, c, start, end, end + 1, tuple(ids)))
            for p in range(n_partials):
                send(closed, partition=p)
                n += 1
    if producer.flush(120):
        raise RuntimeError("not every partials message was acknowledged in 120 s")
    return n


def raw_read(settings: Settings) -> tuple[float, int]:
    """Seconds to read the whole partials topic (read_committed, from the assignment to every partition's end)
    with one confluent_kafka Consumer, and the messages read."""
    consumer = Consumer(settings.client_config({
        "group.id": f"raw-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False, "isolation.level": "read_committed",
        "enable.partition.eof": True, "fetch.wait.max.ms": 10,  # the default (500 ms) delays the end by as much
    }))
    try:
        topic, n_partitions = settings.topics.partials, settings.topics.partitions
        consumer.list_topics(topic, timeout=10)  # metadata first: the clock starts at the assignment
        t0 = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(n_partitions)])
        at_end: set[int] = set()
        n = 0
        while len(at_end) < n_partitions:
            for m in consumer.consume(1000, 0.01):  # a short wait: the end is seen as soon as it is reached
                error = m.error()
                if error is None:
                    n += 1
                    at_end.discard(m.partition() or 0)
                elif error.code() == CKafkaError._PARTITION_EOF:
                    at_end.add(m.partition() or 0)
                else:
                    raise RuntimeError(f"reading {topic} failed: {error.str()}")
            if time.perf_counter() - t0 > 120:
                raise RuntimeError(f"{topic} not read to its end in 120 s")
        return time.perf_counter() - t0, n
    finally:
        consumer.close()


@dataclass
class ProfilesWatch:
    """Reads the profiles topic in a thread with two consumers: read_uncommitted, the time each window was
    *sent* (processed; its transaction still open) and read_committed, the time each was committed; samples the
    control plane's CPU (its process group) every 0.1 s."""

    settings: Settings
    pgid: int
    sent: list[float] = field(default_factory=list)
    committed: list[float] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _consumer(self, isolation: str) -> Consumer:
        consumer = Consumer(self.settings.client_config({
            "group.id": f"watch-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False, "isolation.level": isolation,
            "fetch.wait.max.ms": 10,
        }))
        topic = self.settings.history.topic
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(self.settings.topics.partitions)])
        return consumer

    def run(self) -> None:
        readers = [(self._consumer("read_uncommitted"), self.sent), (self._consumer("read_committed"), self.committed)]
        next_sample = 0.0
        try:
            while not self.stop.is_set():
                for consumer, arrivals in readers:
                    msgs = consumer.consume(500, 0.02)
                    now = time.perf_counter()
                    arrivals += [now for m in msgs if m.error() is None]
                if now >= next_sample:
                    self.cpu.append((now, group_cpu_seconds(self.pgid)))
                    next_sample = now + 0.1
        finally:
            for consumer, _ in readers:
                consumer.close()

    def cpu_at(self, t: float) -> float:
        """The process group's CPU seconds at ``t``, interpolated between the samples around it."""
        before = [s for s in self.cpu if s[0] <= t][-1]
        after = next((s for s in self.cpu if s[0] >= t), before)
        if after[0] == before[0]:
            return before[1]
        return before[1] + (after[1] - before[1]) * (t - before[0]) / (after[0] - before[0])


@dataclass
class Result:
    windows_per_s: float
    ratio: float
    cpu_ms_per_window: float


def start_controlplane(settings: Settings, python: str | None, log: Path) -> subprocess.Popen[bytes]:
    """``streamdrift run --role controlplane``: the harness's worker, or the same command with ``python``."""
    if python is None:
        return start_worker(settings, role="controlplane", log_path=log)
    with open(log, "ab") as out:
        return subprocess.Popen([python, "-m", "streamdrift", "run", "--role", "controlplane", "--log-level", "WARNING"],
                                env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def measure(settings: Settings, python: str | None, expected: int, raw_s: float, log: Path,
            timeout: float = 600.0) -> Result | None:
    """One control plane from start to its last window: its rate and CPU per window (None, and why, printed, when
    it measured nothing)."""
    proc = start_controlplane(settings, python, log)
    watch = ProfilesWatch(settings, proc.pid)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    why = ""
    try:
        while len(watch.committed) < expected:
            if proc.poll() is not None:
                why = f"the control plane exited with code {proc.returncode} (log: {log})"
                break
            if time.monotonic() > deadline:
                why = f"{len(watch.committed)} of {expected} windows in {timeout:.0f} s (log: {log})"
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a CPU sample after the last window
    finally:
        watch.stop.set()
        thread.join(10)
        stop_worker(proc)
    sent, committed = watch.sent, watch.committed
    if why or not sent or not committed:
        print(f"    measured nothing: {why or 'no window seen'}", flush=True)
        return None
    n = len(committed)
    span = committed[-1] - sent[0]
    rate = n / span
    cpu = watch.cpu_at(committed[-1]) - watch.cpu_at(sent[0])
    raw_rate = expected / raw_s
    extra = f" ({n - expected} more than expected)" if n > expected else ""
    print(f"    control plane: {n} windows{extra}, {rate:,.1f} windows/s over {span:.2f} s (first window sent to "
          f"last committed; sent over {sent[-1] - sent[0]:.2f} s, committed from {committed[0] - sent[0]:.2f} s on, "
          f"the last {committed[-1] - sent[-1]:.2f} s after the last was sent); {cpu * 1000 / n:.2f} CPU ms per "
          f"window ({cpu:.2f} CPU s); raw read {raw_rate:,.0f} windows/s; control plane / raw read = "
          f"{rate / raw_rate:.4f}", flush=True)
    return Result(rate, rate / raw_rate, cpu * 1000 / n)


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # stop the worker and the broker too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--partitions", type=int, default=12, help="partitions of the partials topic")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", action="append", default=[], metavar="NAME=INTERPRETER",
                        help="a version of the control plane: the interpreter (venv) that runs it; repeatable")
    parser.add_argument("--bootstrap", default=None, help="an existing broker (default: start a LocalKafka)")
    args = parser.parse_args()
    versions: list[tuple[str, str | None]] = [(v.split("=", 1)[0], v.split("=", 1)[1]) for v in args.python]
    if not versions:
        versions = [("this checkout", None)]
    expected = args.models * args.windows
    print(f"machine: {os.cpu_count()} cores, {load()}; {args.models} models x {args.windows} windows x "
          f"{CAPTURE_PARTITIONS} capture partitions = {expected} windows; partials topic of {args.partitions} "
          f"partitions; deltas of {ROWS} records, {N_NUMERIC} numeric features", flush=True)
    for name, python in versions:
        print(f"  version {name}: {python or sys.executable} (this checkout)" if python is None
              else f"  version {name}: {python}", flush=True)
    results: dict[str, list[Result]] = {name: [] for name, _ in versions}
    logs = Path(tempfile.mkdtemp(prefix="bench-controlplane-"))
    with ExitStack() as stack:
        bootstrap = args.bootstrap
        if bootstrap is None:
            bootstrap = stack.enter_context(LocalKafka(stop_with_parent=True)).bootstrap
        pool = profile_pool(_settings(bootstrap, args.partitions), np.random.default_rng(7))
        for run in range(args.runs):
            shift = run % len(versions)
            for name, python in versions[shift:] + versions[:shift]:
                settings = _settings(bootstrap, args.partitions)
                create_all_topics(settings)
                n = prefill(settings, args.models, args.windows, pool)
                raw_s, read = raw_read(settings)
                print(f"run {run + 1}, version {name} ({load()}): {n} partials messages; raw read {read} in "
                      f"{raw_s:.3f} s", flush=True)
                result = measure(settings, python, expected, raw_s, logs / f"run{run + 1}-{name}.log")
                if result is not None:
                    results[name].append(result)
    print(f"summary ({load()}):", flush=True)
    for name, runs in results.items():
        if not runs:
            print(f"  {name}: measured nothing", flush=True)
            continue
        every = ", ".join(f"{r.windows_per_s:.1f}" for r in runs)
        print(f"  {name}: median {statistics.median(r.windows_per_s for r in runs):.1f} windows/s (runs: {every}); "
              f"median ratio to raw read {statistics.median(r.ratio for r in runs):.4f} (runs: "
              f"{', '.join(f'{r.ratio:.4f}' for r in runs)}); median "
              f"{statistics.median(r.cpu_ms_per_window for r in runs):.2f} CPU ms per window (runs: "
              f"{', '.join(f'{r.cpu_ms_per_window:.2f}' for r in runs)})", flush=True)


if __name__ == "__main__":
    main()
