"""Concept-drift detection: delay and false alarms of streamdrift.concept (ADWIN default) and alternatives.

Part 1: Bernoulli error streams stepping 0.2 -> 0.3 and 0.2 -> 0.4 after 10,000 records (detection delay), and
stationary 0.2 streams (false alarms per 1,000 records).
Part 2: river's synthetic concept streams (SEA variants, Agrawal functions, STAGGER functions), an abrupt drift
every 10,000 records (3 concepts a run) (concepts chained by hand: ConceptDriftStream with a tiny width overflows), a river
GaussianNB scored prequentially; the 0/1 error stream goes to the monitor. A signal within 3,000 records of a
change detects it; any other signal is a false alarm.

Run: .venv/bin/python benchmarks/bench_concept.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from river import naive_bayes
from river.datasets import synth

from streamdrift.monitors.model_quality.concept import ConceptDriftConfig, ConceptDriftMonitor

PRE = 10_000
SEGMENT = 10_000
HORIZON = 3_000


def _first_after(signals: list[int], change: int, horizon: int) -> int | None:
    hits = [s - change for s in signals if change <= s < change + horizon]
    return min(hits) if hits else None


def step_delays(cfg: ConceptDriftConfig, p1: float, runs: int) -> tuple[float, float, int]:
    delays, missed = [], 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        x = np.concatenate([rng.random(PRE) < 0.2, rng.random(HORIZON) < p1]).astype(np.float64)
        signals = [s.record for s in ConceptDriftMonitor(cfg).update(x)]
        d = _first_after(signals, PRE, HORIZON)
        if d is None:
            missed += 1
        else:
            delays.append(d)
    return (float(np.median(delays)) if delays else float("nan"),
            float(np.percentile(delays, 90)) if delays else float("nan"), missed)


def false_alarms(cfg: ConceptDriftConfig, runs: int, n: int) -> tuple[float, float]:
    total, t0 = 0, time.perf_counter()
    for seed in range(runs):
        x = (np.random.default_rng(10_000 + seed).random(n) < 0.2).astype(np.float64)
        total += len(ConceptDriftMonitor(cfg).update(x))
    elapsed = time.perf_counter() - t0
    return 1000.0 * total / (runs * n), runs * n / elapsed


def _concepts(name: str, seed: int) -> list[Any]:
    if name == "SEA":
        return [synth.SEA(variant=v, seed=seed) for v in (0, 2, 1)]
    if name == "Agrawal":
        return [synth.Agrawal(classification_function=f, seed=seed) for f in (0, 2, 5)]
    return [synth.STAGGER(classification_function=f, seed=seed) for f in (0, 1, 2)]


def _chain(streams: list[Any]) -> Iterator[tuple[dict[Any, Any], Any]]:
    for s in streams:
        yield from itertools.islice(iter(s), SEGMENT)


def prequential_errors(name: str, seed: int) -> np.ndarray:
    factory: Any = naive_bayes.GaussianNB
    model = factory()
    errors = []
    for x, y in _chain(_concepts(name, seed)):
        errors.append(float(model.predict_one(x) != y))
        model.learn_one(x, y)
    return np.asarray(errors, dtype=np.float64)


def synthetic(cfg: ConceptDriftConfig, streams: dict[str, list[np.ndarray]]) -> list[tuple[str, float, float, float]]:
    rows = []
    for name, runs in streams.items():
        detected, delays, false, n_changes, n_records = 0, [], 0, 0, 0
        for errors in runs:
            signals = [s.record for s in ConceptDriftMonitor(cfg).update(errors)]
            changes = list(range(SEGMENT, errors.size, SEGMENT))
            attributed = set()
            for c in changes:
                d = _first_after(signals, c, HORIZON)
                n_changes += 1
                if d is not None:
                    detected += 1
                    delays.append(d)
                    attributed.add(c + d)
            false += sum(1 for s in signals if s not in attributed)
            n_records += errors.size
        rows.append((name, detected / n_changes, float(np.mean(delays)) if delays else float("nan"),
                     1000.0 * false / n_records))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 5 if args.quick else 20
    fa_n = 20_000 if args.quick else 50_000
    detectors: list[tuple[str, ConceptDriftConfig]] = [
        ("adwin delta=0.01 (default)", ConceptDriftConfig()),
        ("adwin delta=0.002 (river)", ConceptDriftConfig(params={"delta": 0.002})),
        ("hddm_a (river defaults)", ConceptDriftConfig(detector="hddm_a")),
        ("page_hinkley (river defaults)", ConceptDriftConfig(detector="page_hinkley")),
    ]
    chosen: list[tuple[str, ConceptDriftConfig]] = detectors if not args.quick else detectors[:2]
    print(f"Error streams: {runs} runs, change after {PRE} records; false alarms over {runs} x {fa_n} records")
    print(f"{'detector':32} {'0.2->0.3 med/p90 (miss)':>26} {'0.2->0.4 med/p90 (miss)':>26} "
          f"{'FA/1k':>8} {'rec/s':>10}")
    for label, cfg in chosen:
        m3, p3, x3 = step_delays(cfg, 0.3, runs)
        m4, p4, x4 = step_delays(cfg, 0.4, runs)
        fa, speed = false_alarms(cfg, runs, fa_n)
        print(f"{label:32} {f'{m3:.0f}/{p3:.0f} ({x3})':>26} {f'{m4:.0f}/{p4:.0f} ({x4})':>26} "
              f"{fa:8.4f} {speed:10.0f}")
    t0 = time.perf_counter()
    streams = {name: [prequential_errors(name, seed) for seed in range(runs)]
               for name in ("SEA", "Agrawal", "STAGGER")}
    print(f"\nSynthetic streams ({runs} runs each, 2 abrupt drifts every {SEGMENT}, GaussianNB prequential; "
          f"generated in {time.perf_counter() - t0:.1f}s)")
    print(f"{'detector':32} {'stream':8} {'recall':>7} {'mean delay':>11} {'FA/1k':>8}")
    for label, cfg in chosen:
        for name, recall, delay, fa in synthetic(cfg, streams):
            print(f"{label:32} {name:8} {recall:7.2f} {delay:11.0f} {fa:8.3f}")


if __name__ == "__main__":
    main()
