"""The model-quality drift rule: is a window's metric significantly worse than the baseline's?

Default (``method="z"``): for each checked metric, z = (worse-direction gap) / SE, where SE is the window's
standard error (plus the baseline's, in quadrature, when ``include_baseline_error``); the one-sided p-value is
``1 - Phi(z)``; the family of checked metrics is corrected with Holm (or Bonferroni / none) at ``alpha``. The
reported threshold is the value at which the metric would have been flagged at its Holm step.

``method="sagemaker"``: SageMaker's rule — worse than the baseline by more than one standard deviation of the
metric over five 80% resamples of the window. Subsampling 80% without replacement gives the metric a standard
deviation of ``sqrt(0.2/0.8) = 0.5`` standard errors; we use that expectation (deterministic) instead of five
noisy draws. No p-value correction; p_value is reported for information.

Below ``min_records`` labelled records nothing is flagged (metrics are still reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from streamdrift.errors import ConfigError, EvaluationError
from streamdrift.monitors.base import fmt
from streamdrift.monitors.model_quality.metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    MetricValue,
    ProblemType,
    QualityMetrics,
)
from streamdrift.monitors.violations import MonitorName, Violation

MONITOR: Final[str] = "model_quality"
CHECK: Final[str] = "model_quality_check"
SAGEMAKER_SD_FACTOR: Final[float] = 0.5
DEFAULT_METRICS: Final[Mapping[ProblemType, tuple[str, ...]]] = {
    ProblemType.BINARY: ("accuracy", "precision", "recall", "f1", "auc"),
    ProblemType.MULTICLASS: ("accuracy", "weighted_precision", "weighted_recall", "weighted_f1"),
    ProblemType.REGRESSION: ("mae", "rmse", "r2"),
}


@dataclass(frozen=True, slots=True)
class QualityRuleConfig:
    alpha: float = 0.01
    correction: Literal["holm", "bonferroni", "none"] = "holm"
    min_records: int = 200
    method: Literal["z", "sagemaker"] = "z"
    metrics: tuple[str, ...] | None = None   # None: DEFAULT_METRICS of the problem type
    include_baseline_error: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"model-quality alpha must be in (0, 1), got {self.alpha}")
        if self.min_records < 0:
            raise ConfigError(f"min_records must be >= 0, got {self.min_records}")
        unknown = set(self.metrics or ()) - HIGHER_IS_BETTER - LOWER_IS_BETTER
        if unknown:
            raise ConfigError(f"no drift direction known for metric(s) {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class MetricCheck:
    metric: str
    value: float
    baseline_value: float
    threshold: float
    p_value: float
    n: int
    standard_error: float
    drifted: bool

    def violation(self, *, check: str, monitor: MonitorName, n_baseline: int, what: str = "", note: str = "") -> Violation:
        """This check as a violation: ``"<what><metric> <value><note> is below|above <threshold> (baseline ...)"``."""
        direction = "below" if self.metric in HIGHER_IS_BETTER else "above"
        return Violation(
            check=check, monitor=monitor, metric=self.metric, statistic=self.metric, value=self.value,
            threshold=self.threshold, p_value=self.p_value, n_window=self.n, n_baseline=n_baseline,
            description=f"{what}{self.metric} {fmt(self.value)}{note} is {direction} {fmt(self.threshold)} "
                        f"(baseline {fmt(self.baseline_value)}, p={self.p_value:.3g})",
        )


@dataclass(frozen=True, slots=True)
class QualityEvaluation:
    problem_type: ProblemType
    n: int
    enough_records: bool
    checks: tuple[MetricCheck, ...]
    metrics: QualityMetrics

    @property
    def drifted(self) -> bool:
        return any(c.drifted for c in self.checks)

    @property
    def violations(self) -> tuple[MetricCheck, ...]:
        return tuple(c for c in self.checks if c.drifted)


def evaluate_quality(
    window: QualityMetrics, baseline: Mapping[str, MetricValue], config: QualityRuleConfig | None = None,
    problem_type: ProblemType | None = None,
) -> QualityEvaluation:
    """Compare a window's metrics with the baseline's (``monitor="model_quality"``, check ``CHECK``)."""
    cfg = config or QualityRuleConfig()
    if problem_type is not None and problem_type is not window.problem_type:
        raise EvaluationError(f"window is {window.problem_type}, baseline is {problem_type}")
    names = [m for m in (cfg.metrics or DEFAULT_METRICS[window.problem_type])
             if m in window.metrics and m in baseline and math.isfinite(baseline[m].value)
             and math.isfinite(window.metrics[m].value)]
    enough = window.n >= cfg.min_records
    gaps, ses = _gaps(window, baseline, names, cfg)
    if cfg.method == "sagemaker":
        checks = _sagemaker_checks(window, baseline, names, gaps, ses, enough)
    else:
        checks = _z_checks(window, baseline, names, gaps, ses, enough, cfg)
    return QualityEvaluation(window.problem_type, window.n, enough, checks, window)


def _gaps(window: QualityMetrics, baseline: Mapping[str, MetricValue], names: Sequence[str],
          cfg: QualityRuleConfig) -> tuple[np.ndarray, np.ndarray]:
    """How much worse each window metric is (positive = worse) and its standard error."""
    sign = np.array([1.0 if m in HIGHER_IS_BETTER else -1.0 for m in names])
    base = np.array([baseline[m].value for m in names])
    value = np.array([window.metrics[m].value for m in names])
    se = np.array([window.metrics[m].standard_error for m in names])
    if cfg.include_baseline_error:
        base_se = np.nan_to_num(np.array([baseline[m].standard_error for m in names]), nan=0.0)
        se = np.sqrt(np.square(se) + np.square(base_se))
    return sign * (base - value), se


def _z_checks(window: QualityMetrics, baseline: Mapping[str, MetricValue], names: Sequence[str],
              gaps: np.ndarray, ses: np.ndarray, enough: bool, cfg: QualityRuleConfig) -> tuple[MetricCheck, ...]:
    from scipy.stats import norm
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(ses > 0, gaps / ses, np.where(gaps > 0, np.inf, -np.inf))
    p = np.where(np.isnan(ses), 1.0, norm.sf(z))
    levels = _step_alphas(p, cfg)
    drifted = _holm_reject(p, levels) if cfg.correction == "holm" else p <= levels
    z_crit = norm.isf(levels)
    checks = []
    for i, m in enumerate(names):
        sign = 1.0 if m in HIGHER_IS_BETTER else -1.0
        threshold = baseline[m].value - sign * z_crit[i] * ses[i]
        checks.append(MetricCheck(m, window.metrics[m].value, baseline[m].value, float(threshold), float(p[i]),
                                  window.n, float(ses[i]), bool(enough and drifted[i])))
    return tuple(checks)


def _step_alphas(p: np.ndarray, cfg: QualityRuleConfig) -> np.ndarray:
    """The per-metric significance level: alpha/(m - rank) for Holm, alpha/m for Bonferroni."""
    m = p.size
    if cfg.correction == "none" or m == 0:
        return np.full(m, cfg.alpha)
    if cfg.correction == "bonferroni":
        return np.full(m, cfg.alpha / m)
    rank = np.empty(m, dtype=np.intp)
    rank[np.argsort(p, kind="stable")] = np.arange(m)
    return cfg.alpha / (m - rank)


def _holm_reject(p: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Holm step-down: reject in p order until the first acceptance."""
    order = np.argsort(p, kind="stable")
    passed = p[order] <= levels[order]
    keep = np.cumprod(passed).astype(bool)
    out = np.zeros(p.size, dtype=bool)
    out[order] = keep
    return out


def _sagemaker_checks(window: QualityMetrics, baseline: Mapping[str, MetricValue], names: Sequence[str],
                      gaps: np.ndarray, ses: np.ndarray, enough: bool) -> tuple[MetricCheck, ...]:
    from scipy.stats import norm
    sd = SAGEMAKER_SD_FACTOR * ses
    checks = []
    for i, m in enumerate(names):
        sign = 1.0 if m in HIGHER_IS_BETTER else -1.0
        z = gaps[i] / ses[i] if ses[i] > 0 else (math.inf if gaps[i] > 0 else -math.inf)
        p = float(norm.sf(z)) if math.isfinite(ses[i]) else 1.0
        drifted = enough and math.isfinite(sd[i]) and gaps[i] > sd[i]
        checks.append(MetricCheck(m, window.metrics[m].value, baseline[m].value,
                                  float(baseline[m].value - sign * sd[i]), p, window.n, float(ses[i]),
                                  bool(drifted)))
    return tuple(checks)
