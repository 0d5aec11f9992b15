"""References and drift over time (docs/history.md), CPU only: the judge's time per window with the baseline
alone and with a rolling reference of the last N windows plus the previous window (ratio against the baseline
alone, measured in the same run), the drift-over-time summaries' memory (the control plane's ring of
``history.report_windows``), and the time to render the drift-over-time section. Figures are printed as soon as
measured; nothing is asserted.

25 features (20 numeric, 5 categorical), window sketches at the worker's defaults (KLL k 1,000).

    .venv/bin/python benchmarks/bench_references.py [--records 1000] [--rolling 60] [--windows 120]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from dataclasses import replace

import numpy as np
from bench_history import MINUTE_MS, columns, window

from streamdrift.baseline.baseline import build_baseline
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.monitors.reference import ReferenceConfig, ReferenceWindows
from streamdrift.monitors.registry import MonitorConfig, monitors_for
from streamdrift.report.timecharts import drift_over_time_section
from streamdrift.report.timeseries import FeaturePoint, WindowSummary, summarize


def judge_per_window(n_windows: int, records: int, rolling: int, rng: np.random.Generator) -> list[WindowSummary]:
    baseline = build_baseline([columns(20_000, rng)], "bench")
    monitors = monitors_for(baseline, MonitorConfig())
    distinct = [window(0, records, rng) for _ in range(10)]
    windows = [distinct[i % len(distinct)] for i in range(n_windows)]
    timings: dict[str, float] = {}
    summaries: list[WindowSummary] = []
    for name, refs in (("baseline only", None),
                       (f"+ rolling {rolling} + previous", ReferenceConfig(rolling, True))):
        judge = WindowJudge(Hysteresis(1, 1), ReferenceWindows(refs) if refs else None)
        warm = min(rolling, n_windows // 2) if refs else 0  # the references fill first
        started = 0.0
        for i, w in enumerate(windows):
            if i == warm:
                started = time.perf_counter()
            start = i * MINUTE_MS
            judged = judge.judge(replace(w, window_start_ms=start, window_end_ms=start + MINUTE_MS), monitors)
            if refs is None and judged.evaluation is not None:
                summaries.append(summarize(start, start + MINUTE_MS, f"{start}", w.n_records, judged.evaluation,
                                           judged.events))
        per = (time.perf_counter() - started) / (n_windows - warm) * 1000
        timings[name] = per
        ratio = f" (x{per / timings['baseline only']:.1f} of the baseline alone)" if refs else ""
        print(f"judge a window, 25 features, {records:,} records, {name}: {per:.1f} ms{ratio}", flush=True)
    return summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000, help="records per window")
    parser.add_argument("--rolling", type=int, default=60, help="windows in the rolling reference")
    parser.add_argument("--windows", type=int, default=120, help="windows judged (after the references filled)")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    summaries = judge_per_window(args.windows + args.rolling, args.records, args.rolling, rng)
    tracemalloc.start()
    # fresh objects, as the control plane makes them window by window
    ring = [WindowSummary(s.start_ms, s.end_ms, f"2026-01-01T00:00:{i % 60:02d}Z", s.n_records,
                          {k: FeaturePoint(p.statistic, p.value + 0.0, p.threshold + 0.0, p.drifted)
                           for k, p in s.features.items()})
            for i, s in enumerate((summaries * (288 // len(summaries) + 1))[:288])]
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"drift-over-time ring, 288 windows x 25 features: {size / 1e6:.2f} MB "
          f"({size / 288 / 25:.0f} bytes per feature and window)", flush=True)
    for n in (288, 43_200):
        many = (ring * (n // len(ring) + 1))[:n]
        many = [WindowSummary(i * MINUTE_MS, (i + 1) * MINUTE_MS, s.label, s.n_records, s.features)
                for i, s in enumerate(many)]
        started = time.perf_counter()
        html = drift_over_time_section(many)
        print(f"drift-over-time section of {n:,} windows x 25 features: {time.perf_counter() - started:.2f} s, "
              f"{len(html) / 1e6:.2f} MB of HTML", flush=True)


if __name__ == "__main__":
    main()
