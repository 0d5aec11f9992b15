"""Bias-drift and attribution-drift detection rates and speed on generated data (fixed seeds).

Data: 4 standard-normal features, a binary string facet ("F" = sensitive group d, 40 % of rows) and a
logistic model: score = sigmoid(w.x + beta * is_F + b), prediction positive when score >= 0.5, label drawn
from the model's own probability. Attributions are the exact SHAP values of the linear logit, w_j * x_j.

Scenarios, ``--windows`` windows of ``--window-size`` records each, against a 200,000-record baseline:
  bias unchanged            no change: windows flagged (per metric and any metric)
  bias DPPL +0.1            beta shifted so that DPPL rises by 0.1: windows flagged on DPPL
  attribution unchanged     same weights: windows with NDCG < 0.9
  attribution top-2 swapped weights of the two most important features swapped: windows with NDCG < 0.9

Speed: records per second of the state updates (BiasState.update / AttributionState.update per window) and of
the window evaluations (bootstrap intervals), with a plain numpy bincount over the same rows as the reference.

Run: .venv/bin/python benchmarks/bench_bias_attribution.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from streamdrift.monitors.attribution import AttributionBaseline, AttributionState, evaluate_attribution
from streamdrift.monitors.bias import (
    ALL_METRICS,
    BiasBaseline,
    BiasConfig,
    BiasDriftConfig,
    BiasMetricResult,
    BiasState,
    FacetSpec,
    OutcomeSpec,
    evaluate_bias,
    metrics_from_counts,
)

T = TypeVar("T")
WEIGHTS = np.array([1.5, 0.8, 0.4, 0.2])
INTERCEPT = 0.0
BETA = -0.5
P_FACET = 0.4
FEATURES = ("f0", "f1", "f2", "f3")
CONFIG = BiasConfig((FacetSpec("group", values=("F",)),), OutcomeSpec(threshold=0.5), OutcomeSpec(values=(1,)))


@dataclass(frozen=True)
class Data:
    group: NDArray[np.str_]
    score: NDArray[np.float64]
    label: NDArray[np.float64]
    attributions: NDArray[np.float64]


def generate(rng: np.random.Generator, n: int, beta: float, weights: NDArray[np.float64]) -> Data:
    x = rng.standard_normal((n, WEIGHTS.size))
    is_f = rng.random(n) < P_FACET
    true_logit = x @ WEIGHTS + BETA * is_f + INTERCEPT
    model_logit = x @ weights + beta * is_f + INTERCEPT
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-true_logit))).astype(np.float64)
    return Data(np.where(is_f, "F", "M"), 1.0 / (1.0 + np.exp(-model_logit)), label, x * weights)


def dppl_of(beta: float) -> float:
    data = generate(np.random.default_rng(99), 400_000, beta, WEIGHTS)
    state = BiasState.empty(CONFIG)
    state.update({"group": data.group}, data.score, data.label)
    return float(metrics_from_counts(state.counts[0])["DPPL"])


def beta_for_dppl(target: float) -> float:
    """Bisection on the facet coefficient (DPPL falls as beta rises)."""
    lo, hi = -3.0, BETA
    for _ in range(30):
        mid = (lo + hi) / 2
        if dppl_of(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bias_windows(data: Data, n_windows: int, size: int) -> list[BiasState]:
    states = []
    for w in range(n_windows):
        sl = slice(w * size, (w + 1) * size)
        state = BiasState.empty(CONFIG)
        state.update({"group": data.group[sl]}, data.score[sl], data.label[sl])
        states.append(state)
    return states


def attribution_windows(data: Data, n_windows: int, size: int) -> list[AttributionState]:
    states = []
    for w in range(n_windows):
        state = AttributionState.empty(FEATURES)
        state.update(data.attributions[w * size : (w + 1) * size])
        states.append(state)
    return states


def reference(data: Data, n_windows: int, size: int) -> None:
    """Lower bound for counting: one bincount of a precomputed 0..11 cell code per window."""
    code = (data.group == "F").astype(np.intp) * 6 + (data.score >= 0.5) * 2 + (data.label == 1)
    for w in range(n_windows):
        np.bincount(code[w * size : (w + 1) * size], minlength=12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 windows instead of 500")
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument("--window-size", type=int, default=2000)
    args = parser.parse_args()
    n_windows = args.windows or (100 if args.quick else 500)
    size = args.window_size
    drift = BiasDriftConfig()

    base_data = generate(np.random.default_rng(0), 200_000, BETA, WEIGHTS)
    base_state = BiasState.empty(CONFIG)
    base_state.update({"group": base_data.group}, base_data.score, base_data.label)
    baseline = BiasBaseline.from_state(base_state, drift)
    base_dppl = baseline.facets[0].metrics["DPPL"].value
    shifted_beta = beta_for_dppl(dppl_of(BETA) + 0.1)
    attr_baseline = AttributionBaseline.from_array(base_data.attributions, FEATURES)

    quiet = generate(np.random.default_rng(1), n_windows * size, BETA, WEIGHTS)
    loud = generate(np.random.default_rng(2), n_windows * size, shifted_beta, WEIGHTS)
    swapped = generate(np.random.default_rng(3), n_windows * size, BETA, WEIGHTS[[1, 0, 2, 3]])

    _, t_ref = timed(lambda: reference(quiet, n_windows, size))
    quiet_states, t_update = timed(lambda: bias_windows(quiet, n_windows, size))
    loud_states = bias_windows(loud, n_windows, size)
    quiet_results, t_eval = timed(lambda: [evaluate_bias(s, baseline, drift) for s in quiet_states])
    loud_results = [evaluate_bias(s, baseline, drift) for s in loud_states]
    drift_all = BiasDriftConfig(metrics=ALL_METRICS)
    quiet_all = [evaluate_bias(s, baseline, drift_all) for s in quiet_states]
    attr_quiet, t_attr = timed(lambda: attribution_windows(quiet, n_windows, size))
    attr_swapped = attribution_windows(swapped, n_windows, size)
    ndcg_quiet = [evaluate_attribution(s, attr_baseline) for s in attr_quiet]
    ndcg_swapped = [evaluate_attribution(s, attr_baseline) for s in attr_swapped]

    def rate(flags: list[bool]) -> str:
        return f"{100.0 * sum(flags) / len(flags):6.2f} %"

    def flagged(results: list[list[BiasMetricResult]], metric: str | None) -> list[bool]:
        return [any(r.drifted and (metric is None or r.metric == metric) for r in rs)
                for rs in results]

    flagged_all = flagged
    loud_dppl = np.mean([r.value for rs in loud_results for r in rs if r.metric == "DPPL"])
    print(f"windows: {n_windows} x {size} records; baseline 200,000 records; facet share {P_FACET:.0%}")
    print(f"baseline DPPL {base_dppl:.4f}; shifted windows' mean DPPL {loud_dppl:.4f} (beta {BETA} -> "
          f"{shifted_beta:.3f}); rule: {drift.confidence:.0%} {drift.interval} bootstrap CI ({drift.n_bootstrap} reps) outside "
          f"baseline +- max({drift.min_tolerance}, hypot(h_w, h_b) - h_w)")
    print()
    print(f"{'scenario':<34}{'windows flagged':>16}   goal")
    print(f"{'bias unchanged, DPPL':<34}{rate(flagged(quiet_results, 'DPPL')):>16}   <= 1 %")
    print(f"{'bias unchanged, any judged metric':<34}{rate(flagged(quiet_results, None)):>16}   <= 1 %  "
          f"(judged by default: {', '.join(drift.metrics)})")
    print(f"{'bias unchanged, any of 12 metrics':<34}{rate(flagged_all(quiet_all, None)):>16}   "
          "(all judged: BiasDriftConfig(metrics=ALL_METRICS))")
    print(f"{'bias DPPL +0.1, DPPL':<34}{rate(flagged(loud_results, 'DPPL')):>16}   >= 95 %")
    print(f"{'attribution unchanged':<34}{rate([r.drifted for r in ndcg_quiet]):>16}   <= 1 %")
    print(f"{'attribution top-2 swapped':<34}{rate([r.drifted for r in ndcg_swapped]):>16}   >= 95 %")
    q = [r.ndcg for r in ndcg_quiet if r.ndcg is not None]
    s = [r.ndcg for r in ndcg_swapped if r.ndcg is not None]
    print(f"NDCG: unchanged min {min(q):.4f}, swapped max {max(s):.4f} (threshold 0.9)")
    print()
    print("false alarms per metric (bias unchanged): " + ", ".join(
        f"{m} {100.0 * sum(flagged(quiet_all, m)) / n_windows:.1f}%" for m in ALL_METRICS))
    print()
    n_rec = n_windows * size
    print(f"{'step':<40}{'seconds':>9}{'records/s':>14}{'x reference':>13}")
    for name, t in (("reference: numpy bincount of cell codes", t_ref), ("BiasState.update (string facet)", t_update),
                    ("evaluate_bias (12 metrics, bootstrap)", t_eval), ("AttributionState.update (4 features)", t_attr)):
        print(f"{name:<40}{t:9.3f}{n_rec / t:14,.0f}{t / t_ref:13.1f}")


if __name__ == "__main__":
    main()
