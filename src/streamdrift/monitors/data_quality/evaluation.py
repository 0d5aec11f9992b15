"""Evaluate one closed window profile against a baseline: drift tests plus SageMaker's data-quality checks.

Semantics (see docs/evaluation.md for the reasoning):

- ``baseline_drift_check`` (``calibrated``, the default for streamdrift baselines): per feature a test p-value
  (numeric: sketch-error-widened two-sample KS; categorical: chi-square homogeneity with small cells pooled),
  corrected over all drift-tested features of the window (Holm by default, or Benjamini-Hochberg). A feature
  drifts when its adjusted p-value <= ``alpha`` **and** its effect size (the selected statistic) exceeds the
  effect-size floor (``effect_size_floor`` for L-inf, the per-statistic thresholds for PSI / JS / Wasserstein;
  a baseline constraint's ``drift_threshold`` overrides it per feature). ``simple`` / ``robust`` reproduce
  SageMaker's comparison (distance > threshold; robust subtracts ``c * sqrt((n+m)/(n*m))`` first) and are the
  default for baselines imported from SageMaker, with their ``comparison_method`` / ``comparison_threshold``.
- Data-quality checks, SageMaker names, thresholds from the baseline's ``monitoring_config``: a violation when
  the window's conforming share is below ``threshold x baseline share``; in ``calibrated`` mode the shortfall
  must also be significant (one-sided binomial test, Bonferroni over the window's checks of that kind).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from streamdrift.baseline.roles import identifier_reason
from streamdrift.errors import EvaluationError
from streamdrift.monitors.data_quality import categorical, stattests
from streamdrift.monitors.data_quality.checks import data_quality
from streamdrift.monitors.data_quality.statistics import (
    DEFAULT_STATISTIC,
    STATISTICS,
    check_thresholds,
    statistic,
)
from streamdrift.monitors.data_quality.stattests import Correction
from streamdrift.monitors.violations import CheckKey, Violation

if TYPE_CHECKING:
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.baseline.constraints import FeatureConstraint, MonitoringConfig
    from streamdrift.profile.profiles import DatasetProfile, FeatureProfile

Method = Literal["calibrated", "simple", "robust"]
FeatureKind = Literal["numeric", "categorical"]

METHODS: tuple[str, ...] = ("calibrated", "simple", "robust")
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")
_NUMERIC_TYPES = frozenset({"Integral", "Fractional"})
_CATEGORICAL_TYPES = frozenset({"String", "Boolean"})


@dataclass(frozen=True)
class EvaluationConfig:
    """How windows are judged. ``method=None`` picks ``calibrated`` for streamdrift baselines and the
    baseline's own ``comparison_method`` for baselines imported from SageMaker.

    ``alpha=0.01`` with Holm is a family-wise level: under no drift at most 1% of windows raise any drift
    alarm, whatever the feature count (Holm controls the FWER under any dependence).
    """

    method: Method | None = None
    alpha: float = 0.01
    correction: Correction = "holm"
    effect_size_floor: float = 0.05  # the L-inf threshold (``thresholds["linf"]`` wins when given)
    statistic: str = DEFAULT_STATISTIC  # the numeric effect size: a name of ``statistics.STATISTICS``
    thresholds: Mapping[str, float] = field(default_factory=dict)  # per statistic, else its table default
    feature_thresholds: Mapping[str, float] = field(default_factory=dict)  # per feature: wins over the rest
    comparison_threshold: float | None = None  # simple/robust threshold; None: the baseline's monitoring_config
    robust_c: float = stattests.SAGEMAKER_ROBUST_C
    min_window_records: int = 30
    categorical_effect_size_floor: float = 0.03  # minimum L-inf of category shares (a 5-point move is drift)
    max_categories: int = 1000  # categories tested in full (while the sketches are exact), else the top ones
    top_categories: int = 200  # the baseline's categories tested one by one beyond that, plus "other"
    rank_error_scale: float = 1.0  # multiplies eps_a + eps_b; 1.0 = the sketch's 99% bound
    secondary_statistics: bool = True

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise EvaluationError(f"method must be one of {METHODS}, got {self.method!r}")
        statistic(self.statistic)
        check_thresholds(self.thresholds)
        if any(not v >= 0 for v in self.feature_thresholds.values()):
            raise EvaluationError("feature thresholds must be >= 0")
        if self.correction not in CORRECTIONS:
            raise EvaluationError(f"correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if not 0.0 < self.alpha < 1.0:
            raise EvaluationError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.effect_size_floor < 0 or self.rank_error_scale < 0 or self.min_window_records < 0:
            raise EvaluationError("effect_size_floor, rank_error_scale and min_window_records must be >= 0")

    def threshold(self, candidate_kind: str, name: str) -> float:
        """The threshold of a feature's statistic: categorical features have their own effect-size floor."""
        if candidate_kind == "categorical" and name not in self.thresholds:
            return self.categorical_effect_size_floor
        return self.statistic_threshold(name)

    def statistic_threshold(self, name: str) -> float:
        """The threshold of statistic ``name``: set in ``thresholds``, else (L-inf) the effect-size floor, else
        the table's default."""
        if name in self.thresholds:
            return self.thresholds[name]
        return self.effect_size_floor if name == "linf" else statistic(name).default_threshold


@dataclass(frozen=True, slots=True)
class FeatureResult:
    feature: str
    kind: FeatureKind
    statistic: str
    value: float
    threshold: float
    p_value: float | None  # adjusted for multiple testing (calibrated); raw otherwise
    n_window: int
    n_baseline: int
    drifted: bool
    secondary: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowEvaluation:
    method: Method
    n_window: int
    n_baseline: int
    results: list[FeatureResult]
    violations: list[Violation]
    checked: frozenset[CheckKey]  # every check run in this window, violated or not (feeds hysteresis)
    skipped: dict[str, str]  # feature -> why its drift test did not run
    elapsed_seconds: float

    @property
    def drifted(self) -> list[FeatureResult]:
        return [r for r in self.results if r.drifted]

    def result_for(self, feature: str) -> FeatureResult | None:
        return next((r for r in self.results if r.feature == feature), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "n_window": self.n_window, "n_baseline": self.n_baseline,
            "results": [_result_dict(r) for r in self.results],
            "violations": [_violation_dict(v) for v in self.violations],
            "skipped": dict(self.skipped), "elapsed_seconds": self.elapsed_seconds,
        }


def _result_dict(r: FeatureResult) -> dict[str, Any]:
    return {"feature": r.feature, "kind": r.kind, "statistic": r.statistic, "value": r.value,
            "threshold": r.threshold, "p_value": r.p_value, "n_window": r.n_window, "n_baseline": r.n_baseline,
            "drifted": r.drifted, "secondary": dict(r.secondary)}


def _violation_dict(v: Violation) -> dict[str, Any]:
    return {"check": v.check, "monitor": v.monitor, "feature": v.feature, "metric": v.metric,
            "statistic": v.statistic, "value": v.value, "threshold": v.threshold, "p_value": v.p_value,
            "n_window": v.n_window, "n_baseline": v.n_baseline, "description": v.description}


# --------------------------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class PreparedBaseline:
    """A baseline with what every evaluation reads from it computed once (KLL step CDFs, category
    frequencies). Build it with :func:`prepare` and reuse it for every window of the baseline."""

    baseline: Baseline
    numeric_cdfs: dict[str, stattests.StepCdf]
    frequencies: dict[str, dict[str, int]]


def prepare(baseline: Baseline) -> PreparedBaseline:
    items: dict[str, stattests.StepCdf] = {}
    freqs: dict[str, dict[str, int]] = {}
    for name, fp in baseline.profile.features.items():
        if fp.numeric.count > 0 and not fp.numeric.kll.is_empty:
            items[name] = stattests.step_cdf(fp.numeric.kll)
        if fp.categorical.count > 0:
            freqs[name] = fp.categorical.frequencies()
    return PreparedBaseline(baseline, items, freqs)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One feature's drift test before multiple-testing correction."""

    feature: str
    kind: FeatureKind
    statistic: str
    value: float
    p_value: float
    n_window: int
    n_baseline: int
    rank_error: float
    secondary: dict[str, float]


def resolve_method(config: EvaluationConfig, monitoring: MonitoringConfig, source: str) -> Method:
    if config.method is not None:
        return config.method
    if source == "sagemaker":
        return "robust" if monitoring.comparison_method == "Robust" else "simple"
    return "calibrated"


def _numeric_candidate(name: str, window: FeatureProfile, base: FeatureProfile, prepared: PreparedBaseline,
                       config: EvaluationConfig) -> _Candidate:
    wk, bk = window.numeric.kll, base.numeric.kll
    ks = stattests.calibrated_ks(wk, prepared.numeric_cdfs.get(name) or bk)
    eps = ks.rank_error * config.rank_error_scale
    p = float(stattests.ks_pvalue(max(0.0, ks.distance - eps), ks.n, ks.m))
    secondary: dict[str, float] = {"linf": ks.distance, "rank_error": eps}
    for stat in STATISTICS.values():
        if stat.name != "linf" and (config.secondary_statistics or stat.name == config.statistic):
            secondary[stat.name] = stat.numeric(wk, bk)
    return _Candidate(name, "numeric", config.statistic, secondary[config.statistic], p, ks.n, ks.m, eps,
                      secondary)


def _categorical_candidate(name: str, window: FeatureProfile, base: FeatureProfile, prepared: PreparedBaseline,
                           config: EvaluationConfig) -> _Candidate:
    test = categorical.compare(window.categorical, base.categorical, max_categories=config.max_categories,
                               top_k=config.top_categories, baseline_frequencies=prepared.frequencies.get(name))
    secondary = {"linf": test.linf, "chi2": test.chi.statistic, "chi2_dof": float(test.chi.dof),
                 "categories": float(test.cells), "sketch_error": test.error}
    if config.secondary_statistics:
        for stat in STATISTICS.values():
            if stat.categorical is not None and stat.name != "linf":
                secondary[stat.name] = stat.categorical(test.window, test.baseline)
        secondary["unseen_share"] = stattests.unseen_share(window.categorical.frequencies(),
                                                           frozenset(prepared.frequencies.get(name, {})))
    return _Candidate(name, "categorical", "linf", test.linf, test.chi.p_value, int(window.categorical.count),
                      int(base.categorical.count), test.error, secondary)


def _skip_reason(window: FeatureProfile, base: FeatureProfile, kind: FeatureKind,
                 constraint: FeatureConstraint | None) -> str | None:
    """Why a feature's drift test does not run, or None. Only identifier-like columns are never tested: marked
    so by the baseline (``skip_drift``), or, in baselines built before column roles, by their distinct count."""
    if constraint is not None and constraint.skip_drift is not None:
        return constraint.skip_drift
    if kind == "numeric":
        if window.numeric.count == 0 or window.numeric.kll.is_empty:
            return "no numeric values in the window"
        if base.numeric.count == 0 or base.numeric.kll.is_empty:
            return "no numeric values in the baseline"
        return None
    if window.categorical.count == 0 or base.categorical.count == 0:
        return "no categorical values in the window or baseline"
    return identifier_reason(base)


def _drift_kind(constraint: FeatureConstraint | None, base: FeatureProfile) -> FeatureKind | None:
    inferred = (constraint.inferred_type if constraint is not None else base.inferred_type).value
    if inferred in _NUMERIC_TYPES:
        return "numeric"
    if inferred in _CATEGORICAL_TYPES:
        return "categorical"
    return None


def _candidates(window: DatasetProfile, prepared: PreparedBaseline, config: EvaluationConfig,
                skipped: dict[str, str]) -> list[_Candidate]:
    baseline = prepared.baseline
    out: list[_Candidate] = []
    constraints = baseline.constraints.features
    for name, base in sorted(baseline.profile.features.items()):
        constraint = constraints.get(name)
        kind = _drift_kind(constraint, base)
        current = window.features.get(name)
        if kind is None or current is None:
            skipped[name] = "type not comparable" if kind is None else "absent from the window"
            continue
        reason = _skip_reason(current, base, kind, constraint)
        if reason is not None:
            skipped[name] = reason
            continue
        maker = _numeric_candidate if kind == "numeric" else _categorical_candidate
        out.append(maker(name, current, base, prepared, config))
    return out


def _floor(candidate: _Candidate, constraint: FeatureConstraint | None, config: EvaluationConfig) -> float:
    """The feature's effect-size threshold: the settings' per-feature one, else the baseline constraint's, else
    the statistic's."""
    if candidate.feature in config.feature_thresholds:
        return config.feature_thresholds[candidate.feature]
    if constraint is not None and constraint.drift_threshold is not None:
        return constraint.drift_threshold
    return config.threshold(candidate.kind, candidate.statistic)


def _calibrated_results(candidates: list[_Candidate], baseline: Baseline,
                        config: EvaluationConfig) -> list[FeatureResult]:
    raw = np.array([c.p_value for c in candidates], dtype=np.float64)
    adjusted = stattests.adjust_pvalues(raw, config.correction)
    levels = stattests.per_test_levels(raw, config.alpha, config.correction)
    n = np.array([c.n_window for c in candidates], dtype=np.float64)
    m = np.array([c.n_baseline for c in candidates], dtype=np.float64)
    eps = np.array([c.rank_error for c in candidates], dtype=np.float64)
    critical = stattests.calibrated_threshold(levels, n, m, eps)
    results = []
    for i, c in enumerate(candidates):
        floor = _floor(c, baseline.constraints.features.get(c.feature), config)
        significant = bool(adjusted[i] <= config.alpha)
        secondary = {**c.secondary, "p_raw": float(raw[i]), "level": float(levels[i])}
        if c.kind == "numeric":
            secondary["ks_critical"] = float(critical[i])
        calibrated = c.kind == "numeric" and statistic(c.statistic).calibrated
        threshold = max(floor, float(critical[i])) if calibrated else floor
        results.append(FeatureResult(c.feature, c.kind, c.statistic, c.value, threshold, float(adjusted[i]),
                                     c.n_window, c.n_baseline, significant and c.value > floor, secondary))
    return results


def _sagemaker_results(candidates: list[_Candidate], baseline: Baseline, config: EvaluationConfig,
                       method: Method) -> list[FeatureResult]:
    default = (config.comparison_threshold if config.comparison_threshold is not None
               else baseline.constraints.monitoring.comparison_threshold)
    results = []
    for c in candidates:
        constraint = baseline.constraints.features.get(c.feature)
        own = constraint.drift_threshold if constraint is not None else None
        threshold = config.feature_thresholds.get(c.feature, default if own is None else own)
        linf = c.secondary["linf"]
        value = (stattests.sagemaker_robust_distance(linf, c.n_window, c.n_baseline, config.robust_c)
                 if method == "robust" else linf)
        results.append(FeatureResult(c.feature, c.kind, f"{method}_linf", value, threshold, c.p_value,
                                     c.n_window, c.n_baseline, value > threshold, dict(c.secondary)))
    return results


def drift_measurement(r: FeatureResult) -> Violation:
    """A feature's drift test as a violation record (a violation when it drifted; else what the clearing
    event reports)."""
    p = f", p={r.p_value:.3g}" if r.p_value is not None else ""
    return Violation(
        check="baseline_drift_check", feature=r.feature, statistic=r.statistic, value=r.value,
        threshold=r.threshold, p_value=r.p_value, n_window=r.n_window, n_baseline=r.n_baseline,
        description=f"{r.kind} distribution of {r.feature!r} drifted: {r.statistic}={r.value:.4f} > "
                    f"{r.threshold:.4f}{p} (n={r.n_window}, m={r.n_baseline})",
    )


# --------------------------------------------------------------------------------------------- entry point


def evaluate(window: DatasetProfile, baseline: Baseline | PreparedBaseline,
             config: EvaluationConfig | None = None) -> WindowEvaluation:
    """Judge ``window`` against ``baseline`` (pure: no I/O). Raises EvaluationError on unusable input.

    Pass a :class:`PreparedBaseline` (:func:`prepare`) when evaluating many windows against one baseline.
    """
    config = config or EvaluationConfig()
    started = time.perf_counter()
    prepared = baseline if isinstance(baseline, PreparedBaseline) else prepare(baseline)
    baseline = prepared.baseline
    monitoring = baseline.constraints.monitoring
    method = resolve_method(config, monitoring, baseline.constraints.source)
    skipped: dict[str, str] = {}
    results: list[FeatureResult] = []
    if not monitoring.perform_comparison:
        skipped.update(dict.fromkeys(baseline.profile.features, "comparison disabled in monitoring_config"))
    elif window.n_records < config.min_window_records:
        skipped.update(dict.fromkeys(baseline.profile.features,
                                     f"window has {window.n_records} < {config.min_window_records} records"))
    else:
        candidates = _candidates(window, prepared, config, skipped)
        if candidates:
            results = (_calibrated_results(candidates, baseline, config) if method == "calibrated"
                       else _sagemaker_results(candidates, baseline, config, method))
    violations = [drift_measurement(r) for r in results if r.drifted]
    checked: set[CheckKey] = {("data_quality", "baseline_drift_check", r.feature) for r in results}
    if monitoring.evaluate_constraints and window.n_records > 0:
        dq, dq_checked = data_quality(window, baseline, method == "calibrated", config.alpha)
        violations.extend(dq)
        checked |= dq_checked
    return WindowEvaluation(
        method=method, n_window=int(window.n_records), n_baseline=int(baseline.profile.n_records),
        results=results, violations=violations, checked=frozenset(checked), skipped=skipped,
        elapsed_seconds=time.perf_counter() - started,
    )
