"""Profile-update throughput vs bare datasketches KLL and vs whylogs; columns_from_rows throughput; the Python
API's DataFrame path (``Baseline.build`` on a pandas DataFrame and a pyarrow Table vs a CSV of the same rows).

    .venv/bin/python benchmarks/bench_profiles.py [--quick] [--rows N] [--whylogs-python PATH] [--dataframe-only]

Data (fixed seed): N rows x 20 numeric columns (normal, about 1% NaN) + 3 categorical columns (Zipf over 10 /
300 / 5000 values). Figures are medians of repeated runs; ratios compare against a reference measured in the
same run. whylogs runs in a subprocess (its own virtualenv when it is not importable here) on the same data,
profiled through a pandas DataFrame (its fast path); DataFrame construction is not timed, like our Columns.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dataframe_build  # benchmarks/ (the script's directory) is on sys.path
import datasketches as ds
import numpy as np
import orjson
import pyarrow as pa

from streamdrift.columns.columns import (
    Column,
    Columns,
    Kind,
    classify_numbers,
    columns_from_arrow,
    columns_from_rows,
    paused_gc,
)
from streamdrift.profile.profiles import DatasetProfile

N_NUMERIC = 20
CATEGORIES = (10, 300, 5000)
SEED = 42
DEFAULT_WHYLOGS_PYTHON = "/tmp/wl/bin/python"

WHYLOGS_SCRIPT = r"""
import json, sys, time, statistics
import numpy as np
if "unicode_" not in np.__dict__:  # whylogs 1.6 still names np.unicode_, removed in numpy 2
    np.unicode_ = np.str_
data = np.load(sys.argv[1], allow_pickle=False)
repeats = int(sys.argv[2])
import whylogs as why
try:
    import pandas as pd
except ImportError:
    pd = None
numeric = data["numeric"]
cats = [data[f"cat{i}"] for i in range(int(data["n_cat"]))]
columns = {f"f{j}": numeric[:, j] for j in range(numeric.shape[1])}
columns.update({f"c{i}": c.astype(object) for i, c in enumerate(cats)})
times = []
mode = "pandas" if pd is not None else "numpy-columns"
for _ in range(repeats):
    if pd is not None:
        df = pd.DataFrame(columns)
        t0 = time.perf_counter(); why.log(pandas=df); times.append(time.perf_counter() - t0)
    else:
        from whylogs.core import DatasetProfile
        prof = DatasetProfile()
        prof.track(row={k: v[0] for k, v in columns.items()})
        arrays = {k: (v if v.dtype != object else v.astype(str)) for k, v in columns.items()}
        t0 = time.perf_counter()
        for k, v in arrays.items():
            prof._columns[k].track_column(v)
        prof.view()
        times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": statistics.median(times), "mode": mode, "version": why.__version__}))
"""


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_data(n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(SEED)
    numeric = rng.normal(0.0, 1.0, size=(n, N_NUMERIC)) * rng.uniform(0.5, 100, N_NUMERIC) + rng.normal(0, 10, N_NUMERIC)
    numeric[rng.random((n, N_NUMERIC)) < 0.01] = np.nan
    cats = []
    for size in CATEGORIES:
        vocab = np.array([f"cat_{size}_{i}" for i in range(size)], dtype=object)
        cats.append(vocab[(rng.zipf(1.3, n) - 1) % size])
    return numeric, cats


def data_table(n: int) -> pa.Table:
    """The benchmark's rows as a pyarrow Table (f0..f19 float64, c0..c2 strings)."""
    numeric, cats = make_data(n)
    return pa.table({**{f"f{j}": np.ascontiguousarray(numeric[:, j]) for j in range(N_NUMERIC)},
                     **{f"c{i}": pa.array(c, type=pa.string()) for i, c in enumerate(cats)}})


def build_columns(numeric: np.ndarray, cats: list[np.ndarray]) -> Columns:
    n = numeric.shape[0]
    cols: dict[str, Column] = {}
    for j in range(numeric.shape[1]):
        numbers, kinds = classify_numbers(np.ascontiguousarray(numeric[:, j]))
        cols[f"f{j}"] = Column(numbers, kinds, None)
    for i, c in enumerate(cats):
        cols[f"c{i}"] = Column(np.full(n, np.nan), np.full(n, Kind.STRING, dtype=np.uint8), c)
    return Columns(n, cols)


def bench_profiles(n: int, repeats: int, whylogs_python: str) -> list[tuple[str, float, str]]:
    numeric, cats = make_data(n)
    columns = build_columns(numeric, cats)
    numeric_only = Columns(n, {k: v for k, v in columns.columns.items() if k.startswith("f")})
    n_values = n * (N_NUMERIC + len(CATEGORIES))
    n_numeric = n * N_NUMERIC
    arrays = [np.ascontiguousarray(numeric[:, j]) for j in range(N_NUMERIC)]

    def bare_kll() -> None:
        for a in arrays:
            ds.kll_doubles_sketch(200).update(a)

    t_kll = median_time(bare_kll, repeats)
    t_num = median_time(lambda: DatasetProfile.empty().update(numeric_only), repeats)
    t_all = median_time(lambda: DatasetProfile.empty().update(columns), repeats)
    table = pa.table({**{f"f{j}": arrays[j] for j in range(N_NUMERIC)},
                      **{f"c{i}": pa.array(c, type=pa.string()) for i, c in enumerate(cats)}})
    t_arrow = median_time(lambda: columns_from_arrow(table), repeats)
    t_wl, wl_note = run_whylogs(numeric, cats, repeats, whylogs_python)
    rows = [
        ("bare datasketches KLL update (20 numeric cols)", n_numeric / t_kll, "reference"),
        ("streamdrift profile update, numeric cols only", n_numeric / t_num, f"ratio vs bare KLL {t_kll / t_num:.2f}"),
        ("streamdrift profile update, all 23 cols", n_values / t_all, f"{t_all:.3f} s per batch"),
        ("columns_from_arrow (typed numbers + strings)", n_values / t_arrow, f"{t_arrow:.3f} s per batch"),
    ]
    if t_wl is not None:
        rows.append((f"whylogs profile, all 23 cols ({wl_note})", n_values / t_wl,
                     f"streamdrift {t_wl / t_all:.1f}x faster"))
    else:
        rows.append(("whylogs profile", float("nan"), wl_note))
    return rows


def run_whylogs(numeric: np.ndarray, cats: list[np.ndarray], repeats: int, python: str) -> tuple[float | None, str]:
    try:
        import whylogs  # noqa: F401

        python = sys.executable
    except ImportError:
        if not Path(python).exists():
            return None, f"skipped: whylogs not importable and {python} missing"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        arrays: dict[str, np.ndarray] = {f"cat{i}": c.astype(str) for i, c in enumerate(cats)}
        arrays["numeric"] = numeric
        arrays["n_cat"] = np.array(len(cats))
        np.savez(path, allow_pickle=False, **arrays)
        script = Path(tmp) / "wl.py"
        script.write_text(WHYLOGS_SCRIPT)
        proc = subprocess.run([python, str(script), str(path), str(repeats)], capture_output=True, text=True,
                              timeout=1800, check=False)
    if proc.returncode != 0:
        return None, f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), f"whylogs {result['version']}, {result['mode']}"


def capture_rows(n: int) -> tuple[list[dict[str, object]], float]:
    rng = np.random.default_rng(SEED + 1)
    feats = rng.normal(size=(n, N_NUMERIC)) * 100
    cat_idx = rng.integers(0, 50, size=(n, 3))
    blobs = []
    for i in range(n):
        row: dict[str, object] = {f"f{j:02d}": float(feats[i, j]) for j in range(N_NUMERIC)}
        row.update({f"cat{k}": f"value_{int(cat_idx[i, k])}" for k in range(3)})
        row["event_id"] = f"{i:032x}"
        row["prediction"] = float(feats[i, 0] > 0)
        blobs.append(orjson.dumps(row))
    mean_bytes = sum(map(len, blobs)) / n
    return [orjson.loads(b) for b in blobs], mean_bytes


def bench_rows(n: int, repeats: int) -> list[tuple[str, float, str]]:
    rows, mean_bytes = capture_rows(n)
    blobs = [orjson.dumps(r) for r in rows]

    def columnarize() -> None:
        columns_from_rows(rows)

    def decode_and_columnarize() -> None:
        columns_from_rows([orjson.loads(b) for b in blobs])

    def paused(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with paused_gc():
                fn()
        return run

    timings: dict[str, list[float]] = {}
    for _ in range(max(repeats, 5)):  # interleaved, so load drift on a shared machine hits every variant
        for name, fn in (("rows", columnarize), ("rows_nogc", paused(columnarize)),
                         ("decode", decode_and_columnarize), ("decode_nogc", paused(decode_and_columnarize))):
            gc.collect()
            timings.setdefault(name, []).append(median_time(fn, 1))
    t = {k: statistics.median(v) for k, v in timings.items()}
    note = f"{mean_bytes:.0f}-byte JSON records, {len(rows[0])} fields"
    return [
        ("columns_from_rows (dicts already decoded), gc enabled", n / t["rows"], note),
        ("columns_from_rows (dicts already decoded), gc paused", n / t["rows_nogc"],
         f"{t['rows'] / t['rows_nogc']:.2f}x vs gc enabled"),
        ("orjson.loads + columns_from_rows, gc enabled", n / t["decode"], "bytes -> Columns"),
        ("orjson.loads + columns_from_rows, gc paused", n / t["decode_nogc"],
         f"{t['decode'] / t['decode_nogc']:.2f}x vs gc enabled"),
    ]


def bench_streaming(n_batches: int, repeats: int) -> list[tuple[str, float, str]]:
    """The data plane's pattern: a fresh DatasetProfile per (model, window) fed one 1000-row batch, serialized."""
    rng = np.random.default_rng(SEED + 2)
    batches = []
    for _ in range(n_batches):
        cols: dict[str, Column] = {}
        for j in range(22):
            numbers, kinds = classify_numbers(rng.normal(size=1000).round(3))
            cols[f"f{j}"] = Column(numbers, kinds, None)
        for i in range(3):
            strings = rng.choice(np.array(["red", "green", "blue", "cyan"], dtype=object), 1000)
            cols[f"c{i}"] = Column(np.full(1000, np.nan), np.full(1000, Kind.STRING, dtype=np.uint8), strings)
        batches.append(Columns(1000, cols))
    arrays = [c.numbers for b in batches for name, c in b.columns.items() if name.startswith("f")]

    def bare_kll() -> None:
        for a in arrays:
            ds.kll_doubles_sketch(200).update(a)

    def profile_and_serialize() -> None:
        for b in batches:
            p = DatasetProfile.empty()
            p.update(b)
            p.to_bytes()

    t_kll = median_time(bare_kll, repeats)
    t_prof = median_time(profile_and_serialize, repeats)
    n = n_batches * 1000
    return [
        ("bare KLL update of the 22 numeric columns", n / t_kll, "reference"),
        ("new DatasetProfile + update + to_bytes per batch", n / t_prof, f"ratio vs bare KLL {t_kll / t_prof:.2f}"),
    ]


MEMORY_SCRIPT = r"""
import sys
import numpy as np
from streamdrift.columns.columns import Columns, column_from_values
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
rng = np.random.default_rng(0)
num = column_from_values(rng.normal(size=1000).round(3).tolist())
cat = column_from_values(rng.choice(["red", "green", "blue", "cyan"], 1000).tolist())
batch = Columns(1000, {**{f"f{j}": num for j in range(22)}, **{f"c{i}": cat for i in range(3)}})
def feature(col):
    fp = FeatureProfile()
    if col is not None:
        fp.update(col)
    return fp
def dataset():
    dp = DatasetProfile.empty()
    dp.update(batch)
    return dp
make = {"empty": lambda: feature(None), "numeric": lambda: feature(num), "categorical": lambda: feature(cat),
        "dataset": dataset}[sys.argv[1]]
n = 200 if sys.argv[1] == "dataset" else 5000
make()
keep, before = [], rss()
for _ in range(n):
    keep.append(make())
print((rss() - before) / n)
"""


def bench_memory() -> list[tuple[str, float, str]]:
    """Resident bytes per profile (RSS growth over many live objects, each case in its own process)."""
    cases = [("empty FeatureProfile", "empty"), ("FeatureProfile, 1000 numbers", "numeric"),
             ("FeatureProfile, 1000 strings (4 values)", "categorical"),
             ("DatasetProfile, 22 numeric + 3 categorical x 1000 rows", "dataset")]
    rows = []
    for title, case in cases:
        proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, case], capture_output=True, text=True,
                              timeout=600, check=False)
        value = float(proc.stdout.strip()) if proc.returncode == 0 else float("nan")
        rows.append((title, value, "RSS growth per live object"))
    return rows


def print_table(title: str, rows: list[tuple[str, float, str]], unit: str) -> None:
    print(f"\n{title}", flush=True)
    width = max(len(r[0]) for r in rows)
    print(f"  {'measure':<{width}}  {unit:>14}  note")
    for name, rate, note in rows:
        print(f"  {name:<{width}}  {rate:>14,.0f}  {note}")


def main(args: argparse.Namespace) -> None:
    n = args.rows or (100_000 if args.quick else 1_000_000)
    repeats = 2 if args.quick else 3
    n_rows_capture = 20_000 if args.quick else 100_000
    print(f"bench_profiles: {n:,} rows x ({N_NUMERIC} numeric + {len(CATEGORIES)} categorical), seed {SEED}, "
          f"median of {repeats}, python {sys.version.split()[0]}, numpy {np.__version__}", flush=True)
    if args.dataframe_only:
        dataframe_build.bench_dataframe_build(data_table(n), repeats)
        return
    print_table("Profile update", bench_profiles(n, repeats, args.whylogs_python), "values/s")
    gc.collect()
    print_table("Columnarizing capture records", bench_rows(n_rows_capture, repeats), "records/s")
    gc.collect()
    print_table("Streaming: one profile per 1000-row batch (data plane)",
                bench_streaming(50 if args.quick else 200, max(repeats, 3)), "rows/s")
    print_table("Memory", bench_memory(), "bytes")
    dataframe_build.bench_dataframe_build(data_table(n), repeats)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k rows, 2 repeats")
    parser.add_argument("--rows", type=int, default=0, help="rows of the profile batch (overrides --quick)")
    parser.add_argument("--dataframe-only", action="store_true",
                        help="only the DataFrame / Table vs CSV Baseline.build comparison")
    parser.add_argument("--whylogs-python", default=DEFAULT_WHYLOGS_PYTHON,
                        help="python of a virtualenv with whylogs, used when whylogs is not importable here")
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_args())
