"""Join store: in-process label-join throughput, memory per pending prediction and expire() cost.

1. Throughput: N predictions then their labels in shuffled batches of 10,000 (labels/s), reference = a bare dict
   join of the same keys in the same run; in memory and with the spill threshold at 10% of N.
2. Predictions/s while a spill is present: the store first holds N/2 predictions, ~98% of them spilled (its
   share of a MemoryBudget shrunk by 99 other stores, which then close), then N/2 new ones arrive with room in
   memory; and with the memory limit at N/20, so every new key is spilled again (the steady state of a full
   store). Ratios to the in-memory rate of the same run.
3. Memory: RSS delta (from /proc/self/status) and memory_bytes() per pending prediction, with production-like
   keys (a 16-character model id, UUID inference ids, float prediction and score, as the data plane passes);
   and RAM per *spilled* prediction (N held, memory limit 10,000): RSS delta and the store's own accounting of
   what it keeps in RAM for its spill (spill_bytes(): Bloom filter, row states; before: the key hashes).
4. expire() with N pending predictions: a call that expires nothing (most commits), and calls that expire 1%.
5. Steady state of a full store: 3N predictions, expire() after each batch, N spilled at a time (TTL): rate,
   slowest batch and RSS growth over the second half (bounded RAM: flat).

``--baseline FILE`` runs every section but 1's dict reference with another joinstore.py too (e.g. ``git show REV:src/streamdrift/window/joinstore.py``)
so before / after are measured in the same run.

Run: .venv/bin/python benchmarks/bench_join.py [--quick] [--baseline /tmp/joinstore_old.py]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import streamdrift.window.joinstore

BATCH = 10_000


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("joinstore_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def dict_reference(n: int) -> float:
    ids = [f"inf-{i}" for i in range(n)]
    pending = {f"m\x1f{i}": (j, 0.5, 0.5) for j, i in enumerate(ids)}
    order = np.random.default_rng(1).permutation(n)
    t1 = time.perf_counter()
    for start in range(0, n, BATCH):
        for k in order[start : start + BATCH].tolist():
            pending.pop(f"m\x1f{ids[k]}", None)
    return n / (time.perf_counter() - t1)


def add_all(store: Any, ids: np.ndarray, ts: np.ndarray, y_pred: np.ndarray, score: np.ndarray,
            model: str = "m") -> float:
    t0 = time.perf_counter()
    for s in range(0, ids.size, BATCH):
        k = min(BATCH, ids.size - s)
        store.add_predictions([model] * k, ids[s : s + k], ts[s : s + k], y_pred[s : s + k], score[s : s + k])
    return time.perf_counter() - t0


def run(mod: ModuleType, n: int, max_memory: int, path: Path | None) -> tuple[float, float, int, int, int]:
    gc.collect()
    rng = np.random.default_rng(0)
    ids = np.array([f"inf-{i}" for i in range(n)], dtype=object)
    ts = np.arange(n, dtype=np.int64)
    y_pred, score = rng.integers(0, 2, n).astype(np.float64), rng.random(n)
    rss0 = rss_bytes()
    store = mod.JoinStore(path, max_memory_items=max_memory, ttl_ms=10**12)
    t_pred = add_all(store, ids, ts, y_pred, score)
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


def spill_present(mod: ModuleType, n: int, tmp: Path) -> tuple[float, float, float]:
    """Predictions/s for N/2 new keys: into an empty store; into a store holding N/2 predictions, ~98% spilled,
    with room in memory for the new keys; and with the memory limit at N/20 (every new key is spilled again:
    the steady state of a full store)."""
    rng = np.random.default_rng(2)
    ids = np.array([f"inf-{i}" for i in range(n)], dtype=object)
    ts = np.arange(n, dtype=np.int64)
    y_pred, score = rng.integers(0, 2, n).astype(np.float64), rng.random(n)
    half = n // 2
    cap = max(1, n // 20)
    with mod.JoinStore(None, max_memory_items=n + 1, ttl_ms=10**12) as store:
        mem_rate = half / add_all(store, ids[half:], ts[half:], y_pred[half:], score[half:])
    budget = mod.MemoryBudget(n + 1, floor=1)
    with mod.JoinStore(tmp / f"present-{mod.__name__}.db", ttl_ms=10**12, budget=budget) as store:
        others = [mod.JoinStore(None, ttl_ms=10**12, budget=budget) for _ in range(99)]
        add_all(store, ids[:half], ts[:half], y_pred[:half], score[:half])
        for other in others:
            other.close()
        assert store.spilled_items >= half * 0.98 and store.max_memory_items > n
        present_rate = half / add_all(store, ids[half:], ts[half:], y_pred[half:], score[half:])
    with mod.JoinStore(tmp / f"full-{mod.__name__}.db", max_memory_items=cap, ttl_ms=10**12) as store:
        add_all(store, ids[:half], ts[:half], y_pred[:half], score[:half])
        assert store.spilled_items > 0
        full_rate = half / add_all(store, ids[half:], ts[half:], y_pred[half:], score[half:])
    return mem_rate, present_rate, full_rate


def _production_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n)], dtype=object)
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3
    return ids, ts, rng.integers(0, 2, n).astype(np.float64), rng.random(n)


def memory_per_entry(module_file: str, n: int) -> tuple[float, float]:
    """RSS and memory_bytes() per pending prediction with production-like keys and values."""
    mod = load(module_file)
    gc.collect()
    ids, ts, y_pred, score = _production_like(n, 3)
    rss0 = rss_bytes()
    store = mod.JoinStore(None, max_memory_items=n + 1, ttl_ms=24 * 3600 * 1000)
    add_all(store, ids, ts, y_pred, score, model="churn-model-v003")
    rss = (rss_bytes() - rss0) / n
    est = store.memory_bytes() / n
    store.close()
    del store
    gc.collect()
    return rss, est


def memory_per_spilled(module_file: str, n: int, tmp: str) -> tuple[float, float, int]:
    """RSS delta and the store's own accounting of its spill's RAM per spilled prediction: N production-like
    predictions through a store whose memory limit is 10,000."""
    mod = load(module_file)
    gc.collect()
    ids, ts, y_pred, score = _production_like(n, 5)
    rss0 = rss_bytes()
    store = mod.JoinStore(Path(tmp) / "spilled.db", max_memory_items=10_000, ttl_ms=24 * 3600 * 1000)
    add_all(store, ids, ts, y_pred, score, model="churn-model-v003")
    gc.collect()
    spilled = store.spilled_items
    rss = (rss_bytes() - rss0) / spilled
    own = store.spill_bytes() if hasattr(store, "spill_bytes") else store._spill.hashes.nbytes
    store.close()
    return rss, own / spilled, spilled


def expire_cost(mod: ModuleType, n: int) -> tuple[float, float, int]:
    """Seconds per expire() over N pending predictions: expiring nothing, and expiring 1% per call."""
    rng = np.random.default_rng(4)
    ids = np.array([f"inf-{i}" for i in range(n)], dtype=object)
    ts = np.arange(n, dtype=np.int64)
    ttl = 10 * n
    with mod.JoinStore(None, max_memory_items=n + 1, ttl_ms=ttl) as store:
        add_all(store, ids, ts, rng.random(n), rng.random(n))
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            store.expire(ttl)  # cutoff 0: nothing expires
        idle = (time.perf_counter() - t0) / reps
        expired = 0
        t1 = time.perf_counter()
        for step in range(1, reps + 1):
            expired += store.expire(ttl + step * (n // 100)).expired_prediction
        busy = (time.perf_counter() - t1) / reps
    return idle, busy, expired


def steady_state(module_file: str, n: int, live: int) -> tuple[float, float, float, int]:
    """A full store at its steady state: N production-like predictions in batches, expire() after each, TTL such
    that ``live`` stay spilled, memory limit 20,000. Predictions/s over the second half, the slowest batch
    (add + expire) and the RSS growth over the second half (flat: bounded RAM), in a fresh process."""
    mod = load(module_file)
    ids, _, y_pred, score = _production_like(n, 6)
    ts = np.arange(n, dtype=np.int64)  # 1 ms apart: the TTL keeps ``live`` of them
    store = mod.JoinStore(None, max_memory_items=20_000, ttl_ms=live)
    worst = 0.0
    rss_half = 0
    t_half = 0.0
    for s in range(0, n, BATCH):
        if s == n // 2:
            gc.collect()
            rss_half, t_half = rss_bytes(), time.perf_counter()
        t0 = time.perf_counter()
        store.add_predictions(["churn-model-v003"] * BATCH, ids[s : s + BATCH], ts[s : s + BATCH],
                              y_pred[s : s + BATCH], score[s : s + BATCH])
        store.expire(s + BATCH)
        worst = max(worst, time.perf_counter() - t0)
    rate = (n - n // 2) / (time.perf_counter() - t_half)
    gc.collect()
    growth = rss_bytes() - rss_half
    spilled = store.spilled_items
    store.close()
    return rate, worst, growth, spilled


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", help="another joinstore.py to measure in the same run (before / after)")
    parser.add_argument("--sections", default="12345", help="which of the sections 1-5 to run (default: all)")
    args = parser.parse_args()
    n = 200_000 if args.quick else 1_000_000
    current = streamdrift.window.joinstore
    modules = [("current", current)] + ([("baseline", load(args.baseline))] if args.baseline else [])

    if "1" in args.sections:
        ref = dict_reference(n)
        print(f"1. {n:,} pending predictions, then their labels shuffled, batches of {BATCH:,}")
        print(f"reference: bare dict pop of the same keys: {ref:,.0f} labels/s\n")
        print(f"{'mode':28} {'preds/s':>10} {'labels/s':>10} {'vs dict':>8} {'RSS MB':>8} {'est MB':>8} "
              f"{'B/pending':>10} {'matched':>9}")
        for name, mod in modules:
            with tempfile.TemporaryDirectory() as tmp:
                for label, cap, path in (("in memory", n + 1, None),
                                         (f"spill at {n // 10:,}", n // 10, Path(tmp) / "join.db")):
                    p_rate, l_rate, rss, est, matched = run(mod, n, cap, path)
                    print(f"{name + ' ' + label:28} {p_rate:10,.0f} {l_rate:10,.0f} {l_rate / ref:8.2f} "
                          f"{rss / 2**20:8.1f} {est / 2**20:8.1f} {rss / n:10.0f} {matched:9,}")

    if "2" in args.sections:
        print(f"\n2. predictions/s for {n // 2:,} new keys: empty store; {n // 2:,} spilled, room in memory; "
              f"memory limit {max(1, n // 20):,} (each new key spilled again)")
        with tempfile.TemporaryDirectory() as tmp:
            for name, mod in modules:
                mem_rate, present, full = spill_present(mod, n, Path(tmp))
                print(f"{name:9} empty {mem_rate:10,.0f}/s   spill present {present:10,.0f}/s "
                      f"(x{present / mem_rate:4.2f})   spilling {full:10,.0f}/s (x{full / mem_rate:4.2f})")

    if "3" in args.sections:
        print(f"\n3. bytes per pending prediction, {n:,} held (model id 16 chars, UUID ids, float y_pred/score)")
        for name, mod in modules:
            with multiprocessing.get_context("spawn").Pool(1) as pool:  # a fresh process: RSS deltas do not mix
                rss_b, est_b = pool.apply(memory_per_entry, (mod.__file__, n))
            print(f"{name:9} RSS {rss_b:6.0f} B/entry   memory_bytes() {est_b:6.0f} B/entry")
        print(f"RAM per spilled prediction, {n:,} through a store with memory limit 10,000 (RSS delta includes the "
              "10,000 held in memory, and for SQLite its page cache)")
        with tempfile.TemporaryDirectory() as tmp:
            for name, mod in modules:
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    rss_s, own_s, spilled = pool.apply(memory_per_spilled, (mod.__file__, n, tmp))
                print(f"{name:9} RSS {rss_s:6.1f} B/spilled   spill's own accounting {own_s:5.2f} B/spilled "
                      f"({spilled:,} spilled)")

    if "4" in args.sections:
        print(f"\n4. expire() with {n:,} pending predictions")
        for name, mod in modules:
            idle, busy, expired = expire_cost(mod, n)
            print(f"{name:9} nothing expires {idle * 1e3:9.3f} ms/call   1% expires {busy * 1e3:9.3f} ms/call "
                  f"({expired:,} expired in 20 calls)")


    if "5" in args.sections:
        total, live = 3 * n, n
        print(f"\n5. steady state: {total:,} predictions, expire() after each batch, {live:,} spilled at a time, "
              "memory limit 20,000 (second half)")
        for name, mod in modules:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                rate, worst, growth, spilled = pool.apply(steady_state, (mod.__file__, total, live))
            print(f"{name:9} {rate:10,.0f} predictions/s   slowest batch {worst * 1e3:6.1f} ms   RSS growth "
                  f"{growth / 2**20:6.1f} MB   ({spilled:,} spilled at the end)")


if __name__ == "__main__":
    main()
