"""Exactly-once on a three-broker cluster (KafkaCluster: replication 3, min ISR 2): recovery times and throughput.

Measures, in one run:
  1. the data plane's records/s on the 3-broker cluster (capture topic replication 3, transactions to partials with
     acks from 2 replicas at least) vs a single broker (replication 1), both started by this run: one in-process
     data plane over the same 100k JSON capture records, passes alternating between the two, median of each;
  2. recovery per failure kind, median of ``--runs`` drills (tests/support/clusterdrill.py: a worker of two data-plane
     processes and a control plane, 300 records/s in real time, 3 s windows): seconds from the failure to the first
     window committed after it (a window still open at the failure, on the profiles topic, read_committed). A
     rolling restart's figure is its slowest bounce of three. Each drill also checks exactly-once (every window's
     record and labelled counts, drift events once each) and prints what differs.
  For reference: the steady-state delay from a window's end to its commit (same measure, no failure).

    .venv/bin/python benchmarks/bench_cluster.py [--runs 3] [--records 100000]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np
from bench_worker import _json_values, dataplane_rate
from clusterdrill import Drill, drill_settings
from harness import create_all_topics, produce, unique_settings

from streamdrift.dev.kafkacluster import KafkaCluster
from streamdrift.dev.localkafka import LocalKafka
from streamdrift.settings import Settings, WindowSettings

KINDS = ("leader kill", "coordinator kill", "rolling restart", "cut off")


def _throughput_settings(bootstrap: str, replication: int) -> Settings:
    s = unique_settings(bootstrap, capture_partitions=6, commit_interval=2.0,
                        window=WindowSettings(size=60.0, lateness=1.0, idle_timeout=600.0))
    return s.model_copy(update={"topics": s.topics.model_copy(update={"replication_factor": replication})})


def throughput(cluster: KafkaCluster, single: LocalKafka, n: int, passes: int) -> dict[str, list[float]]:
    values = _json_values(n, np.random.default_rng(1))
    setups = {"3 brokers": _throughput_settings(cluster.bootstrap, 3), "1 broker": _throughput_settings(single.bootstrap, 1)}
    for settings in setups.values():
        create_all_topics(settings)
        produce(settings, settings.topics.capture, values)
    rates: dict[str, list[float]] = {name: [] for name in setups}
    for i in range(passes):
        for name, settings in setups.items():
            group = settings.model_copy(update={"group_id": f"{settings.group_id}-{i}"})
            rates[name].append(dataplane_rate(group, n, lambda dp: dp.stats.consumed))
            print(f"  pass {i + 1} {name}: {rates[name][-1]:,.0f} records/s", flush=True)
    return rates


def drill(cluster: KafkaCluster, log_dir: Path) -> tuple[dict[str, float], float, list[str]]:
    """One drill; on a problem or a failure to recover, the workers' logs and the topics' dumps are kept in a
    directory beside the temporary one (printed)."""
    d = Drill(cluster, drill_settings(cluster.bootstrap), log_dir)
    problems: list[str] = []
    try:
        d.start()
        steady = d.steady_latency()
        d.leader_kill(down_s=5.0)
        d.coordinator_kill(down_s=5.0)
        d.rolling_restart()
        d.cut_off(paused_s=12.0)
        dead = d.dead_workers()
        d.finish()
        problems = d.problems() + [f"worker {name} exited" for name in dead]
    except TimeoutError:
        problems = ["did not recover"]
        raise
    finally:
        d.stop()
        if problems:
            kept = Path(tempfile.mkdtemp(prefix="bench-cluster-failed-"))
            d.dump_topics(log_dir)
            shutil.copytree(log_dir, kept, dirs_exist_ok=True)
            print(f"  logs and topic dumps kept in {kept}", flush=True)
    return {kind: max(d.recovery[kind]) for kind in KINDS}, steady, problems


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    with KafkaCluster(3, stop_with_parent=True) as cluster, LocalKafka(stop_with_parent=True) as single:
        rates = throughput(cluster, single, args.records, args.passes)
        three, one = statistics.median(rates["3 brokers"]), statistics.median(rates["1 broker"])
        print(f"data plane records/s (median of {args.passes}): 3 brokers {three:,.0f}, 1 broker {one:,.0f}, "
              f"ratio {three / one:.2f}", flush=True)
        runs: list[dict[str, float]] = []
        steadies: list[float] = []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
                try:
                    recovery, steady, problems = drill(cluster, Path(tmp))
                except TimeoutError as exc:  # a failure the worker did not recover from: reported, next run
                    print(f"run {run + 1}: did not recover: {exc}", flush=True)
                    cluster.wait_in_sync()
                    continue
            runs.append(recovery)
            steadies.append(steady)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in recovery.items())
                  + f"; steady window end -> commit {steady:.1f} s; exactly-once problems: {len(problems)}"
                  + "".join(f"\n    {p}" for p in problems[:10]), flush=True)
    print(f"\nrecovery, failure -> first new committed window (median of {args.runs} runs):")
    for kind in KINDS if runs else ():
        values = [r[kind] for r in runs]  # the runs that recovered
        print(f"  {kind:18s} {statistics.median(values):6.1f} s   (runs: {', '.join(f'{v:.1f}' for v in values)})")
    if steadies:
        print(f"  {'steady state':18s} {statistics.median(steadies):6.1f} s   (window end -> committed, no failure)")
    print(f"data plane records/s: 3 brokers {three:,.0f} vs 1 broker {one:,.0f} ({three / one:.2f}x)")


if __name__ == "__main__":
    main()
