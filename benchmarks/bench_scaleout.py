"""Scale-out benchmark on a real local Kafka broker: 1, 2 and 4 data-plane processes, and 1 vs 2 control planes.

A 12-partition capture topic gets the same records for each run (SDK columnar batches of 1000 records, 20 numeric +
3 categorical features, several models, an hour of event time). For each process count it prints, as soon as
measured:
  * records/s of each data-plane process (its ``streamdrift_records_consumed_total``) and of all together, over
    the interval in which the group committed the records;
  * CPU seconds per million records of each process (user + system, /proc, same interval).
CPU per record must stay flat as processes are added (no coordination cost); the total rate grows only up to
the cores the machine has (this one has 2, shared with the broker and the producer). Then, with 2 data planes,
1 vs 2 control planes: the windows each control plane evaluated and its CPU milliseconds per window.

A probe that measures nothing says why (a process that held no partition, a metrics endpoint that did not
answer, a run that did not finish) instead of printing 0.

    .venv/bin/python benchmarks/bench_scaleout.py [--quick] [--records N] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import os
import re
import subprocess
import threading
import time
import urllib.error
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
from confluent_kafka import Producer
from harness import (
    columnar_batch,
    create_all_topics,
    http_get,
    start_worker,
    stop_worker,
    unique_settings,
)

from streamdrift.dev.localkafka import LocalKafka, find_free_port
from streamdrift.settings import LabelSettings, Settings, WindowSettings

PARTITIONS = 12
BATCH = 1000
MODELS = 4
SPAN_MS = 3_600_000
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def metric_sum(port: int, name: str) -> float | None:
    """Sum of every series of ``name`` on ``127.0.0.1:port/metrics`` (None when the endpoint does not answer)."""
    try:
        body = http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
    except (OSError, urllib.error.URLError):
        return None
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(body))


@dataclass
class Proc:
    """One worker process and its samples (wall time, CPU seconds, counter) taken along the run."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    metric: str
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    misses: int = 0

    def sample(self) -> None:
        cpu, count = cpu_seconds(self.popen.pid), metric_sum(self.port, self.metric)
        if cpu is None or count is None:
            self.misses += 1
        else:
            self.samples.append((time.perf_counter(), cpu, count))

    @property
    def count(self) -> float:
        return self.samples[-1][2] if self.samples else 0.0

    def busy(self) -> tuple[float, float, float] | None:
        """(seconds, CPU seconds, count) from the last sample before its counter rose to the first sample at its
        final value: the interval in which it worked (start-up and idle time left out). None: it never counted."""
        final = self.count
        if final <= 0:
            return None
        first = next(i for i, s in enumerate(self.samples) if s[2] > 0)
        if first == 0:  # counting before the first sample: the interval is unknown
            return None
        start, end = self.samples[first - 1], next(s for s in self.samples if s[2] >= final)
        return end[0] - start[0], end[1] - start[1], final - start[2]


def _settings(bootstrap: str) -> Settings:
    return unique_settings(
        bootstrap, capture_partitions=PARTITIONS, commit_interval=1.0,
        window=WindowSettings(size=60.0, lateness=1.0, idle_timeout=600.0), merge_timeout=600.0,
        labels=LabelSettings(enabled=False), web_host="127.0.0.1",
    )  # fmt: skip


def batches(n_records: int, rng: np.random.Generator) -> list[list[bytes]]:
    """``n_records`` in columnar batches, per capture partition, event time rising through an hour in each."""
    n_batches = max(PARTITIONS, n_records // BATCH)
    base = (int(time.time() * 1000) - 2 * SPAN_MS) // 60_000 * 60_000
    per_partition: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    for i in range(n_batches):
        start = base + SPAN_MS * (i // PARTITIONS) * PARTITIONS // n_batches
        ts = np.sort(rng.integers(start, start + 1000, BATCH)).tolist()
        per_partition[i % PARTITIONS].append(columnar_batch(f"model-{i % MODELS}", ts, rng))
    return per_partition


def fill(settings: Settings, per_partition: list[list[bytes]]) -> None:
    """Produce the batches with one producer (one connection, one flush), partitions interleaved."""
    producer = Producer(settings.client_config({"linger.ms": 5, "message.max.bytes": 8 << 20,
                                                 "queue.buffering.max.kbytes": 1 << 20}))
    for i in range(max(len(v) for v in per_partition)):
        for p, values in enumerate(per_partition):
            if i < len(values):
                while True:
                    try:
                        producer.produce(settings.topics.capture, value=values[i], partition=p)
                        break
                    except BufferError:
                        producer.poll(0.01)
    if producer.flush(120):
        raise RuntimeError("not every capture batch was acknowledged in 120 s")


def wait_group(settings: Settings, members: int, timeout: float = 120.0) -> bool:
    """Until the data planes' group is stable with ``members`` members, each holding partitions: the records
    are produced only then, so no process reads a share that another will own after the next rebalance."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(settings.client_config())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            group = admin.describe_consumer_groups([settings.group_id])[settings.group_id].result(timeout=10)
            if group.state == ConsumerGroupState.STABLE and len(group.members) == members and all(
                    m.assignment and m.assignment.topic_partitions for m in group.members):
                return True
        except Exception:
            pass
        time.sleep(0.5)
    print(f"  measured nothing: the group did not settle with {members} members in {timeout:.0f} s", flush=True)
    return False


@contextmanager
def planes(settings: Settings, dataplanes: int, controlplanes: int) -> Iterator[list[Proc]]:
    procs: list[Proc] = []
    with ExitStack() as stack:
        for i in range(dataplanes):
            port = find_free_port()
            popen = start_worker(settings, role="dataplane",
                                 extra_args=["--instance-id", f"dp{i}", "--metrics-port", str(port)])
            stack.callback(stop_worker, popen)
            procs.append(Proc(f"data plane {i}", popen, port, "streamdrift_records_consumed_total"))
        for i in range(controlplanes):
            port = find_free_port()
            popen = start_worker(settings.model_copy(update={"web_port": port}), role="controlplane")
            stack.callback(stop_worker, popen)
            procs.append(Proc(f"control plane {i}", popen, port, "streamdrift_windows_evaluated_total"))
        yield procs


def watch(procs: Sequence[Proc], n_records: int, timeout: float, settle_s: float = 3.0) -> bool:
    """Sample every process every 0.1 s until the data planes consumed ``n_records`` and every counter stood still
    for ``settle_s``. False (and why, printed) when a process died or time ran out."""
    deadline = time.monotonic() + timeout
    data = [p for p in procs if p.name.startswith("data")]
    last, since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        for proc in procs:
            proc.sample()
        now = sum(p.count for p in procs)
        if now != last:
            last, since = now, time.monotonic()
        if sum(p.count for p in data) >= n_records and time.monotonic() - since >= settle_s:
            return True
        dead = [p for p in procs if p.popen.poll() is not None]
        if dead:
            print(f"  measured nothing: {dead[0].name} exited with code {dead[0].popen.returncode}", flush=True)
            return False
        time.sleep(0.1)
    consumed = sum(p.count for p in data)
    print(f"  measured nothing: the data planes consumed {consumed:,.0f} of {n_records:,} records in {timeout:.0f} s",
          flush=True)
    return False


def report(procs: Sequence[Proc], label: str) -> None:
    """Each process's rate and CPU cost (or why it has none), then the data planes' total."""
    spans: list[tuple[float, float]] = []
    total = 0.0
    for proc in procs:
        busy = proc.busy()
        if busy is None:
            why = (f"its /metrics (port {proc.port}) never answered" if not proc.samples
                   else "its counter never rose (it held no partition)" if proc.count <= 0
                   else "it was counting before the first sample (no start for its interval)")
            print(f"  {proc.name}: measured nothing: {why}", flush=True)
            continue
        seconds, cpu, count = busy
        if proc.name.startswith("data"):
            start = next(s[0] for s in proc.samples if s[2] > 0)
            spans.append((start, start + seconds))
            total += count
            rate = f"{count / seconds:,.0f} records/s" if seconds > 0 else "all in one sample interval (< 0.1 s)"
            print(f"  {proc.name}: {rate}, {cpu / count * 1e6:.2f} CPU s per million records "
                  f"({count:,.0f} records, {cpu:.2f} CPU s in {seconds:.2f} s)", flush=True)
        else:
            print(f"  {proc.name}: {count:,.0f} windows evaluated, {cpu * 1000 / count:.1f} CPU ms per window "
                  f"({cpu:.2f} CPU s)", flush=True)
    if spans:
        wall = max(e for _, e in spans) - min(s for s, _ in spans)
        rate = f"{total / wall:,.0f} records/s over {wall:.2f} s" if wall > 0 else "too fast to time"
        print(f"{label}: total {rate} ({total:,.0f} records)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records (300k instead of 2M)")
    parser.add_argument("--records", type=int, default=None, help="records per run")
    parser.add_argument("--bootstrap", default=None, help="an existing broker (default: start a LocalKafka)")
    parser.add_argument("--processes", default="1,2,4", help="data-plane process counts")
    args = parser.parse_args()
    n_records = args.records or (300_000 if args.quick else 2_000_000)
    print(f"machine: {os.cpu_count()} cores; {PARTITIONS} capture partitions; {n_records:,} records per run "
          f"(columnar batches of {BATCH}, {MODELS} models, 23 features)", flush=True)
    with ExitStack() as stack:
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = stack.enter_context(LocalKafka(stop_with_parent=True))
            bootstrap = broker.bootstrap
        rng = np.random.default_rng(26)
        for k in (int(x) for x in args.processes.split(",")):
            settings = _settings(bootstrap)
            create_all_topics(settings)
            values = batches(n_records, rng)
            with planes(settings, k, 0) as procs:
                print(f"{k} data plane(s):", flush=True)
                if not wait_group(settings, k):
                    continue
                for proc in procs:
                    proc.sample()  # the counters before any record exists
                producer = threading.Thread(target=fill, args=(settings, values))
                producer.start()  # sampled while produced: the interval starts at the first record consumed
                if watch(procs, n_records, timeout=900):
                    report(procs, f"{k} data plane(s)")
                producer.join()
        for c in (1, 2):
            settings = _settings(bootstrap)
            create_all_topics(settings)
            values = batches(n_records, rng)
            with planes(settings, 2, c) as procs:
                print(f"2 data planes + {c} control plane(s):", flush=True)
                if not wait_group(settings, 2):
                    continue
                time.sleep(5.0 if c > 1 else 0.0)  # the control planes' group settles too (faust rebalance)
                for proc in procs:
                    proc.sample()
                producer = threading.Thread(target=fill, args=(settings, values))
                producer.start()
                if watch(procs, n_records, timeout=900, settle_s=8.0):
                    report(procs, f"2 data planes + {c} control plane(s)")
                producer.join()


if __name__ == "__main__":
    main()
