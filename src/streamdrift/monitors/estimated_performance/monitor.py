"""The estimated-performance monitor: a binary classifier's accuracy, precision, recall, F1 and ROC AUC estimated
per window from its calibrated scores, without labels (confidence-based performance estimation).

A data-stage monitor (it needs only the capture rows' scores, so it judges when the window's data closes, long
before any label). Rule: the model-quality rule (:func:`~streamdrift.monitors.model_quality.rule.evaluate_quality`,
same one-sided alpha, Holm correction and minimum records) on the estimates and their standard errors against
the baseline's realised metrics. Events: monitor ``model_quality``, check ``estimated_performance_check``,
metric names as the realised ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import numpy as np

from streamdrift.monitors.base import DataMonitor, MetricSink, MonitorResult, Rows, finite_or_none, fmt
from streamdrift.monitors.estimated_performance.calibration import EstimatedPerformanceBaseline
from streamdrift.monitors.estimated_performance.estimate import estimate_metrics
from streamdrift.monitors.estimated_performance.state import DEFAULT_BINS, EstimatedPerformanceState
from streamdrift.monitors.model_quality.rule import QualityRuleConfig, evaluate_quality
from streamdrift.monitors.violations import MonitorName

NAME: Final = "estimated_performance"  # the kind (its state and summary); events name MONITOR
MONITOR: Final[MonitorName] = "model_quality"
CHECK: Final = "estimated_performance_check"


class EstimatedPerformanceMonitor(DataMonitor[EstimatedPerformanceState]):
    name: ClassVar[str] = NAME

    def __init__(self, section: EstimatedPerformanceBaseline, config: QualityRuleConfig,
                 n_bins: int = DEFAULT_BINS) -> None:
        self.section = section
        self.config = config
        self.n_bins = n_bins

    def new_state(self, rows: Rows | None = None) -> EstimatedPerformanceState:
        return EstimatedPerformanceState.empty(self.section.threshold, self.n_bins)

    def update(self, state: EstimatedPerformanceState, rows: Rows) -> None:
        scores = rows.score
        if scores is None:
            state.n_skipped += rows.n_rows
            return
        state.update(scores, self.section.calibration.apply(scores))

    def read_state(self, blob: bytes) -> EstimatedPerformanceState:
        return EstimatedPerformanceState.from_bytes(blob)

    def write_state(self, state: EstimatedPerformanceState) -> bytes:
        return state.to_bytes()

    def judge(self, state: EstimatedPerformanceState) -> MonitorResult:
        n = state.n
        if n == 0:
            return MonitorResult(NAME, [], frozenset(), {"status": "no_scores", "n": 0, "evaluated": False,
                                                         "n_skipped": state.n_skipped}, "no scores")
        estimate = estimate_metrics(state, self.section.calibration, self.section.problem_type)
        evaluation = evaluate_quality(estimate, self.section.metrics, self.config)
        measurements = {
            (MONITOR, CHECK, c.metric): c.violation(check=CHECK, monitor=MONITOR, n_baseline=self.section.n,
                                                    what="estimated ", note=f" (SE {fmt(c.standard_error)}, no labels)")
            for c in evaluation.checks
        }
        violations = [measurements[(MONITOR, CHECK, c.metric)] for c in evaluation.violations]
        checked = frozenset(measurements) if evaluation.enough_records else frozenset()
        summary: dict[str, Any] = {
            "status": "ok" if evaluation.enough_records else "insufficient_records",
            "n": n, "n_skipped": state.n_skipped, "evaluated": evaluation.enough_records,
            "metrics": finite_or_none({k: v.value for k, v in estimate.metrics.items()}),
            "standard_errors": finite_or_none({k: v.standard_error for k, v in estimate.metrics.items()}),
            "baseline_metrics": finite_or_none({c.metric: c.baseline_value for c in evaluation.checks}),
            "checks": [{"metric": c.metric, "value": c.value, "baseline_value": c.baseline_value,
                        "threshold": c.threshold, "p_value": c.p_value, "standard_error": c.standard_error,
                        "drifted": c.drifted} for c in evaluation.checks],
        }
        head = evaluation.checks[0] if evaluation.checks else None
        verdict = f"est. {head.metric} {fmt(head.value)}" if head is not None else f"n={n}"
        if violations:
            verdict += " DRIFT " + ",".join(c.metric for c in evaluation.violations)
        elif not evaluation.enough_records:
            verdict += f" (n={n} < {self.config.min_records})"
        return MonitorResult(NAME, violations, checked, summary, verdict, {}, n, self.section.n, measurements)

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        for metric, value in result.summary.get("metrics", {}).items():
            if value is not None and np.isfinite(value):
                sink.set_estimated_performance(model_id, metric, value)


def side_by_side(estimated: Mapping[str, Any], realised: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The estimate of a window beside the realised metrics once its labels came (summaries of this monitor and
    of model quality): per metric the estimate, its standard error, the realised value, and whether the realised
    value is inside the estimate's 95% interval."""
    est, ses, real = estimated.get("metrics") or {}, estimated.get("standard_errors") or {}, realised.get("metrics") or {}
    out: dict[str, dict[str, Any]] = {}
    for metric, value in est.items():
        actual, se = real.get(metric), ses.get(metric)
        if value is None or actual is None or not np.isfinite(actual):
            continue
        out[metric] = {"estimated": value, "realised": actual, "standard_error": se, "error": value - actual,
                       "inside_95": bool(se is not None and abs(value - actual) <= 1.96 * se)}
    return out

