"""The data plane's per-batch CPU and memory without Kafka: where time and bytes go.

Feeds the exact message bytes ``bench_worker.py`` produces (the capture SDK's columnar batches, JSON and Arrow, of
1000 records: 100 models x 25 features, and one model with the JSON records' features; JSON: ~600-byte records of
one model) through what the data plane does for them (not the label join store: ``bench_join.py``):

  per poll and partition   ``records.parse_capture`` -> ``PartitionWindows.add_many``
  per commit               ``drain_deltas`` -> ``partials.encode_partial`` (profile ``to_bytes``) of every delta,
                           closing due windows

Messages are spread over 6 partitions in runs of 5 (librdkafka's sticky partitioner for unkeyed messages),
polls hold ``batch_size`` messages, a commit happens every ``commit_max_records`` records (what the data plane
does under full load: the 2 s commit interval is never reached first). Prints time per phase (us per 1000
records), records/s, the data plane's resident memory (RSS) along the run and the peak traced Python bytes.

    .venv/bin/python benchmarks/bench_dataplane_cpu.py [--quick] [--profile] [--tracemalloc] [--kll-k 1000]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import cProfile
import gc
import pstats
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from bench_worker import _json_values, _model_batches, _sdk_batches, rss_mb

from streamdrift.ingest.records import parse_capture
from streamdrift.profile.profiles import ProfileParams
from streamdrift.window.partials import PartialDelta, encode_partial
from streamdrift.window.windows import PartitionWindows, WindowSpec

PARTITIONS = 6
STICKY_RUN = 5  # unkeyed messages per partition switch (sticky partitioner, linger 20 ms, ~1 MB batches)


@dataclass
class Load:
    name: str
    messages: list[bytes]
    records_per_message: int
    batch_size: int  # messages per consume()
    commit_max_records: int = 200_000
    window_ms: int = 10_000
    lateness_ms: int = 1_000


@dataclass
class Phases:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("parse", "add", "drain+encode"), 0.0))
    records: int = 0
    commits: int = 0
    deltas: int = 0
    partial_bytes: int = 0
    rss: list[float] = field(default_factory=list)

    def timed(self, phase: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        out = fn()
        self.seconds[phase] += time.perf_counter() - start
        return out


def partition_of(index: int) -> int:
    return (index // STICKY_RUN) % PARTITIONS


def run(load: Load, params: ProfileParams) -> Phases:
    """The data plane's work on ``load``, phase by phase (see the module docstring)."""
    spec = WindowSpec(load.window_ms, load.lateness_ms)
    windows = [PartitionWindows(spec, params) for _ in range(PARTITIONS)]
    out = Phases()
    pending = 0
    n_polls = -(-len(load.messages) // load.batch_size)
    for poll in range(n_polls):
        first = poll * load.batch_size
        by_partition: dict[int, list[bytes]] = {}
        for i, value in enumerate(load.messages[first : first + load.batch_size], start=first):
            by_partition.setdefault(partition_of(i), []).append(value)
        for partition, values in by_partition.items():
            batches = out.timed("parse", lambda v=values: parse_capture(v)[0])  # type: ignore[misc]
            assert isinstance(batches, list)
            out.timed("add", lambda w=windows[partition], b=batches: w.add_many(b))  # type: ignore[misc]
            rows = sum(b.n_rows for b in batches)
            out.records += rows
            pending += rows
        if pending >= load.commit_max_records or poll == n_polls - 1:
            out.timed("drain+encode", lambda: _commit(windows, out))
            pending = 0
        if poll % max(1, n_polls // 10) == 0:
            out.rss.append(rss_mb())
    return out


def _commit(windows: list[PartitionWindows], out: Phases) -> None:
    for partition, w in enumerate(windows):
        for delta in w.drain_deltas():
            blob = encode_partial(PartialDelta(
                delta.model_id, delta.model_version, delta.window_start_ms, delta.window_end_ms, "capture",
                partition, 0, delta.n_records, delta.profile))
            out.partial_bytes += len(blob)
            out.deltas += 1
        for start, _ in w.due_windows():
            w.close(start)
    out.commits += 1


def loads(quick: bool) -> list[Load]:
    n_col, n_json = (200_000, 40_000) if quick else (2_000_000, 200_000)
    return [
        Load("JSON columnar 100 models x 25 features", list(_model_batches(n_col, np.random.default_rng(2), "json")),
             1000, batch_size=200),
        Load("Arrow columnar 100 models x 25 features", list(_model_batches(n_col, np.random.default_rng(2), "arrow")),
             1000, batch_size=200),
        Load("SDK Arrow batches of the JSON load's records", list(_sdk_batches(n_col, np.random.default_rng(3), "arrow")),
             1000, batch_size=50),
        Load("SDK JSON columnar batches of the JSON load's records",
             list(_sdk_batches(n_col, np.random.default_rng(3), "json")), 1000, batch_size=50),
        Load("JSON records (20 numeric + 3 categorical)", _json_values(n_json, np.random.default_rng(1)), 1,
             batch_size=5000),
    ]


def report(load: Load, phases: Phases, seconds: float) -> None:
    per_k = 1e6 / phases.records * 1000  # us per 1000 records per second of phase time
    print(f"\n{load.name}: {phases.records:,} records, polls of {load.batch_size} messages, "
          f"{phases.commits} commits, {phases.deltas:,} deltas, {phases.partial_bytes / 1e6:,.1f} MB of partials")
    print(f"  {'phase':<16}{'us / 1000 rec':>14}{'share':>8}")
    total = sum(phases.seconds.values())
    for name, s in phases.seconds.items():
        print(f"  {name:<16}{s * per_k:>14,.0f}{s / total:>8.0%}")
    print(f"  {'total':<16}{total * per_k:>14,.0f}   -> {phases.records / seconds:,.0f} records/s (wall, incl. gc)")
    print(f"  RSS MB along the run (this process, incl. the generated messages): "
          f"{' '.join(f'{r:.0f}' for r in phases.rss)}")


def profile(load: Load, params: ProfileParams, top: int = 25) -> None:
    prof = cProfile.Profile()
    prof.runcall(run, load, params)
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def traced_peak(load: Load, params: ProfileParams) -> float:
    tracemalloc.start()
    run(load, params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200k columnar / 40k JSON records")
    parser.add_argument("--profile", action="store_true", help="cProfile each load (top functions by own time)")
    parser.add_argument("--tracemalloc", action="store_true", help="peak Python-allocated MB per load")
    parser.add_argument("--kll-k", type=int, default=1000, help="window KLL k (worker default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per load; the fastest is shown")
    parser.add_argument("--only", choices=("json columnar", "arrow", "sdk", "json records"), default=None)
    args = parser.parse_args(None if argv is None else list(argv))
    params = ProfileParams(kll_k=args.kll_k)
    print(f"KLL k={args.kll_k}; {PARTITIONS} partitions; RSS at start {rss_mb():.0f} MB")
    for load in loads(args.quick):
        if args.only is not None and not load.name.lower().startswith(args.only):
            continue
        best: tuple[float, Phases] | None = None
        for _ in range(args.repeats):
            gc.collect()
            start = time.perf_counter()
            phases = run(load, params)
            seconds = time.perf_counter() - start
            if best is None or seconds < best[0]:
                best = (seconds, phases)
        assert best is not None
        report(load, best[1], best[0])
        if args.tracemalloc:
            print(f"  tracemalloc peak: {traced_peak(load, params):,.1f} MB (Python objects and numpy buffers)")
        if args.profile:
            profile(load, params)


if __name__ == "__main__":
    main()
