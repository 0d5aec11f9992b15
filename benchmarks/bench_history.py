"""Window history (docs/history.md): profiles-topic bytes per window, ``streamdrift history --every 1d`` over many
1-minute windows of one model on a real local broker (time and peak RSS of the command), and ``streamdrift
reevaluate`` over the first of those windows (windows/s). Figures are printed as soon as measured; nothing is asserted.

The model has 25 features (20 numeric, 5 categorical), window sketches at the worker's defaults (KLL k 1,000).
The stored windows are generated (not run through a worker): ``--distinct`` window profiles of
``--records`` rows, each written under many window starts, one message per window, as the control plane writes
them (the profiles-topic format, key, partition and timestamp).

    .venv/bin/python benchmarks/bench_history.py [--quick] [--windows 43200] [--records 60] [--reevaluate-windows N]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from confluent_kafka import Producer
from harness import create_all_topics, settings_env, unique_settings

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import Columns, column_from_values
from streamdrift.dev.localkafka import LocalKafka
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.stored import encode_stored, profiles_partition, stored_key

MODEL = "bench"
MINUTE_MS = 60_000
CATEGORIES = np.array([f"cat{i}" for i in range(12)], dtype=object)


def columns(n: int, rng: np.random.Generator, shift: float = 0.0) -> Columns:
    cols = {f"f{i}": column_from_values((rng.normal(size=n) + shift).round(6).tolist()) for i in range(20)}
    cols.update({f"c{i}": column_from_values(rng.choice(CATEGORIES, n).tolist()) for i in range(5)})
    return Columns(n, cols)


def window(start_ms: int, n: int, rng: np.random.Generator) -> ReadyWindow:
    profile = DatasetProfile.empty(ProfileParams(kll_k=1000))
    profile.update(columns(n, rng))
    return ReadyWindow(model_id=MODEL, model_version=None, window_start_ms=start_ms, window_end_ms=start_ms + MINUTE_MS,
                       profile=profile, n_records=n, partial=False, partitions_closed=frozenset(range(6)),
                       first_seen_ms=start_ms + MINUTE_MS)


def bytes_per_window(rng: np.random.Generator) -> None:
    base = None
    for n in (1_000, 10_000, 100_000):
        size = len(encode_stored(window(0, n, rng), "baseline-id"))
        base = base or size
        print(f"profiles-topic bytes per window, 25 features, {n:>7,} records: {size:>9,} "
              f"({size / 25:,.0f} per feature; x{size / base:.2f} of 1k)", flush=True)


# runs the command as its only child and prints that child's peak RSS (this process's own children include the
# broker's JVM tools, whose RSS would be taken for the command's)
_PEAK = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
         "print(f'peak-rss-kb {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); "
         "sys.exit(code)")


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MB of the command, its stderr)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.decode().strip().splitlines()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[3]} failed: {err[-20:]}")
    rss = int(err[-1].split()[1]) / 1024
    return elapsed, rss, "\n".join(line for line in err[:-1] if "rdkafka" not in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 windows instead of 43,200")
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument("--records", type=int, default=60, help="records per 1-minute window (history part)")
    parser.add_argument("--distinct", type=int, default=50, help="distinct window profiles generated")
    parser.add_argument("--reevaluate-windows", type=int, default=None,
                        help="windows re-evaluated (the first ones; default 500 with --quick, else 3,000)")
    args = parser.parse_args()
    n_windows = args.windows or (2_000 if args.quick else 43_200)
    rng = np.random.default_rng(7)
    bytes_per_window(rng)

    with LocalKafka() as broker, tempfile.TemporaryDirectory() as tmp:
        settings = unique_settings(broker.bootstrap)
        create_all_topics(settings)
        first = (int(time.time() * 1000) // 86_400_000 - (n_windows // 1440 + 1)) * 86_400_000
        samples = [window(0, args.records, rng) for _ in range(args.distinct)]
        partition = profiles_partition(MODEL, settings.topics.partitions)
        producer = Producer(settings.client_config({"linger.ms": 50, "compression.type": "none",
                                                     "message.max.bytes": 64 << 20}))
        t0 = time.perf_counter()
        total = 0
        for i in range(n_windows):
            start = first + i * MINUTE_MS
            value = encode_stored(replace(samples[i % len(samples)], window_start_ms=start,
                                          window_end_ms=start + MINUTE_MS), None)
            total += len(value)
            while True:
                try:
                    producer.produce(settings.history.topic, key=stored_key(MODEL, start), value=value,
                                     partition=partition, timestamp=start)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(300)
        print(f"generated {n_windows:,} windows of {args.records} records into the broker: {total / 1e6:,.1f} MB "
              f"({total / n_windows:,.0f} bytes per window) in {time.perf_counter() - t0:.1f} s", flush=True)

        env = settings_env(settings)
        cli = [sys.executable, "-m", "streamdrift"]
        span = ["--from", str(first), "--to", str(first + n_windows * MINUTE_MS)]
        elapsed, rss, err = run([*cli, "history", "--bootstrap", broker.bootstrap, "--model", MODEL, "--every", "1d",
                                 *span], env)
        print(f"history --every 1d over {n_windows:,} windows: {elapsed:.1f} s ({n_windows / elapsed:,.0f} windows/s), "
              f"peak RSS {rss:.0f} MB (goal for 43,200: < 60 s, < 500 MB) [{err.splitlines()[0]}]", flush=True)

        reference = build_baseline([columns(5000, np.random.default_rng(3), shift=0.1)], MODEL)
        path = Path(tmp) / "baseline.json"
        reference.save(path)
        n_re = min(n_windows, args.reevaluate_windows or (500 if args.quick else 3_000))
        elapsed, rss, err = run([*cli, "reevaluate", "--bootstrap", broker.bootstrap, "--model", MODEL, "--baseline",
                                 str(path), "--output", str(Path(tmp) / "re"), "--from", str(first), "--to",
                                 str(first + n_re * MINUTE_MS)], env)
        print(f"reevaluate {n_re:,} windows: {elapsed:.1f} s, {n_re / elapsed:,.0f} windows/s, "
              f"peak RSS {rss:.0f} MB [{err.splitlines()[-1]}]", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
