"""The DataFrame path of bench_profiles.py (issue 22): ``streamdrift.Baseline.build`` on a pandas DataFrame and on
the same pyarrow Table, against the CSV path (``Baseline.build`` on a CSV file of the same rows, what
``streamdrift baseline build`` runs), in the same run.

Each path runs in its own process (so each peak RSS is its own): the process loads its input untimed (the
DataFrame / Table from a Parquet file of the rows; the CSV path only its file name), then times the build.
Printed per path as soon as it is measured: rows/s of wall time and of CPU time (the process's, every thread;
steadier on a shared machine), each with its ratio to the CSV path's, the RSS holding the input before the build
and the peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHILD = r"""
import json, resource, sys, time
import pyarrow.parquet as pq
import streamdrift as sd

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

mode, parquet, csv, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "pandas":
    data = pq.read_table(parquet).to_pandas()
elif mode == "arrow":
    data = pq.read_table(parquet)
else:
    data = csv
build = sd.Baseline.build  # the API's modules load here, not in the timed build
before = rss()
times, cpu = [], []
for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    built = build(data, model_id="bench")
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": times, "cpu_seconds": cpu, "rows": built.n_records, "features": len(built.features),
                  "rss_before": before, "peak_rss": peak}))
"""

PATHS = (("csv", "Baseline.build(CSV file path)"), ("pandas", "Baseline.build(pandas DataFrame)"),
         ("arrow", "Baseline.build(pyarrow Table)"))


def _run(mode: str, parquet: Path, csv: Path, repeats: int) -> tuple[float, float, int, int] | None:
    """(median wall seconds of the build, median CPU seconds, RSS holding the input, peak RSS) of one path,
    None when it failed."""
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(parquet), str(csv), str(repeats)],
                          capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        print(f"  {mode}: failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '?'}",
              flush=True)
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return (float(statistics.median(out["seconds"])), float(statistics.median(out["cpu_seconds"])),
            int(out["rss_before"]), int(out["peak_rss"]))


def bench_dataframe_build(table: pa.Table, repeats: int) -> None:
    """Time the three paths on ``table``'s rows and print each as soon as it is measured."""
    n = table.num_rows
    print(f"\nBaseline.build: DataFrame / Table vs CSV ({n:,} rows x {table.num_columns} columns, median of "
          f"{repeats}, each path in its own process)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-dataframe-") as tmp:
        parquet, csv = Path(tmp) / "rows.parquet", Path(tmp) / "rows.csv"
        pq.write_table(table, parquet)
        pacsv.write_csv(table, csv)
        print(f"  {'path':<34} {'rows/s':>10}  {'vs CSV':>7}  {'rows/CPU-s':>10}  {'vs CSV':>7}  "
              f"{'RSS with input':>14}  {'peak RSS':>9}", flush=True)
        reference: tuple[float, float] | None = None
        for mode, title in PATHS:
            result = _run(mode, parquet, csv, repeats)
            if result is None:
                continue
            seconds, cpu_seconds, rss_before, peak = result
            rate, cpu_rate = n / seconds, n / cpu_seconds
            if mode == "csv":
                reference = (rate, cpu_rate)
            ratio = f"{rate / reference[0]:.2f}x" if reference else "-"
            cpu_ratio = f"{cpu_rate / reference[1]:.2f}x" if reference else "-"
            print(f"  {title:<34} {rate:>10,.0f}  {ratio:>7}  {cpu_rate:>10,.0f}  {cpu_ratio:>7}  "
                  f"{rss_before / 2**20:>11,.0f} MB  {peak / 2**20:>6,.0f} MB", flush=True)
