"""The feature-attribution monitor: mean |attribution| per feature from the capture records' attributions,
the window's ranking judged by NDCG against the baseline's. Monitor ``attribution``, check
``feature_attribution_drift_check``, metric ``ndcg``."""

from __future__ import annotations

from typing import ClassVar, Final

from streamdrift.baseline.sagemaker import VIOLATIONS_FILE
from streamdrift.monitors.attribution.ranking import (
    AttributionBaseline,
    AttributionDriftConfig,
    AttributionState,
    evaluate_attribution,
)
from streamdrift.monitors.base import DataMonitor, MetricSink, MonitorResult, Rows, fmt
from streamdrift.monitors.violations import MonitorName, Violation

NAME: Final[MonitorName] = "attribution"
CHECK: Final = "feature_attribution_drift_check"


class AttributionMonitor(DataMonitor[AttributionState]):
    name: ClassVar[str] = NAME

    def __init__(self, section: AttributionBaseline, rule: AttributionDriftConfig) -> None:
        self.section = section
        self.rule = rule

    def new_state(self, rows: Rows | None = None) -> AttributionState:
        return AttributionState.empty(self.section.features)

    def update(self, state: AttributionState, rows: Rows) -> None:
        attributions = rows.attributions
        if attributions is None:
            return
        columns = {n: c.numbers for n, c in attributions.columns.items() if n in state.features}
        if columns:
            state.update_columns(columns)

    def read_state(self, blob: bytes) -> AttributionState:
        return AttributionState.from_bytes(blob)

    def write_state(self, state: AttributionState) -> bytes:
        return state.to_bytes()

    def judge(self, state: AttributionState) -> MonitorResult:
        if state.n_records == 0:
            return MonitorResult(NAME, [], frozenset(), {"status": "no_attributions"}, "no attributions")
        result = evaluate_attribution(state, self.section, self.rule)
        summary = {"status": result.status, "ndcg": result.ndcg, "threshold": result.threshold,
                   "n": result.n_records, "n_records": result.n_records,
                   "window_ranking": list(result.window_ranking), "baseline_ranking": list(result.baseline_ranking)}
        if result.ndcg is None:
            return MonitorResult(NAME, [], frozenset(), summary, f"n={result.n_records} too few",
                                 n_window=result.n_records)
        description = (f"NDCG {fmt(result.ndcg)} of the window's attribution ranking "
                       f"({', '.join(result.window_ranking[:3])}, ...) is below {fmt(result.threshold)}")
        measured = Violation(check=CHECK, monitor=NAME, metric="ndcg", statistic="ndcg", value=result.ndcg,
                             threshold=result.threshold, n_window=result.n_records,
                             n_baseline=self.section.n_records, description=description)
        key = (NAME, CHECK, "ndcg")
        sagemaker = ([{"label": self.section.label, "metric_name": "ndcg", "constraint_check_type": CHECK,
                       "description": description}] if result.drifted else [])
        return MonitorResult(
            NAME, [measured] if result.drifted else [], frozenset({key}), summary,
            f"DRIFT ndcg {fmt(result.ndcg)}" if result.drifted else f"ndcg {fmt(result.ndcg)}",
            {f"attribution/{VIOLATIONS_FILE}": {"version": "1.0", "violations": sagemaker}}, result.n_records,
            self.section.n_records, {key: measured})

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        ndcg = result.summary.get("ndcg")
        if ndcg is not None:
            sink.set_attribution_ndcg(model_id, ndcg)
