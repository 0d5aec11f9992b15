"""The multivariate-drift monitor: each record's PCA reconstruction error (baseline model) into a window sketch;
the window's error distribution against the baseline's by the calibrated KS test, its mean by a z test.

It catches changes of the joint distribution (a correlation that breaks) that no per-feature test sees. Rule:
the two p-values (KS two-sided, sketch-error widened as the data-quality test; mean one-sided: larger errors)
are Holm-corrected at ``alpha``; below ``min_records`` nothing is flagged. Events: monitor ``data_quality``,
check ``multivariate_drift_check``, feature null, metric ``reconstruction_error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np

from streamdrift.errors import ConfigError
from streamdrift.monitors.base import DataMonitor, MetricSink, MonitorResult, Rows, fmt
from streamdrift.monitors.data_quality.stattests import (
    StepCdf,
    adjust_pvalues,
    calibrated_ks,
    calibrated_threshold,
    step_cdf,
)
from streamdrift.monitors.multivariate.pca import MultivariateBaseline
from streamdrift.monitors.multivariate.state import DEFAULT_K, MultivariateState
from streamdrift.monitors.violations import MonitorName, Violation

NAME: Final = "multivariate"
MONITOR: Final[MonitorName] = "data_quality"
CHECK: Final = "multivariate_drift_check"
METRIC: Final = "reconstruction_error"
QUANTILES: Final[tuple[float, ...]] = (0.5, 0.9, 0.99)


@dataclass(frozen=True, slots=True)
class MultivariateRuleConfig:
    alpha: float = 0.01
    min_records: int = 200

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"multivariate alpha must be in (0, 1), got {self.alpha}")
        if self.min_records < 2:
            raise ConfigError(f"multivariate min_records must be >= 2, got {self.min_records}")


@dataclass(frozen=True, slots=True)
class MultivariateEvaluation:
    n: int
    enough_records: bool
    ks_distance: float
    ks_threshold: float
    ks_p_value: float
    mean: float
    baseline_mean: float
    mean_z: float
    mean_p_value: float
    drifted: bool


def evaluate_multivariate(state: MultivariateState, baseline: MultivariateBaseline, config: MultivariateRuleConfig,
                          baseline_cdf: StepCdf | None = None) -> MultivariateEvaluation:
    from scipy.stats import norm

    cdf = baseline_cdf if baseline_cdf is not None else step_cdf(baseline.sketch)
    ks = calibrated_ks(state.sketch, cdf)
    se = math.sqrt(state.variance / state.n + baseline.variance / baseline.n) if state.n > 1 else math.nan
    gap = state.mean - baseline.mean
    z = gap / se if se > 0 else (math.inf if se == 0 and gap > 0 else 0.0)
    p_mean = float(norm.sf(z)) if math.isfinite(se) else 1.0
    p = np.array([ks.p_value, p_mean])
    adjusted = adjust_pvalues(p, "holm")
    enough = state.n >= config.min_records
    level = config.alpha / 2.0  # the KS test's Holm level when it is the first step
    threshold = float(calibrated_threshold(level, ks.n, ks.m, ks.rank_error))
    return MultivariateEvaluation(state.n, enough, ks.distance, threshold, float(adjusted[0]), state.mean,
                                  baseline.mean, float(z), float(adjusted[1]),
                                  bool(enough and (adjusted <= config.alpha).any()))


class MultivariateMonitor(DataMonitor[MultivariateState]):
    name: ClassVar[str] = NAME

    def __init__(self, section: MultivariateBaseline, config: MultivariateRuleConfig, k: int = DEFAULT_K) -> None:
        self.section = section
        self.config = config
        self.k = k
        self._fingerprint = section.model.fingerprint
        self._baseline_cdf = step_cdf(section.sketch)

    def new_state(self, rows: Rows | None = None) -> MultivariateState:
        return MultivariateState.empty(self.k, self._fingerprint)

    def update(self, state: MultivariateState, rows: Rows) -> None:
        if rows.n_rows:
            state.update(self.section.model.errors(rows.features))

    def read_state(self, blob: bytes) -> MultivariateState:
        return MultivariateState.from_bytes(blob)

    def write_state(self, state: MultivariateState) -> bytes:
        return state.to_bytes()

    def judge(self, state: MultivariateState) -> MonitorResult:
        if state.is_empty:
            return MonitorResult(NAME, [], frozenset(), {"status": "no_records", "n": 0, "evaluated": False},
                                 "no records")
        e = evaluate_multivariate(state, self.section, self.config, self._baseline_cdf)
        quantiles = state.sketch.quantiles(list(QUANTILES))
        summary: dict[str, Any] = {
            "status": "ok" if e.enough_records else "insufficient_records", "n": e.n, "evaluated": e.enough_records,
            "ks_distance": e.ks_distance, "ks_threshold": e.ks_threshold, "ks_p_value": e.ks_p_value,
            "mean": e.mean, "baseline_mean": e.baseline_mean, "mean_z": e.mean_z, "mean_p_value": e.mean_p_value,
            "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
            "drifted": e.drifted,
        }
        by_ks = e.ks_p_value <= e.mean_p_value
        key = (MONITOR, CHECK, METRIC)
        description = (f"reconstruction error drifted: KS D {fmt(e.ks_distance)} (threshold {fmt(e.ks_threshold)}, "
                       f"p={e.ks_p_value:.3g}), mean {fmt(e.mean)} vs baseline {fmt(e.baseline_mean)} "
                       f"(z {fmt(e.mean_z)}, p={e.mean_p_value:.3g})")
        measured = Violation(check=CHECK, monitor=MONITOR, metric=METRIC, statistic="ks" if by_ks else "mean_z",
                             value=e.ks_distance if by_ks else e.mean, threshold=e.ks_threshold if by_ks else None,
                             p_value=min(e.ks_p_value, e.mean_p_value), n_window=e.n, n_baseline=self.section.n,
                             description=description)
        checked = frozenset({key}) if e.enough_records else frozenset()
        verdict = f"recon. error D {fmt(e.ks_distance)}" + (" DRIFT" if e.drifted else "")
        return MonitorResult(NAME, [measured] if e.drifted else [], checked, summary, verdict, {}, e.n,
                             self.section.n, {key: measured} if e.enough_records else {})

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        for quantile, value in result.summary.get("quantiles", {}).items():
            sink.set_reconstruction_error(model_id, quantile, value)
        mean = result.summary.get("mean")
        if mean is not None and math.isfinite(mean):
            sink.set_reconstruction_error(model_id, "mean", mean)
