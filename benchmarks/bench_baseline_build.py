"""Benchmark ``streamdrift baseline build``: wall time and peak RSS on CSVs of growing size.

Generates CSVs of 1M and 5M rows x 23 columns (20 numeric, 3 categorical; fixed seed) in a temporary directory
and runs ``streamdrift baseline build`` on each as a subprocess, measuring its wall time and peak RSS
(``ru_maxrss`` of the waited child). Goal: the 5M-row peak RSS within 10% of the 1M-row one (constant memory)
and under 500 MB. ``--quick`` uses 100k / 500k rows.

    .venv/bin/python benchmarks/bench_baseline_build.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

N_NUMERIC = 20
CATEGORIES = (("color", ("red", "green", "blue", "black")), ("country", tuple(f"C{i:02d}" for i in range(30))),
              ("plan", ("free", "pro", "enterprise")))
WRITE_BLOCK = 250_000


def write_csv(path: Path, n_rows: int, seed: int = 42) -> None:
    """n_rows x 23 columns, written in blocks so generation memory stays small."""
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(N_NUMERIC)] + [name for name, _ in CATEGORIES]
    options = pacsv.WriteOptions(include_header=True)
    writer: pacsv.CSVWriter | None = None
    try:
        for start in range(0, n_rows, WRITE_BLOCK):
            size = min(WRITE_BLOCK, n_rows - start)
            numeric = [np.round(rng.normal(i, 1 + i / 10, size), 4) for i in range(N_NUMERIC)]
            cats = [pa.array(np.asarray(values)[rng.integers(0, len(values), size)]) for _, values in CATEGORIES]
            table = pa.table(dict(zip(names, [*numeric, *cats], strict=True)))
            if writer is None:
                writer = pacsv.CSVWriter(str(path), table.schema, write_options=options)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def run_build(csv: Path, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one ``baseline build`` subprocess."""
    cmd = [sys.executable, "-m", "streamdrift", "baseline", "build", "--input", str(csv), "--model-id", "bench",
           "--output", str(out)]
    log = out.with_suffix(".log")
    with log.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"baseline build failed on {csv}:\n{log.read_text()}")
    return elapsed, rusage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k / 500k rows instead of 1M / 5M")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    sizes = (100_000, 500_000) if args.quick else (1_000_000, 5_000_000)
    workdir = Path(tempfile.mkdtemp(prefix="bench_baseline_", dir="/tmp"))
    rows: list[tuple[int, float, float, float, float]] = []
    try:
        for n in sizes:
            csv = workdir / f"data_{n}.csv"
            t0 = time.perf_counter()
            write_csv(csv, n)
            gen = time.perf_counter() - t0
            seconds, rss = run_build(csv, workdir / f"baseline_{n}.json")
            rows.append((n, csv.stat().st_size / 1e6, gen, seconds, rss))
    finally:
        if not args.keep:
            for f in workdir.iterdir():
                f.unlink()
            workdir.rmdir()
    print(f"{'rows':>10} {'CSV MB':>8} {'gen s':>7} {'build s':>8} {'rows/s':>10} {'peak RSS MB':>12}")
    for n, mb, gen, seconds, rss in rows:
        print(f"{n:>10,} {mb:>8.1f} {gen:>7.1f} {seconds:>8.1f} {n / seconds:>10,.0f} {rss:>12.1f}")
    small, large = rows[0], rows[-1]
    ratio = large[4] / small[4]
    print(f"\npeak RSS ratio {large[0]:,} / {small[0]:,} rows: {ratio:.3f} (goal <= 1.10); "
          f"largest peak {large[4]:.0f} MB (goal < 500 MB); throughput ratio "
          f"{(large[0] / large[3]) / (small[0] / small[3]):.2f}")


if __name__ == "__main__":
    main()
