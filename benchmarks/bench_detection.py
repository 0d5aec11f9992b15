"""Drift detection quality of streamdrift's calibrated sketch test vs exact KS on raw values.

Baseline: 100k records, 20 numeric features (4 each: normal, lognormal, uniform, integer-valued, bimodal) and
3 categorical ones. Windows of 1k / 5k / 20k records (fresh samples, fixed seeds):

(a) no drift: share of windows with any violation (drift or data quality) at the defaults, and with any drift
    alarm under exact KS on the raw values (same alpha, same Holm correction over the same 23 tests);
(b) feature ``normal_0`` shifted by 0.1 / 0.25 / 0.5 sigma or scaled by 1.2: detection rate of streamdrift
    (effect-size floor 0 and the default 0.05) and of exact KS (floor 0);
(c) 5% of ``cat_0`` values replaced by a category never seen in the baseline: drift detection (floor 0 and the
    categorical default 0.03) and any violation on the feature (drift or categorical_values_check);
(d) SageMaker Simple (L-inf > 0.1) and Robust (L-inf - 1.8 sqrt((n+m)/nm) > 0.1) on the same windows;
(e) median CPU time of evaluate() for one 23-feature window (default config, prepared baseline);
(f) serialized bytes and retained items of one window KLL sketch, and of one baseline KLL sketch;
(g) categorical features with 50, 500 and 5,000 categories (Zipf shares), their own 200k-record baseline and
    20k-record windows profiled as the worker does: false alarms over unchanged windows, detection of a 5-point
    share move of one mid-ranked category and of 10% of the rows moved into 5 unseen values, with 95% bounds
    against issue 20's goals (``detection_categorical.py`` says how).

The baseline is profiled with KLL k = ``--baseline-k`` and the windows with ``--window-k`` (the baseline is built
once and stored once, windows are held per model x feature x open window in the stream worker).

Exact KS: the two-sample statistic from the sorted raw values (checked against ``scipy.stats.ks_2samp`` at start;
``ks_2samp`` itself re-sorts the 100k baseline on every call, too slow for 15,000 windows), with the same
p-value function as streamdrift (Stephens-corrected Kolmogorov distribution, within a few percent of
``scipy.stats.kstwo``; see test_stattests), so the two columns differ only by sketching; categorical features
use the chi-square test on exact counts. A scenario changes one feature: it is re-profiled and evaluated alone,
and Holm runs over its p-value and the 22 unchanged features' raw p-values from the full-window evaluation.

Run: ``.venv/bin/python benchmarks/bench_detection.py [--quick] [--windows N] [--baseline-k K] [--window-k K]
[--cat-windows N M] [--only numeric|categorical]`` (``--kll-k K`` sets both k; ``--cat-windows``: unchanged and
shifted windows of the categorical rows, default 500 and 100, --quick 100 and 50).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import datasketches as ds
import detection_categorical  # benchmarks/ (the script's directory) is on sys.path
import numpy as np
from numpy.typing import NDArray
from scipy import stats

from streamdrift.baseline.baseline import DEFAULT_BASELINE_KLL_K, Baseline, suggest_constraints
from streamdrift.columns.columns import Column, Columns, Kind, classify_numbers
from streamdrift.monitors.data_quality import stattests
from streamdrift.monitors.data_quality.evaluation import (
    EvaluationConfig,
    PreparedBaseline,
    WindowEvaluation,
    evaluate,
    prepare,
)
from streamdrift.profile.profiles import DatasetProfile, ProfileParams

BASELINE_ROWS = 100_000
SIZES = (1_000, 5_000, 20_000)
ALPHA = 0.01
TARGET = "normal_0"
TARGET_SIGMA = 2.0
NEW_CATEGORY_SHARE = 0.05
SAGEMAKER_THRESHOLD = 0.1
TIMED_WINDOWS = 25
CATEGORY_COUNTS = (5, 12, 40)
DEFAULT_WINDOW_K = 1000  # recommended settings.profile.kll_k (see docs/evaluation.md)

Data = dict[str, NDArray[np.float64] | NDArray[np.int64]]


# ------------------------------------------------------------------------------------------------ data


def generate(rng: np.random.Generator, n: int) -> Data:
    """One sample of n records (vectorized)."""
    out: Data = {}
    for i in range(4):
        out[f"normal_{i}"] = rng.normal(10.0 * i, TARGET_SIGMA if i == 0 else 1.0 + i, n)
        out[f"lognormal_{i}"] = rng.lognormal(0.5 * i, 0.4 + 0.2 * i, n)
        out[f"uniform_{i}"] = rng.uniform(-i, 5.0 + i, n)
        out[f"integer_{i}"] = (rng.poisson(2.0 + 5 * i, n) if i % 2 == 0 else rng.binomial(20 + 10 * i, 0.3, n)).astype(
            np.float64)
        modes = rng.uniform(size=n) < 0.35
        out[f"bimodal_{i}"] = np.where(modes, rng.normal(-3.0 - i, 1.0, n), rng.normal(3.0 + i, 1.5, n))
    for j, k in enumerate(CATEGORY_COUNTS):
        weights = 1.0 / np.arange(1, k + 1) ** 0.8
        out[f"cat_{j}"] = np.searchsorted(np.cumsum(weights / weights.sum()), rng.uniform(size=n)).clip(0, k - 1)
    return out


def _labels(k: int) -> NDArray[np.object_]:
    return np.array([f"c{i:02d}" for i in range(k)] + ["NEW"], dtype=object)


def to_column(name: str, values: NDArray[np.float64] | NDArray[np.int64]) -> Column:
    if name.startswith("cat_"):
        labels = _labels(CATEGORY_COUNTS[int(name[4:])])
        n = values.size
        return Column(np.full(n, np.nan), np.full(n, Kind.STRING, dtype=np.uint8), labels[values])
    numbers, kinds = classify_numbers(np.asarray(values, dtype=np.float64))
    return Column(numbers, kinds, None)


def profile_of(data: Data, params: ProfileParams) -> DatasetProfile:
    n = next(iter(data.values())).size
    profile = DatasetProfile.empty(params)
    profile.update(Columns(n, {name: to_column(name, v) for name, v in data.items()}))
    return profile


# ------------------------------------------------------------------------------------------------ exact KS


def exact_ks_distance(window: NDArray[np.float64], base_sorted: NDArray[np.float64]) -> float:
    """Two-sample KS statistic on raw values (ties handled: right- and left-limits at every window value)."""
    w = np.sort(window)
    n, m = w.size, base_sorted.size
    fb_right = np.searchsorted(base_sorted, w, side="right") / m
    fb_left = np.searchsorted(base_sorted, w, side="left") / m
    fw_right = np.searchsorted(w, w, side="right") / n
    fw_left = np.searchsorted(w, w, side="left") / n
    return float(max(np.max(np.abs(fw_right - fb_right)), np.max(np.abs(fw_left - fb_left))))


@dataclass
class ExactReference:
    base_sorted: dict[str, NDArray[np.float64]]
    base_counts: dict[str, dict[str, float]]

    @classmethod
    def of(cls, data: Data) -> ExactReference:
        numeric = {k: np.sort(np.asarray(v, dtype=np.float64)) for k, v in data.items() if not k.startswith("cat_")}
        cats = {k: _counts(k, np.asarray(v)) for k, v in data.items() if k.startswith("cat_")}
        return cls(numeric, cats)

    def pvalues(self, data: Data) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, values in data.items():
            if name.startswith("cat_"):
                out[name] = stattests.chi_square_homogeneity(_counts(name, np.asarray(values)),
                                                             self.base_counts[name]).p_value
                continue
            base = self.base_sorted[name]
            d = exact_ks_distance(np.asarray(values, dtype=np.float64), base)
            n = int(np.asarray(values).size)
            out[name] = float(stattests.ks_pvalue(d, n, base.size))
        return out


def _counts(name: str, codes: NDArray[np.int64]) -> dict[str, float]:
    labels = _labels(CATEGORY_COUNTS[int(name[4:])])
    counts = np.bincount(codes, minlength=labels.size)
    return {str(labels[i]): float(c) for i, c in enumerate(counts) if c}


def holm_detects(pvalues: dict[str, float], feature: str) -> bool:
    names = sorted(pvalues)
    adjusted = stattests.adjust_pvalues(np.array([pvalues[k] for k in names]), "holm")
    return bool(adjusted[names.index(feature)] <= ALPHA)


def holm_any(pvalues: dict[str, float]) -> bool:
    return bool(np.any(stattests.adjust_pvalues(np.array(list(pvalues.values())), "holm") <= ALPHA))


# ------------------------------------------------------------------------------------------------ scenarios


def shift(sigmas: float) -> Callable[[Data], tuple[str, NDArray[np.float64]]]:
    return lambda d: (TARGET, np.asarray(d[TARGET], dtype=np.float64) + sigmas * TARGET_SIGMA)


def scale(factor: float) -> Callable[[Data], tuple[str, NDArray[np.float64]]]:
    """Spread around the mean (0 for the target) times ``factor``."""
    return lambda d: (TARGET, np.asarray(d[TARGET], dtype=np.float64) * factor)


def new_category(rng: np.random.Generator) -> Callable[[Data], tuple[str, NDArray[np.int64]]]:
    def apply(d: Data) -> tuple[str, NDArray[np.int64]]:
        codes = np.asarray(d["cat_0"], dtype=np.int64).copy()
        codes[rng.uniform(size=codes.size) < NEW_CATEGORY_SHARE] = CATEGORY_COUNTS[0]  # the "NEW" label
        return "cat_0", codes
    return apply


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    n: int = 0

    def add(self, **flags: bool) -> None:
        self.n += 1
        for key, flag in flags.items():
            self.counts[key] = self.counts.get(key, 0) + int(flag)

    def pct(self, key: str) -> float:
        return 100.0 * self.counts.get(key, 0) / max(self.n, 1)


def _sagemaker_flags(linf: float, n: int, m: int) -> dict[str, bool]:
    return {"simple": linf > SAGEMAKER_THRESHOLD,
            "robust": stattests.sagemaker_robust_distance(linf, n, m) > SAGEMAKER_THRESHOLD}


def _scenario_flags(null_ev: WindowEvaluation, single_ev: WindowEvaluation, feature: str) -> dict[str, bool]:
    """Drift flags of ``feature`` re-evaluated alone (``single_ev``), Holm-corrected together with the raw
    p-values of the window's 22 unchanged features from ``null_ev`` (what evaluate() does on the full window)."""
    r = single_ev.result_for(feature)
    if r is None:
        return {"sig": False, "floor": False, "simple": False, "robust": False}
    raw = {x.feature: x.secondary["p_raw"] for x in null_ev.results}
    raw[feature] = r.secondary["p_raw"]
    names = sorted(raw)
    adjusted = stattests.adjust_pvalues(np.array([raw[k] for k in names]), "holm")
    significant = bool(adjusted[names.index(feature)] <= ALPHA)
    return {"sig": significant, "floor": significant and r.value > EvaluationConfig().threshold(r.kind, r.statistic),
            **_sagemaker_flags(r.secondary["linf"], r.n_window, r.n_baseline)}


@dataclass
class SizeResult:
    tallies: dict[str, Tally]
    timings: list[float]  # evaluate() CPU seconds, default config
    sketch_bytes: float  # mean serialized bytes of one window KLL sketch (numeric features, first window)
    sketch_retained: float  # mean retained items of those sketches


@dataclass(frozen=True)
class RunConfig:
    window_params: ProfileParams
    rank_error_scale: float


def _sketch_size(profile: DatasetProfile) -> tuple[float, float]:
    klls = [fp.numeric.kll for fp in profile.features.values() if fp.numeric.count > 0]
    return (float(np.mean([len(k.to_bytes()) for k in klls])), float(np.mean([k.num_retained for k in klls])))


def run_size(size: int, windows: int, seed: int, prepared: PreparedBaseline, ref: ExactReference,
             run: RunConfig) -> SizeResult:
    rng = np.random.default_rng(seed)
    params = run.window_params
    bulk = EvaluationConfig(secondary_statistics=False, rank_error_scale=run.rank_error_scale)
    scenarios: dict[str, Callable[[Data], tuple[str, NDArray[np.float64] | NDArray[np.int64]]]] = {
        "shift 0.1 sd": shift(0.1), "shift 0.25 sd": shift(0.25), "shift 0.5 sd": shift(0.5),
        "scale x1.2": scale(1.2), "new category 5%": new_category(rng),
    }
    tallies = {name: Tally() for name in ["no drift", *scenarios]}
    timings: list[float] = []
    sizes = (0.0, 0.0)
    for w in range(windows):
        data = generate(rng, size)
        null_profile = profile_of(data, params)
        null_ev = evaluate(null_profile, prepared, bulk)
        null_p = ref.pvalues(data)
        sm = [_sagemaker_flags(r.secondary["linf"], r.n_window, r.n_baseline) for r in null_ev.results]
        tallies["no drift"].add(any_violation=bool(null_ev.violations), drift=bool(null_ev.drifted),
                                exact=holm_any(null_p), simple=any(f["simple"] for f in sm),
                                robust=any(f["robust"] for f in sm))
        if w < TIMED_WINDOWS:
            started = time.process_time()
            evaluate(null_profile, prepared, EvaluationConfig(rank_error_scale=run.rank_error_scale))
            timings.append(time.process_time() - started)
        if w == 0:
            sizes = _sketch_size(null_profile)
        for name, scenario in scenarios.items():
            feature, values = scenario(data)
            single_ev = evaluate(profile_of({feature: values}, params), prepared, bulk)
            p = dict(null_p)
            p.update(ref.pvalues({feature: values}))
            flags = _scenario_flags(null_ev, single_ev, feature)
            # the single-feature evaluation's own drift verdict is uncorrected: use the Holm-corrected one
            other = any(v.feature == feature and v.check != "baseline_drift_check" for v in single_ev.violations)
            tallies[name].add(exact=holm_detects(p, feature), any_on_feature=flags["floor"] or other, **flags)
    return SizeResult(tallies, timings, *sizes)


# ------------------------------------------------------------------------------------------------ report


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 windows per size instead of 1000")
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument("--baseline-k", type=int, default=DEFAULT_BASELINE_KLL_K,
                        help="KLL k of the baseline profile (default: build_baseline's)")
    parser.add_argument("--window-k", type=int, default=DEFAULT_WINDOW_K, help="KLL k of the window profiles")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="window sizes (records)")
    parser.add_argument("--kll-k", type=int, default=None, help="one k for baseline and windows (overrides both)")
    parser.add_argument("--rank-error-scale", type=float, default=1.0,
                        help="EvaluationConfig.rank_error_scale (1.0 = the 99%% bound, the default)")
    parser.add_argument("--cat-windows", type=int, nargs=2, default=None, metavar=("UNCHANGED", "SHIFTED"),
                        help="windows of the categorical rows (g): unchanged, and per shift (default 500 100; "
                             "--quick 100 50)")
    parser.add_argument("--only", choices=("numeric", "categorical"), default=None,
                        help="run only the numeric rows (a)-(f) or only the categorical rows (g)")
    args = parser.parse_args()
    if args.kll_k is not None:
        args.baseline_k = args.window_k = args.kll_k
    return args


def main() -> None:
    args = _parse_args()
    started = time.perf_counter()
    if args.only != "categorical":
        _numeric(args)
    if args.only != "numeric":
        print()
        cat_windows = args.cat_windows or ((100, 50) if args.quick else (500, 100))
        detection_categorical.run(*cat_windows)
    print(f"total {time.perf_counter() - started:.1f} s")


def _numeric(args: argparse.Namespace) -> None:
    windows = args.windows or (100 if args.quick else 1_000)
    run = RunConfig(ProfileParams(kll_k=args.window_k), args.rank_error_scale)
    rng = np.random.default_rng(2026)
    base_data = generate(rng, BASELINE_ROWS)
    base_profile = profile_of(base_data, ProfileParams(kll_k=args.baseline_k))
    prepared = prepare(_baseline_from_profile(base_profile))
    ref = ExactReference.of(base_data)
    check = generate(np.random.default_rng(1), 3_000)
    d_ours = exact_ks_distance(np.asarray(check["bimodal_1"]), ref.base_sorted["bimodal_1"])
    d_scipy = stats.ks_2samp(check["bimodal_1"], base_data["bimodal_1"]).statistic
    print(f"exact KS self-check vs scipy.stats.ks_2samp: {d_ours:.6f} vs {d_scipy:.6f}")
    print(f"windows per size: {windows}; KLL k: baseline {args.baseline_k}, windows {args.window_k}; "
          f"rank_error_scale={args.rank_error_scale}; alpha={ALPHA} (Holm over 23 features)")

    results: dict[int, SizeResult] = {}
    for size in args.sizes:
        t0 = time.perf_counter()
        seed = 100 + (SIZES.index(size) if size in SIZES else size)  # the same windows whatever --sizes says
        results[size] = run_size(size, windows, seed, prepared, ref, run)
        print(f"  size {size}: {time.perf_counter() - t0:.1f} s")
    _print_tables(results)
    base_bytes, base_retained = _sketch_size(base_profile)
    print(f"    baseline ({BASELINE_ROWS} records): {base_bytes / 1024:6.1f} KB, {base_retained:6.0f} retained items")
    print()
    for size in args.sizes:
        print("  " + _power_note(size, args.baseline_k, args.window_k, args.rank_error_scale))


def _baseline_from_profile(profile: DatasetProfile) -> Baseline:
    return Baseline(baseline_id="bench", model_id="bench", created_at="2026-01-01T00:00:00Z", profile=profile,
                    constraints=suggest_constraints(profile))


def _power_note(size: int, baseline_k: int, window_k: int, scale: float) -> str:
    crit = float(stattests.ks_critical_value(ALPHA / 23, size, BASELINE_ROWS))
    eps_window = 0.0 if size <= window_k else _rank_error(window_k)  # exact mode: nothing compacted
    eps = scale * (eps_window + _rank_error(baseline_k))
    return (f"n={size}: exact KS needs D > {crit:.4f} (Holm's first step, alpha/23); the calibrated sketch test "
            f"needs D > {crit + eps:.4f} (+ rank-error bounds {eps:.4f})")


def _rank_error(k: int) -> float:
    return float(ds.kll_doubles_sketch.get_normalized_rank_error(k, False))


def _print_tables(results: dict[int, SizeResult]) -> None:
    print()
    print("(a) no drift: % of windows with ...")
    print(f"{'window':>8} | {'any violation':>13} | {'drift alarm':>11} | {'exact KS':>8} | {'SM Simple':>9} | {'SM Robust':>9}")
    for size, res in results.items():
        a = res.tallies["no drift"]
        print(f"{size:>8} | {a.pct('any_violation'):>12.2f}% | {a.pct('drift'):>10.2f}% | {a.pct('exact'):>7.2f}% | "
              f"{a.pct('simple'):>8.2f}% | {a.pct('robust'):>8.2f}%")
    print()
    print("(b)-(d) detection rate (% of windows) on the changed feature (default floor: the effect-size floor of")
    print("    EvaluationConfig(): 0.05 for the numeric L-inf, 0.03 for categorical shares)")
    header = (f"{'scenario':<17} {'window':>7} | {'ours floor=0':>12} | {'ours dflt floor':>15} | {'exact KS':>8} | "
              f"{'any viol.':>9} | {'SM Simple':>9} | {'SM Robust':>9}")
    print(header)
    print("-" * len(header))
    scenario_names = [k for k in next(iter(results.values())).tallies if k != "no drift"]
    for name in scenario_names:
        for size, res in results.items():
            s = res.tallies[name]
            print(f"{name:<17} {size:>7} | {s.pct('sig'):>11.1f}% | {s.pct('floor'):>14.1f}% | {s.pct('exact'):>7.1f}% | "
                  f"{s.pct('any_on_feature'):>8.1f}% | {s.pct('simple'):>8.1f}% | {s.pct('robust'):>8.1f}%")
    print()
    print("(e) median evaluate() CPU time (process_time) for one 23-feature window (default config incl.")
    print("    PSI/JS/Wasserstein, prepared baseline); wall time is higher on this shared 2-core machine")
    for size, res in results.items():
        print(f"{size:>8} records: {statistics.median(res.timings) * 1000:7.2f} ms")
    print()
    print("(f) one KLL sketch, serialized (mean over the 20 numeric features)")
    for size, res in results.items():
        print(f"{size:>8} records: {res.sketch_bytes / 1024:6.1f} KB, {res.sketch_retained:6.0f} retained items")


if __name__ == "__main__":
    main()
