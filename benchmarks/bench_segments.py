"""Segments: false alarms, power and cost of drift per slice of traffic (20 segments), on bench_detection's data.

bench_detection's 23 features (its baseline seed 2026, 100k baseline records, its window seeds 100 + size index,
window sizes 1k / 5k / 20k) plus a ``segment`` column of 20 values of equal share (5% each). Windows go through
the production path: the model's data-stage monitors (``monitors_for``: the whole's data-quality monitor and the
segments monitor) update on a window's rows and judge them.

(a) false alarms: unchanged windows with any violation (the whole's drift and data-quality checks, every
    segment's drift tests) and with any drift alarm; target <= 1% (alpha = 0.01 split: the whole alpha/2, the
    segments alpha/2 by Bonferroni, Holm within each);
(b) power: ``normal_0`` shifted by 0.5 sd in one segment only (5% of the traffic), 20k-record windows: share of
    windows whose segment test catches it (target >= 95%), and share caught by the whole-traffic test alone (a
    baseline without segments: the whole at the full alpha);
(c) cost: records/s of the data plane's work per poll (parse JSON capture records, ``PartitionPipeline``
    add + flush with the partials encoded, a commit every 200k records as under full load) with 20 segments
    against the same run without segments (target >= 70%); also without the parse;
(d) memory: the bound of a window's segment state, its serialized bytes, and the RSS growth of holding open
    windows with and without segments.

Run: ``.venv/bin/python benchmarks/bench_segments.py [--quick] [--windows N] [--only power|false-alarms|cost|memory]``
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import gc
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.queues import Queue

import numpy as np
from bench_detection import ALPHA, BASELINE_ROWS, SIZES, TARGET, TARGET_SIGMA, generate, to_column
from bench_worker import rss_mb

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Column, Columns
from streamdrift.ingest.records import encode_capture_record, parse_capture
from streamdrift.monitors.base import Rows
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig
from streamdrift.monitors.registry import ModelMonitors, MonitorConfig, monitors_for
from streamdrift.monitors.segments.section import SegmentProfiler
from streamdrift.monitors.segments.spec import SegmentSpec
from streamdrift.profile.profiles import ProfileParams
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.window.windows import WindowSpec

N_SEGMENTS = 20
SHIFTED = "s07"
WINDOW_K = 1000
SEGMENT = "segment"
COMMIT_POLLS = 40  # the data plane under full load commits every commit_max_records (200k) records


def _segments(rng: np.random.Generator, n: int) -> Column:
    names = np.array([f"s{i:02d}" for i in range(N_SEGMENTS)], dtype=object)
    values = names[rng.integers(0, N_SEGMENTS, n)]
    return Column(np.full(n, np.nan), np.full(n, 3, dtype=np.uint8), values)


def _columns(rng: np.random.Generator, n: int, shift_sd: float = 0.0) -> Columns:
    data = generate(rng, n)
    segment = _segments(rng, n)
    if shift_sd:
        data[TARGET] = np.where(segment.strings == SHIFTED, data[TARGET] + shift_sd * TARGET_SIGMA, data[TARGET])
    return Columns(n, {**{k: to_column(k, v) for k, v in data.items()}, SEGMENT: segment})


def _batch(columns: Columns) -> CaptureBatch:
    n = columns.n_rows
    return CaptureBatch("m", None, np.zeros(n, dtype=np.int64), np.full(n, None, dtype=object), columns, None, None,
                        None, np.arange(n, dtype=np.int64))


def _judge(monitors: ModelMonitors, columns: Columns) -> dict[str, list[tuple[str | None, str, str]]]:
    rows = Rows(_batch(columns))
    out = {}
    for monitor in monitors.data:
        state = monitor.new_state()
        monitor.update(state, rows)
        out[monitor.name] = [(v.segment, v.check, v.subject) for v in monitor.judge(state).violations]
    return out


def _baselines() -> tuple[Baseline, Baseline]:
    columns = _columns(np.random.default_rng(2026), BASELINE_ROWS)
    profiler = SegmentProfiler(SegmentSpec.parse(SEGMENT), ProfileParams(kll_k=2048))
    with_segments = build_baseline(iter([columns]), "m", segments=profiler)
    return with_segments, Baseline.from_dict({**with_segments.to_dict(), "segments": None})


def _false_alarms(monitors: ModelMonitors, windows: int) -> None:
    print("(a) false alarms, unchanged data, 20 segments (target: windows with any violation <= 1%)")
    for i, size in enumerate(SIZES):
        rng = np.random.default_rng(100 + i)
        t0 = time.perf_counter()
        any_violation = any_drift = any_segment = shown = 0
        for _ in range(windows):
            found = _judge(monitors, _columns(rng, size))
            flat = [v for vs in found.values() for v in vs]
            any_violation += bool(flat)
            any_drift += any(check == "baseline_drift_check" for _, check, _ in flat)
            any_segment += bool(found.get("segments"))
            if flat and shown < 3:  # the first few, to see what raises
                shown += 1
                print(f"      false alarm: {flat[:4]}", flush=True)
        print(f"    {size:>6} records: any violation {any_violation / windows:6.2%}  any drift "
              f"{any_drift / windows:6.2%}  any segment alarm {any_segment / windows:6.2%}  ({windows} windows, "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)


def _power(monitors: ModelMonitors, whole_only: ModelMonitors, windows: int) -> None:
    print(f"(b) power: {TARGET} + 0.5 sd in segment {SHIFTED} only (5% of the traffic), 20k-record windows "
          "(target >= 95%)")
    rng = np.random.default_rng(100 + SIZES.index(20_000))
    seg = whole = whole_alone = wrong = 0
    for _ in range(windows):
        columns = _columns(rng, 20_000, shift_sd=0.5)
        found = _judge(monitors, columns)
        seg += (SHIFTED, "baseline_drift_check", TARGET) in set(found.get("segments", []))
        wrong += any(s != SHIFTED for s, _, _ in found.get("segments", []))
        whole += any(k == TARGET for _, _, k in found.get("data_quality", []))
        alone = _judge(whole_only, columns)
        whole_alone += any(k == TARGET for _, _, k in alone.get("data_quality", []))
    print(f"    caught in its segment: {seg / windows:6.2%}   whole-traffic test alone (no segments, alpha "
          f"{ALPHA}): {whole_alone / windows:6.2%}   the whole beside segments (alpha {ALPHA / 2}): "
          f"{whole / windows:6.2%}   windows with an alarm in another segment: {wrong / windows:6.2%}  "
          f"({windows} windows)", flush=True)


def _records(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    data = generate(rng, n)
    segment = _segments(rng, n).strings
    assert segment is not None
    t0 = 1_700_000_000_000
    names = list(data)
    cols = [np.asarray(data[k]).tolist() for k in names]
    return [encode_capture_record("m", features={**{k: c[i] for k, c in zip(names, cols, strict=True)},
                                                 SEGMENT: segment[i]},
                                  inference_id=f"r{i}", timestamp_ms=t0 + i, prediction={"label": 0})
            for i in range(n)]


def _throughput(monitors: ModelMonitors, polls: list[list[bytes]], *, parse: bool) -> tuple[float, float]:
    """Records per second of wall time and per second of this process's CPU time (the data plane is one thread;
    CPU time does not count the time other processes on the machine hold the cores)."""
    batches = [parse_capture(p)[0] for p in polls]
    pipeline = PartitionPipeline(WindowSpec(3_600_000), "capture", 0, lambda _m: monitors)
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    n = 0
    for i, poll in enumerate(polls):
        parsed = parse_capture(poll)[0] if parse else batches[i]
        pipeline.add_captures(parsed)
        n += sum(b.n_rows for b in parsed)
        if i % COMMIT_POLLS == COMMIT_POLLS - 1:  # a commit: the deltas encoded
            pipeline.flush(i).encoded_deltas()
    pipeline.flush(len(polls)).encoded_deltas()
    return n / (time.perf_counter() - started), n / (time.process_time() - cpu)


def _cost(monitors: ModelMonitors, whole_only: ModelMonitors, quick: bool) -> None:
    print("(c) cost: data-plane records/s with 20 segments vs without (target >= 70%), polls of 5000 records, "
          f"a commit every {COMMIT_POLLS} polls (commit_max_records, 200k)")
    n_polls = COMMIT_POLLS if quick else 2 * COMMIT_POLLS
    records = _records(5_000 * n_polls, 7)
    polls = [records[i:i + 5_000] for i in range(0, len(records), 5_000)]
    for parse in (True, False):
        base: list[tuple[float, float]] = []
        seg: list[tuple[float, float]] = []
        for _ in range(3):  # alternate, medians
            base.append(_throughput(whole_only, polls, parse=parse))
            seg.append(_throughput(monitors, polls, parse=parse))
        what = "parse + windows + flush" if parse else "windows + flush (parsed polls)"
        for i, clock in enumerate(("wall", "CPU")):
            b, s = float(np.median([x[i] for x in base])), float(np.median([x[i] for x in seg]))
            passes = ", ".join(f"{y[i] / x[i]:.0%}" for x, y in zip(base, seg, strict=True))
            print(f"    {what} ({clock} time): without segments {b:,.0f} records/s, with 20 segments {s:,.0f} "
                  f"records/s: {s / b:.0%}  (passes: {passes})", flush=True)


def _hold(mons: ModelMonitors, n_windows: int, out: Queue[tuple[float, float]]) -> None:
    """In a forked child (fresh pages: the RSS it adds is what the states take): hold ``n_windows`` windows'
    states of 20k records each."""
    gc.collect()
    before = rss_mb()
    held = []
    size = 0
    for w in range(n_windows):
        rows = Rows(_batch(_columns(np.random.default_rng(500 + w), 20_000)))
        states = {m.name: m.new_state() for m in mons.data}
        for m in mons.data:
            m.update(states[m.name], rows)
        size += sum(len(m.write_state(states[m.name])) for m in mons.data)  # settles the pending rows too
        held.append(states)
        del rows
    gc.collect()
    out.put((rss_mb() - before, size / n_windows))


def _memory(monitors: ModelMonitors, whole_only: ModelMonitors, quick: bool) -> None:
    n_windows = 5 if quick else 20
    print(f"(d) memory: {n_windows} open windows of 20k records held (one partition), RSS growth in a forked child")
    ctx = multiprocessing.get_context("fork")
    for name, mons in (("without segments", whole_only), ("with 20 segments", monitors)):
        queue: Queue[tuple[float, float]] = ctx.Queue()
        child = ctx.Process(target=_hold, args=(mons, n_windows, queue))
        child.start()
        growth, size = queue.get()
        child.join()
        print(f"    {name}: RSS +{growth:.1f} MB ({growth / n_windows:.2f} MB per window), serialized states "
              f"{size / 1e6:.2f} MB per window", flush=True)
    n_features = 23
    print(f"    bound: a window holds at most max_values (50) + 1 segment profiles of the baseline's features "
          f"({n_features} here), each feature's sketches bounded by the KLL k ({WINDOW_K}: <= ~3k retained "
          f"values, ~25 KB) and the frequent-items size: <= 51 x {n_features} x ~30 KB = "
          f"{51 * n_features * 30 / 1024:.0f} MB per (model, open window, partition) whatever the traffic, plus "
          "at most 65,536 pending rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer windows (50 per size, 50 shifted)")
    parser.add_argument("--windows", type=int, default=None, help="unchanged windows per size (default 200)")
    parser.add_argument("--only", choices=("power", "false-alarms", "cost", "memory"), default=None)
    args = parser.parse_args()
    windows = args.windows or (50 if args.quick else 200)
    started = time.perf_counter()
    with_segments, plain = _baselines()
    config = MonitorConfig(evaluation=EvaluationConfig(secondary_statistics=False, alpha=ALPHA),
                           profile=ProfileParams(kll_k=WINDOW_K))
    monitors = monitors_for(with_segments, config)
    whole_only = monitors_for(plain, config)
    only_data: Callable[[ModelMonitors], ModelMonitors] = lambda m: ModelMonitors(  # noqa: E731
        m.baseline, tuple(x for x in m.monitors if x.name in ("data_quality", "segments")))
    monitors, whole_only = only_data(monitors), only_data(whole_only)
    print(f"baseline {BASELINE_ROWS} records, 23 features + {SEGMENT} ({N_SEGMENTS} values of 5% each); window KLL "
          f"k {WINDOW_K}; alpha {ALPHA}")
    if args.only in (None, "memory"):
        _memory(monitors, whole_only, args.quick)
    if args.only in (None, "power"):
        _power(monitors, whole_only, windows)
    if args.only in (None, "false-alarms"):
        _false_alarms(monitors, windows)
    if args.only in (None, "cost"):
        _cost(monitors, whole_only, args.quick)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
