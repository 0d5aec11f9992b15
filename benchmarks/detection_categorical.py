"""The categorical rows of bench_detection.py (issue 20): drift tests of categorical features of any cardinality.

Three categorical features with 50, 500 and 5,000 categories, Zipf shares (category of rank r has share
proportional to 1/r), in one model: the baseline is built by ``build_baseline`` from 200,000 records (the
baseline's profile parameters, as ``streamdrift baseline build`` does), windows of 20,000 records are profiled
as the stream worker does (``ProfileParams(kll_k=1000)``, the default ``frequent_lg_max_k`` 10, the baseline's
categorical features declared String in the window schema: ``monitor.window_schema``) and judged by
``evaluate()`` at the defaults (Holm over the window's three features, alpha 0.01, categorical effect-size floor
0.03). With 768 counters per frequent-items sketch (lg_max_k 10), the 50- and 500-category features are tested
in full (every category a cell) and the 5,000-category one on its well-counted categories plus "other".

Rows: unchanged windows (false alarms: the feature's drift alarm; goal <= 1% of windows), and windows with one
feature changed (detection rate of that feature's drift alarm; goal >= 95%): 5% of the window's rows moved to
one mid-ranked category (rank K/2; rank 60 and 2,500 for K = 5,000; rows already in that category stay, so the
share moves by 5 x (1 - its share) points), and 10% of the rows moved into 5 categories the baseline never had.
Rates come with one-sided 95% Clopper-Pearson bounds (upper for false alarms, lower for detection).

"exact counts": the same decision (Holm over the three features, L-inf > floor) from chi-square homogeneity
and L-inf on the exact counts of every category, so the two columns differ only by sketching.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from streamdrift.baseline.baseline import Baseline
from streamdrift.baseline.build import build_baseline
from streamdrift.columns.columns import Column, Columns, Kind
from streamdrift.columns.typeinference import FeatureType
from streamdrift.monitors.data_quality import stattests
from streamdrift.monitors.data_quality.evaluation import (
    EvaluationConfig,
    PreparedBaseline,
    WindowEvaluation,
    evaluate,
    prepare,
)
from streamdrift.monitors.data_quality.monitor import window_schema
from streamdrift.profile.profiles import DatasetProfile, ProfileParams

CARDINALITIES = (50, 500, 5_000)
ZIPF_EXPONENT = 1.0
BASELINE_ROWS = 200_000
WINDOW_ROWS = 20_000
WINDOW_PARAMS = ProfileParams(kll_k=1000)  # the worker's settings.profile (frequent_lg_max_k 10 by default)
MOVED_SHARE = 0.05
UNSEEN_SHARE = 0.10
UNSEEN_VALUES = 5
FALSE_ALARM_GOAL = 0.01
DETECTION_GOAL = 0.95
SEED = 2027

Codes = NDArray[np.int64]
Data = dict[str, Codes]
Scenario = Callable[[np.random.Generator, Codes], Codes]


def feature(k: int) -> str:
    return f"cat_{k}"


_LABELS = {k: np.array([f"c{i:04d}" for i in range(k)] + [f"new{j}" for j in range(UNSEEN_VALUES)], dtype=object)
           for k in CARDINALITIES}
_CDF = {k: np.cumsum(np.arange(1, k + 1, dtype=np.float64) ** -ZIPF_EXPONENT) for k in CARDINALITIES}


def generate(rng: np.random.Generator, n: int) -> Data:
    """n records of the three features as category codes (code i = rank i + 1; codes >= K are unseen values)."""
    out: Data = {}
    for k in CARDINALITIES:
        cdf = _CDF[k] / _CDF[k][-1]
        out[feature(k)] = np.searchsorted(cdf, rng.uniform(size=n), side="right").clip(0, k - 1).astype(np.int64)
    return out


def columns(data: Data) -> Columns:
    n = next(iter(data.values())).size
    return Columns(n, {name: Column(np.full(n, np.nan), np.full(n, Kind.STRING, dtype=np.uint8),
                                    _LABELS[int(name[4:])][codes]) for name, codes in data.items()})


def move_to_rank(rank: int) -> Scenario:
    """MOVED_SHARE of the rows moved to the category of ``rank`` (1 = the most frequent)."""
    def apply(rng: np.random.Generator, codes: Codes) -> Codes:
        out = codes.copy()
        out[rng.uniform(size=out.size) < MOVED_SHARE] = rank - 1
        return out
    return apply


def into_unseen(k: int) -> Scenario:
    """UNSEEN_SHARE of the rows moved into UNSEEN_VALUES categories the baseline never had."""
    def apply(rng: np.random.Generator, codes: Codes) -> Codes:
        out = codes.copy()
        moved = rng.uniform(size=out.size) < UNSEEN_SHARE
        out[moved] = k + rng.integers(0, UNSEEN_VALUES, int(moved.sum()))
        return out
    return apply


def scenarios() -> list[tuple[int, str, Scenario]]:
    """(cardinality, name, change) of every shifted row."""
    out: list[tuple[int, str, Scenario]] = []
    for k in CARDINALITIES:
        ranks = (60, 2_500) if k == 5_000 else (k // 2,)
        out += [(k, f"5 pts to rank {r}", move_to_rank(r)) for r in ranks]
        out.append((k, f"{UNSEEN_SHARE:.0%} into {UNSEEN_VALUES} unseen", into_unseen(k)))
    return out


# ------------------------------------------------------------------------------------------------ judging


@dataclass
class ExactCounts:
    """The test on exact counts of every category (the reference without sketch error)."""

    baseline: dict[str, dict[str, float]]

    @classmethod
    def of(cls, data: Data) -> ExactCounts:
        return cls({name: _counts(name, codes) for name, codes in data.items()})

    def detects(self, data: Data, config: EvaluationConfig) -> dict[str, bool]:
        """Per feature: Holm-adjusted chi-square p <= alpha and L-inf > the categorical floor."""
        names = sorted(data)
        window = {name: _counts(name, data[name]) for name in names}
        raw = [stattests.chi_square_homogeneity(window[n], self.baseline[n]).p_value for n in names]
        adjusted = stattests.adjust_pvalues(np.array(raw), config.correction)
        return {n: bool(adjusted[i] <= config.alpha)
                and stattests.categorical_linf(window[n], self.baseline[n]) > config.categorical_effect_size_floor
                for i, n in enumerate(names)}


def _counts(name: str, codes: Codes) -> dict[str, float]:
    labels = _LABELS[int(name[4:])]
    counts = np.bincount(codes, minlength=labels.size)
    return {str(labels[i]): float(counts[i]) for i in np.flatnonzero(counts)}


@dataclass
class Row:
    """One table row: a feature's drift alarms over ``n`` windows, and what the test saw."""

    k: int
    scenario: str
    alpha: float
    alarms: int = 0
    significant: int = 0  # Holm-adjusted p <= alpha, whatever the effect size
    exact: int = 0
    any_violation: int = 0  # drift or a data-quality check (e.g. categorical_values_check) on the feature
    others: int = 0  # windows where another (unchanged) feature raised drift
    n: int = 0
    linf: list[float] = field(default_factory=list)
    cells: list[float] = field(default_factory=list)
    sketch_error: list[float] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return self.scenario == "unchanged"

    def add(self, ev: WindowEvaluation, exact: dict[str, bool]) -> None:
        name = feature(self.k)
        r = ev.result_for(name)
        if r is None:
            raise RuntimeError(f"{name} was not tested: {ev.skipped.get(name)}")
        self.n += 1
        self.alarms += int(r.drifted)
        self.significant += int(r.p_value is not None and r.p_value <= self.alpha)
        self.exact += int(exact[name])
        self.any_violation += int(any(v.feature == name for v in ev.violations))
        self.others += int(any(d.feature != name for d in ev.drifted))
        self.linf.append(r.value)
        self.cells.append(r.secondary["categories"])
        self.sketch_error.append(r.secondary["sketch_error"])

    def bound(self) -> float:
        """One-sided 95% Clopper-Pearson bound of the alarm rate: upper when unchanged, else lower."""
        x, n = self.alarms, self.n
        if self.unchanged:
            return 1.0 if x >= n else float(stats.beta.ppf(0.95, x + 1, n - x))
        return 0.0 if x <= 0 else float(stats.beta.ppf(0.05, x, n - x + 1))

    def goal(self) -> str:
        """The issue's goal for this row and whether it is met: by the 95% bound ("met"), by the observed rate
        only ("rate only": too few windows to show it), or not ("MISSED")."""
        rate, bound = self.alarms / max(self.n, 1), self.bound()
        if self.unchanged:
            target, by_rate, by_bound = f"<= {FALSE_ALARM_GOAL:.0%}", rate <= FALSE_ALARM_GOAL, bound <= FALSE_ALARM_GOAL
        else:
            target, by_rate, by_bound = f">= {DETECTION_GOAL:.0%}", rate >= DETECTION_GOAL, bound >= DETECTION_GOAL
        if "unseen" in self.scenario:
            target += "*"  # issue 20 item 1 asks that such a shift be caught, without a figure
        return f"{target} " + ("met" if by_bound else "rate only" if by_rate else "MISSED")

    def line(self) -> str:
        mode = "full" if max(self.sketch_error) == 0.0 else "top"
        tail = np.percentile(self.linf, 99 if self.unchanged else 1)
        rate = 100.0 * self.alarms / self.n
        return (f"{self.k:>6} | {self.scenario:<19} | {self.n:>4} | {self.alarms:>4} {rate:6.1f}% | "
                f"{100 * self.bound():6.2f}% | {self.goal():<17} | {100.0 * self.significant / self.n:6.1f}% | "
                f"{100.0 * self.exact / self.n:6.1f}% | "
                f"{100.0 * self.any_violation / self.n:7.1f}% | {self.others:>5} | {mode:<4} "
                f"{np.median(self.cells):5.0f} | {100 * np.median(self.sketch_error):7.3f}% | "
                f"{np.median(self.linf):.4f} {tail:.4f}")


NOTES = (
    "drift alarms: windows where the feature drifted; p<=a: its Holm-adjusted p-value <= alpha, whatever the",
    "effect size; 95% bnd: one-sided Clopper-Pearson bound of the alarm rate (upper for unchanged rows, lower for",
    "shifts); goal: issue 20's (<= 1% false alarms, a 5-point move caught in >= 95%), met by the bound, by the",
    "observed rate only (too few windows to show it), or MISSED; * a shift into unseen values should be caught",
    "(issue 20 item 1, no figure): held to the same 95%; exact: the same decision on exact counts of every",
    "category; any viol: drift or a data-quality check on the feature; other: windows where an unchanged feature",
    "drifted; mode: full (every category) / top (well-counted ones + other); cells: categories tested on their",
    "own (median); sk. err: window + baseline sketch error as a share (median); L-inf of the tested cells: median",
    "and tail (p99 unchanged, p1 shifts), against the floor",
)
HEADER = (f"{'K':>6} | {'scenario':<19} | {'wins':>4} | {'drift alarms':>12} | {'95% bnd':>7} | {'goal':<17} | "
          f"{'p<=a':>7} | {'exact':>7} | {'any viol':>8} | {'other':>5} | {'mode cells':<10} | {'sk. err':>8} | L-inf med tail")


# ------------------------------------------------------------------------------------------------ run


@dataclass(frozen=True)
class Setup:
    baseline: Baseline
    prepared: PreparedBaseline
    schema: dict[str, FeatureType]
    exact: ExactCounts
    config: EvaluationConfig


def setup() -> Setup:
    data = generate(np.random.default_rng(SEED), BASELINE_ROWS)
    baseline = build_baseline([columns(data)], "bench-categorical")
    schema = {name: FeatureType(t) for name, t in window_schema(baseline).items()}
    return Setup(baseline, prepare(baseline), schema, ExactCounts.of(data), EvaluationConfig())


def judge(s: Setup, data: Data) -> tuple[WindowEvaluation, dict[str, bool]]:
    profile = DatasetProfile.empty(WINDOW_PARAMS, schema=s.schema)
    profile.update(columns(data))
    return evaluate(profile, s.prepared, s.config), s.exact.detects(data, s.config)


def run(unchanged: int, shifted: int, emit: Callable[[str], None] = print) -> list[Row]:
    """Every row, each emitted as soon as its windows are judged (fixed seeds: a shorter run judges a prefix of
    a longer run's windows)."""
    started = time.perf_counter()
    s = setup()
    sketches = {n: fp.categorical.frequent.max_error for n, fp in s.baseline.profile.features.items()}
    emit(f"(g) categorical features with {', '.join(map(str, CARDINALITIES))} categories, Zipf shares (exponent "
         f"{ZIPF_EXPONENT:g}); baseline {BASELINE_ROWS} records,")
    emit(f"    frequent-items max error {sketches} (lg_max_k {s.baseline.profile.params.frequent_lg_max_k});")
    emit(f"    windows of {WINDOW_ROWS} records (kll_k {WINDOW_PARAMS.kll_k}, frequent_lg_max_k "
         f"{WINDOW_PARAMS.frequent_lg_max_k}, schema {sorted(set(map(str, s.schema.values())))});")
    emit(f"    evaluate() defaults: Holm over the window's 3 features, alpha {s.config.alpha}, categorical floor "
         f"{s.config.categorical_effect_size_floor};")
    emit(f"    {unchanged} unchanged windows, {shifted} windows per shift")
    for note in NOTES:
        emit("    " + note)
    emit(HEADER)
    emit("-" * len(HEADER))
    rows = [Row(k, "unchanged", s.config.alpha) for k in CARDINALITIES]
    rng = np.random.default_rng(SEED + 1)
    for _ in range(unchanged):
        data = generate(rng, WINDOW_ROWS)
        ev, exact = judge(s, data)
        for row in rows:
            row.add(ev, exact)
    for row in rows:
        emit(row.line())
    for i, (k, name, change) in enumerate(scenarios()):
        rng = np.random.default_rng(SEED + 10 + i)
        row = Row(k, name, s.config.alpha)
        for _ in range(shifted):
            data = generate(rng, WINDOW_ROWS)
            data[feature(k)] = change(rng, data[feature(k)])
            row.add(*judge(s, data))
        emit(row.line())
        rows.append(row)
    emit(f"    categorical rows: {time.perf_counter() - started:.1f} s")
    return rows
