"""Model quality, bias and attribution of a merged window: the states from the partials' extras, merged and
judged against the baseline's sections, as Violations for the shared events path (and metrics, status)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from streamdrift.baseline.baseline import Baseline
from streamdrift.errors import StreamdriftError
from streamdrift.metrics import Metrics
from streamdrift.monitors.attribution import (
    AttributionBaseline,
    AttributionDriftConfig,
    AttributionState,
    evaluate_attribution,
)
from streamdrift.monitors.bias import BiasBaseline, BiasDriftConfig, BiasState, evaluate_bias
from streamdrift.monitors.data_quality.evaluation import CheckKey, Violation
from streamdrift.monitors.model_quality import (
    CHECK,
    ModelQualityBaseline,
    QualityRuleConfig,
    compute_metrics,
    evaluate_window,
)
from streamdrift.monitors.model_quality.window import merge_blobs
from streamdrift.monitors.states import merge_state_blobs
from streamdrift.settings import Settings
from streamdrift.window.merger import ReadyWindow
from streamdrift.worker.monitors import ATTRIBUTION, BIAS, MODEL_QUALITY

log = logging.getLogger(__name__)
MONITOR: Final = "model_quality"
BIAS_CHECK = "bias_drift_check"
ATTRIBUTION_CHECK = "feature_attribution_drift_check"


@dataclass
class MonitorOutcome:
    violations: list[Violation] = field(default_factory=list)
    checked: set[CheckKey] = field(default_factory=set)
    status: dict[str, Any] = field(default_factory=dict)  # per monitor, for /status
    quality_metrics: dict[str, float] = field(default_factory=dict)  # for the report


class MonitorJudge:
    """Evaluates the three monitors of one window (stateless apart from the configs)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        lab, mon = settings.labels, settings.monitors
        self._quality_rule = QualityRuleConfig(alpha=lab.alpha, min_records=lab.min_labelled)
        self._bias_rule = BiasDriftConfig(confidence=mon.bias_confidence, min_group_count=mon.bias_min_group_count)
        self._attr_rule = AttributionDriftConfig(mon.attribution_threshold, mon.attribution_min_records)
        self._metrics = metrics

    def judge(self, window: ReadyWindow, baseline: Baseline | None) -> MonitorOutcome:
        out = MonitorOutcome()
        for name, step in ((MODEL_QUALITY, self._quality), (BIAS, self._bias), (ATTRIBUTION, self._attribution)):
            blobs = window.extras.get(name)
            if not blobs:
                continue
            try:
                step(window, blobs, baseline, out)
            except StreamdriftError as exc:
                log.error("%s of %s@%d not evaluated: %s", name, window.model_id, window.window_start_ms, exc)
                out.status[name] = {"error": str(exc)}
        return out

    # ------------------------------------------------------------ model quality

    def _quality(self, window: ReadyWindow, blobs: list[bytes], baseline: Baseline | None,
                 out: MonitorOutcome) -> None:
        state = merge_blobs(blobs)
        if state is None:
            return
        model = window.model_id
        section = baseline.model_quality if baseline is not None else None
        if not section:
            metrics = compute_metrics(state)
            values = {k: v.value for k, v in metrics.metrics.items()}
            out.status[MODEL_QUALITY] = {"n_labelled": metrics.n, "metrics": values, "evaluated": False}
        else:
            evaluation = evaluate_window(state, ModelQualityBaseline.from_dict(section), self._quality_rule)
            values = {k: v.value for k, v in evaluation.metrics.metrics.items()}
            out.status[MODEL_QUALITY] = {
                "n_labelled": evaluation.n, "metrics": values, "evaluated": evaluation.enough_records,
                "checks": [{"metric": c.metric, "value": c.value, "baseline": c.baseline_value,
                            "threshold": c.threshold, "p_value": c.p_value, "drifted": c.drifted}
                           for c in evaluation.checks],
            }  # fmt: skip
            if evaluation.enough_records:
                for c in evaluation.checks:
                    out.checked.add((MONITOR, CHECK, c.metric))
                    if c.drifted:
                        out.violations.append(Violation(
                            check=CHECK, monitor=MONITOR, metric=c.metric, statistic=c.metric, value=c.value,
                            threshold=c.threshold, p_value=c.p_value, n_window=c.n,
                            description=(f"{c.metric} {c.value:.4f} is worse than the baseline's "
                                         f"{c.baseline_value:.4f} (threshold {c.threshold:.4f}, p={c.p_value:.2g})"),
                        ))  # fmt: skip
        for metric, value in values.items():
            self._metrics.set_model_quality(model, metric, value)
        out.quality_metrics = values

    # ------------------------------------------------------------ bias

    def _bias(self, window: ReadyWindow, blobs: list[bytes], baseline: Baseline | None,
              out: MonitorOutcome) -> None:
        state = BiasState.from_bytes(merge_state_blobs(blobs))
        if baseline is None or not baseline.bias:
            return
        results = evaluate_bias(state, BiasBaseline.from_dict(baseline.bias), self._bias_rule)
        rows = []
        for r in results:
            facet = f"{r.facet}={r.value_or_threshold}"
            self._metrics.set_bias(window.model_id, facet, r.metric, r.value)
            rows.append({"facet": facet, "metric": r.metric, "value": r.value, "baseline": r.baseline_value,
                         "interval": r.interval, "allowed_range": r.allowed_range, "status": r.status,
                         "drifted": r.drifted, "n_a": r.n_a, "n_d": r.n_d})
            if r.status != "ok":
                continue
            subject = f"{r.facet}:{r.metric}"
            out.checked.add(("bias", BIAS_CHECK, subject))
            if r.drifted and r.allowed_range is not None and r.interval is not None:
                out.violations.append(Violation(
                    check=BIAS_CHECK, monitor="bias", metric=subject, statistic=r.metric, value=r.value,
                    threshold=r.baseline_value, n_window=r.n_a + r.n_d,
                    description=(f"{r.metric} of facet {facet} is {r.value:.4f} (interval {r.interval[0]:.4f}.."
                                 f"{r.interval[1]:.4f}), outside the allowed {r.allowed_range[0]:.4f}.."
                                 f"{r.allowed_range[1]:.4f}"),
                ))  # fmt: skip
        out.status[BIAS] = {"metrics": rows}

    # ------------------------------------------------------------ attribution

    def _attribution(self, window: ReadyWindow, blobs: list[bytes], baseline: Baseline | None,
                     out: MonitorOutcome) -> None:
        state = AttributionState.from_bytes(merge_state_blobs(blobs))
        if baseline is None or not baseline.attribution:
            return
        result = evaluate_attribution(state, AttributionBaseline.from_dict(baseline.attribution), self._attr_rule)
        out.status[ATTRIBUTION] = {"ndcg": result.ndcg, "threshold": result.threshold, "status": result.status,
                                   "n_records": result.n_records, "window_ranking": list(result.window_ranking)}
        if result.ndcg is None:
            return
        self._metrics.set_attribution_ndcg(window.model_id, result.ndcg)
        out.checked.add(("attribution", ATTRIBUTION_CHECK, "ndcg"))
        if result.drifted:
            out.violations.append(Violation(
                check=ATTRIBUTION_CHECK, monitor="attribution", metric="ndcg", statistic="ndcg",
                value=result.ndcg, threshold=result.threshold, n_window=result.n_records,
                description=(f"feature attribution ranking NDCG {result.ndcg:.4f} < {result.threshold}; now "
                             f"{', '.join(result.window_ranking[:5])}"),
            ))  # fmt: skip
