"""The data-quality monitor: a window's :class:`DatasetProfile` judged by :func:`evaluate` (drift tests plus
SageMaker's data-quality checks), the baseline prepared once per monitor."""

from __future__ import annotations

import logging
from typing import ClassVar, Final

from streamdrift.baseline.baseline import Baseline
from streamdrift.baseline.sagemaker import VIOLATIONS_FILE, violation_description
from streamdrift.columns.columns import Columns
from streamdrift.monitors.base import DataMonitor, MetricSink, MonitorResult, Rows
from streamdrift.monitors.data_quality.evaluation import (
    EvaluationConfig,
    PreparedBaseline,
    WindowEvaluation,
    drift_measurement,
    evaluate,
    prepare,
)
from streamdrift.monitors.violations import MonitorName
from streamdrift.profile.profiles import DatasetProfile, ProfileParams

NAME: Final[MonitorName] = "data_quality"
DEFAULT_MAX_FEATURES: Final[int] = 1000  # as limits.max_features
log = logging.getLogger(__name__)


def window_schema(baseline: Baseline | None) -> dict[str, str]:
    """The categorical features of the baseline, declared so in window profiles: numeric-looking values of a
    String feature (zip codes sent as numbers) feed its categories, as they did in the baseline."""
    if baseline is None:
        return {}
    return {name: c.inferred_type.value for name, c in baseline.constraints.features.items()
            if c.inferred_type.value in ("String", "Boolean")}


class DataQualityMonitor(DataMonitor[DatasetProfile]):
    """Profiles the capture rows; judges the merged profile against the baseline (none: profiles only)."""

    name: ClassVar[str] = NAME

    def __init__(self, baseline: Baseline | None, config: EvaluationConfig, params: ProfileParams,
                 max_features: int = DEFAULT_MAX_FEATURES) -> None:
        """``max_features``: features one window's profile holds at most (the baseline's always count): a
        producer inventing names cannot grow a window without bound; the names beyond are dropped and counted
        (:attr:`dropped_features`)."""
        self.baseline = baseline
        self.config = config
        self.params = params
        self._schema = window_schema(baseline)
        self._prepared: PreparedBaseline | None = None
        self._known = frozenset(baseline.profile.features) if baseline is not None else frozenset()
        self.max_features = max(max_features, len(self._known))
        self.dropped_features = 0  # feature columns left out of windows (names beyond max_features)

    def new_state(self, rows: Rows | None = None) -> DatasetProfile:
        return DatasetProfile.empty(self.params, schema=self._schema)  # type: ignore[arg-type]

    def update(self, state: DatasetProfile, rows: Rows) -> None:
        columns = rows.features
        if len(state.features) + len(self._known) + len(columns.columns) > self.max_features:  # may bind: check
            columns = self._capped(state, columns)
        state.update(columns)

    def _capped(self, state: DatasetProfile, columns: Columns) -> Columns:
        """The columns the window may take: those it has, the baseline's, and new ones while there is room."""
        room = self.max_features - len(self._known | state.features.keys())  # the baseline's names keep a place
        kept = {}
        for name, column in columns.columns.items():
            if name in state.features or name in self._known:
                kept[name] = column
            elif room > 0:
                kept[name] = column
                room -= 1
        if dropped := len(columns.columns) - len(kept):
            if not self.dropped_features:
                log.warning("a window of baseline %s reached %d features: further feature names are dropped "
                            "(limits.max_features)", self.baseline.baseline_id if self.baseline else "-",
                            self.max_features)
            self.dropped_features += dropped
        return Columns(columns.n_rows, kept)

    def read_state(self, blob: bytes) -> DatasetProfile:
        return DatasetProfile.from_bytes(blob)

    def write_state(self, state: DatasetProfile) -> bytes:
        return state.to_bytes()

    def evaluate(self, state: DatasetProfile) -> WindowEvaluation | None:
        if self.baseline is None:
            return None
        if self._prepared is None:
            self._prepared = prepare(self.baseline)
        return evaluate(state, self._prepared, self.config)

    def judge(self, state: DatasetProfile) -> MonitorResult:
        evaluation = self.evaluate(state)
        if evaluation is None:
            return MonitorResult(NAME, [], frozenset(), {"status": "no_baseline", "n": int(state.n_records)},
                                 "no baseline")
        return result_of(evaluation)

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        for r in result.summary.get("results", ()):
            sink.set_drift(model_id, r["feature"], r["statistic"], r["value"], r["threshold"])
            sink.set_drift_state(model_id, NAME, r["feature"], r["drifted"])


def result_of(evaluation: WindowEvaluation) -> MonitorResult:
    """The monitor result of an evaluation; its SageMaker file is the window's ``constraint_violations.json``."""
    sagemaker = []
    for v in evaluation.violations:
        prefix = violation_description(v.value) if v.value is not None else ""
        sagemaker.append({"feature_name": v.subject, "constraint_check_type": v.check,
                          "description": f"{prefix}{v.description}"})
    drifted = [r.feature for r in evaluation.drifted]
    verdict = ("DRIFT " + ", ".join(drifted)) if drifted else (
        f"{len(evaluation.violations)} violations" if evaluation.violations else "ok")
    return MonitorResult(
        NAME, list(evaluation.violations), evaluation.checked, {"status": "ok", **evaluation.to_dict()}, verdict,
        {VIOLATIONS_FILE: {"violations": sagemaker}}, evaluation.n_window, evaluation.n_baseline,
        {("data_quality", "baseline_drift_check", r.feature): drift_measurement(r) for r in evaluation.results},
        evaluation,
    )
