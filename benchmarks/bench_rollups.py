"""Roll-up windows in the worker (``window.rollups``, docs/history.md), CPU only: what the control plane pays per
base window to merge it into its roll-up windows (the accumulator merged and written back to the table, as the
control plane does at every release), the cost of judging a roll-up window, and the roll-up state's size in the
table, each against judging a base window with the baseline, measured in the same run. Figures are printed as
soon as measured; nothing is asserted.

25 features (20 numeric, 5 categorical), window sketches at the worker's defaults (KLL k 1,000).

    cd benchmarks && ../.venv/bin/python bench_rollups.py [--records 1000] [--windows 60]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from bench_history import MINUTE_MS, columns, window

from streamdrift.baseline.baseline import build_baseline
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.monitors.registry import MonitorConfig, monitors_for
from streamdrift.window.rollupwindows import RollupWindows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000, help="records per base window")
    parser.add_argument("--windows", type=int, default=60, help="base windows per roll-up window (an hour of minutes)")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    baseline = build_baseline([columns(20_000, rng)], "bench")
    monitors = monitors_for(baseline, MonitorConfig())
    distinct = [window(0, args.records, rng) for _ in range(10)]
    n = args.windows
    windows = [replace(distinct[i % len(distinct)], window_start_ms=i * MINUTE_MS, window_end_ms=(i + 1) * MINUTE_MS)
               for i in range(2 * n)]
    judge = WindowJudge(Hysteresis(1, 1))
    started = time.perf_counter()
    for w in windows:
        judge.judge(w, monitors)
    base_ms = (time.perf_counter() - started) / len(windows) * 1000
    print(f"judge a base window, 25 features, {args.records:,} records: {base_ms:.1f} ms", flush=True)

    store: dict[str, bytes] = {}
    rollups = RollupWindows(store, [n * MINUTE_MS])
    released = []
    started = time.perf_counter()
    for w in windows:
        released += rollups.add(w)
    add_ms = (time.perf_counter() - started) / len(windows) * 1000
    print(f"merge a base window into its {n}-window roll-up and write it back: {add_ms:.1f} ms "
          f"(x{add_ms / base_ms:.2f} of judging it)", flush=True)
    size = max(len(v) for k, v in store.items() if k.startswith("r|"))
    print(f"a roll-up window's table value ({n} x {args.records:,} records): {size / 1e3:.0f} KB "
          f"(base window profile: {len(windows[0].profile.to_bytes()) / 1e3:.0f} KB)", flush=True)
    rollup_judge = WindowJudge(Hysteresis(1, 1), window_seconds=n * 60)
    started = time.perf_counter()
    for r in released:
        rollup_judge.judge(r, monitors)
    judge_ms = (time.perf_counter() - started) / len(released) * 1000
    print(f"judge a roll-up window of {released[0].n_records:,} records: {judge_ms:.1f} ms (x{judge_ms / base_ms:.2f} "
          f"of a base window; once per {n} base windows: +{judge_ms / n / base_ms * 100:.1f}% per base window)",
          flush=True)
    print(f"control plane per base window with one roll-up size: x{(base_ms + add_ms + judge_ms / n) / base_ms:.2f} "
          "of the baseline alone", flush=True)


if __name__ == "__main__":
    main()
