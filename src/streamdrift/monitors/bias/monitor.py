"""The bias monitor: per-window bias counts per facet from the capture rows (facet columns and predicted
outcomes; labels where the rows carry their own), judged against the baseline's intervals
(docs/bias_attribution.md). Monitor ``bias``, check ``bias_drift_check``, metric ``<facet>:<metric>``, or
``<facet>=<value>:<metric>`` when one feature has several facets."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Final

import numpy as np

from streamdrift.baseline.sagemaker import VIOLATIONS_FILE
from streamdrift.columns.chunks import role_values
from streamdrift.monitors.base import DataMonitor, MetricSink, MonitorResult, Rows, fmt
from streamdrift.monitors.bias.drift import BiasBaseline, BiasDriftConfig, BiasMetricResult, evaluate_bias
from streamdrift.monitors.bias.spec import BiasConfig
from streamdrift.monitors.bias.state import BiasState
from streamdrift.monitors.violations import CheckKey, MonitorName, Violation

NAME: Final[MonitorName] = "bias"
CHECK: Final = "bias_drift_check"


class BiasMonitor(DataMonitor[BiasState]):
    name: ClassVar[str] = NAME

    def __init__(self, section: BiasBaseline, config: BiasConfig, rule: BiasDriftConfig) -> None:
        self.section = section
        self.config = config
        self.rule = rule
        names = [f.name for f in config.facets]
        self._subjects = {(f.name, f.value_or_threshold): f.name if names.count(f.name) == 1
                          else f"{f.name}={f.value_or_threshold}" for f in config.facets}

    def new_state(self, rows: Rows | None = None) -> BiasState:
        return BiasState.empty(self.config)

    def update(self, state: BiasState, rows: Rows) -> None:
        if self.config.predicted.threshold is not None and rows.score is not None:
            predicted: Any = rows.score
        elif rows.prediction is not None:
            predicted = role_values(rows.prediction)
        else:
            return
        columns = rows.features.columns
        facets = {spec.name: role_values(columns[spec.name]) if spec.name in columns else np.full(rows.n_rows, np.nan)
                  for spec in self.config.facets}
        state.update(facets, predicted, rows.labels)

    def read_state(self, blob: bytes) -> BiasState:
        return BiasState.from_bytes(blob)

    def write_state(self, state: BiasState) -> bytes:
        return state.to_bytes()

    def subject(self, r: BiasMetricResult) -> str:
        return f"{self._subjects[(r.facet, r.value_or_threshold)]}:{r.metric}"

    def judge(self, state: BiasState) -> MonitorResult:
        n = int(state.n_records.max(initial=0))
        if n == 0:
            return MonitorResult(NAME, [], frozenset(), {"status": "no_predictions", "results": []}, "no predictions")
        results = evaluate_bias(state, self.section, self.rule)
        named = [(self.subject(r), r) for r in results]
        measured: dict[CheckKey, Violation] = {(NAME, CHECK, s): _violation(r, s) for s, r in named if r.status == "ok"}
        violations = [measured[(NAME, CHECK, s)] for s, r in named if r.drifted and r.status == "ok"]
        judged = sum(r.status == "ok" for r in results)
        verdict = ("DRIFT " + ", ".join(f"{v.metric} {fmt(v.value)}" for v in violations) if violations
                   else f"ok ({judged}/{len(results)} judged)")
        sagemaker = [{"facet": r.facet, "facet_value": r.value_or_threshold, "metric_name": r.metric,
                      "constraint_check_type": CHECK, "description": measured[(NAME, CHECK, s)].description}
                     for s, r in named if r.drifted and r.status == "ok"]
        summary = {"status": "ok", "n": n, "results": [_result_dict(r, s) for s, r in named]}
        return MonitorResult(NAME, violations, frozenset(measured), summary, verdict,
                             {f"bias/{VIOLATIONS_FILE}": {"version": "1.0", "violations": sagemaker}}, n,
                             measurements=measured)

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        for r in result.summary.get("results", ()):
            value = r["value"]
            sink.set_bias(model_id, f"{r['facet']}={r['value_or_threshold']}", r["name"],
                          math.nan if value is None else value)


def _violation(r: BiasMetricResult, subject: str) -> Violation:
    """The metric's judgement; the threshold is the bound of the allowed range the interval fell beyond."""
    lo, hi = r.allowed_range or (math.nan, math.nan)
    w_lo, w_hi = r.interval or (math.nan, math.nan)
    threshold = hi if w_lo > hi else lo
    return Violation(
        check=CHECK, monitor=NAME, metric=subject, statistic=r.metric, value=r.value, threshold=threshold,
        n_window=r.n_a + r.n_d,
        description=f"{r.metric} ({r.description}) of {r.facet}={r.value_or_threshold}: {fmt(r.value)}, interval "
                    f"[{fmt(w_lo)}, {fmt(w_hi)}] outside the allowed range [{fmt(lo)}, {fmt(hi)}] (baseline "
                    f"{fmt(r.baseline_value)})",
    )


def _result_dict(r: BiasMetricResult, subject: str) -> dict[str, Any]:
    return {"metric": subject, "facet": r.facet, "value_or_threshold": r.value_or_threshold, "name": r.metric,
            "value": r.value if math.isfinite(r.value) else None, "baseline_value": r.baseline_value,
            "interval": r.interval, "allowed_range": r.allowed_range, "drifted": r.drifted, "n_a": r.n_a,
            "n_d": r.n_d, "status": r.status}
