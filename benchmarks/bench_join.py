"""Join store: in-process label-join throughput and memory per pending prediction, with and without spill.

Throughput: N predictions then their labels in shuffled batches of 10,000 (labels/s), reference = a bare dict
join of the same keys in the same run. Memory: RSS delta (from /proc/self/status) and memory_bytes() after
holding 1M pending predictions (--quick: 200k), in memory and with the spill threshold at 10% of them.

Run: .venv/bin/python benchmarks/bench_join.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np

from streamdrift.joinstore import JoinStore

BATCH = 10_000


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def dict_reference(n: int) -> float:
    ids = [f"inf-{i}" for i in range(n)]
    t0 = time.perf_counter()
    pending = {f"m\x1f{i}": (j, 0.5, 0.5) for j, i in enumerate(ids)}
    order = np.random.default_rng(1).permutation(n)
    t1 = time.perf_counter()
    for start in range(0, n, BATCH):
        for k in order[start : start + BATCH].tolist():
            pending.pop(f"m\x1f{ids[k]}", None)
    del t0
    return n / (time.perf_counter() - t1)


def run(n: int, max_memory: int, path: Path | None) -> tuple[float, float, int, int, int]:
    gc.collect()
    rng = np.random.default_rng(0)
    ids = np.array([f"inf-{i}" for i in range(n)], dtype=object)
    ts = np.arange(n, dtype=np.int64)
    y_pred, score = rng.integers(0, 2, n).astype(np.float64), rng.random(n)
    rss0 = rss_bytes()
    store = JoinStore(path, max_memory_items=max_memory, ttl_ms=10**12)
    t0 = time.perf_counter()
    for s in range(0, n, BATCH):
        store.add_predictions(["m"] * min(BATCH, n - s), ids[s : s + BATCH], ts[s : s + BATCH],
                              y_pred[s : s + BATCH], score[s : s + BATCH])
    t_pred = time.perf_counter() - t0
    rss_delta, mem_est = rss_bytes() - rss0, store.memory_bytes()
    order = rng.permutation(n)
    labels = rng.integers(0, 2, n)
    matched = 0
    t1 = time.perf_counter()
    for s in range(0, n, BATCH):
        idx = order[s : s + BATCH]
        matched += store.add_labels(["m"] * idx.size, ids[idx], labels[idx], now_ms=n).counts.matched
    t_label = time.perf_counter() - t1
    store.close()
    return n / t_pred, n / t_label, rss_delta, mem_est, matched


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 200_000 if args.quick else 1_000_000
    ref = dict_reference(n)
    print(f"{n:,} pending predictions, then their labels shuffled, batches of {BATCH:,}")
    print(f"reference: bare dict pop of the same keys: {ref:,.0f} labels/s\n")
    print(f"{'mode':28} {'preds/s':>10} {'labels/s':>10} {'vs dict':>8} {'RSS MB':>8} {'est MB':>8} "
          f"{'B/pending':>10} {'matched':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, cap, path in (("in memory", n + 1, None),
                                 (f"spill at {n // 10:,} (SQLite)", n // 10, Path(tmp) / "join.db")):
            p_rate, l_rate, rss, est, matched = run(n, cap, path)
            print(f"{label:28} {p_rate:10,.0f} {l_rate:10,.0f} {l_rate / ref:8.2f} {rss / 2**20:8.1f} "
                  f"{est / 2**20:8.1f} {rss / n:10.0f} {matched:9,}")


if __name__ == "__main__":
    main()
