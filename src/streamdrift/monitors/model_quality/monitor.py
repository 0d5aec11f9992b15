"""The model-quality monitor: per-window quality states of the rows the label join completed, judged with the
model-quality drift rule against the baseline's section (docs/model_quality.md).

Rows arrive as the join gives them (:class:`~streamdrift.monitors.base.LabelledRows`): the prediction (a class,
a value, or NaN when the record only had a score), its score (NaN where none) and the ground truth. Binary
labels and predicted classes map to 1 / 0 through the positive outcome (the bias config's label when the
baseline has one, else ``1`` / ``true``); a binary model's numeric non-0/1 predictions without a score are read
as scores. A model without a baseline section gets the problem type inferred from its first labelled rows and
its metrics reported, nothing judged.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.sagemaker import VIOLATIONS_FILE
from streamdrift.columns.chunks import role_labels, role_present
from streamdrift.monitors.base import LabelledRows, LabelsMonitor, MetricSink, MonitorResult, fmt
from streamdrift.monitors.bias import OutcomeSpec
from streamdrift.monitors.model_quality.baseline import ModelQualityBaseline, infer_problem_type, new_state
from streamdrift.monitors.model_quality.metrics import HIGHER_IS_BETTER, ProblemType, compute_metrics
from streamdrift.monitors.model_quality.rule import (
    CHECK,
    QualityEvaluation,
    QualityRuleConfig,
    evaluate_quality,
)
from streamdrift.monitors.model_quality.sagemaker_format import (
    MetricConstraint,
    ModelQualityConstraints,
    constraint_violations,
)
from streamdrift.monitors.model_quality.state import (
    BinaryQualityState,
    QualityState,
    RegressionQualityState,
    state_from_bytes,
)
from streamdrift.monitors.violations import MonitorName

NAME: Final[MonitorName] = "model_quality"
DEFAULT_POSITIVE: Final = OutcomeSpec(values=(1, True))


def _floats(values: NDArray[Any]) -> NDArray[np.float64]:
    """Numbers as float64; text rows (of a numeric problem: invalid) as NaN."""
    if values.dtype.kind == "f":
        return values
    out = np.full(values.shape[0], np.nan)
    numeric = np.fromiter((isinstance(v, int | float) and not isinstance(v, bool) for v in values.tolist()),
                          dtype=bool, count=values.shape[0])
    if numeric.any():
        out[numeric] = values[numeric].astype(np.float64)
    return out


class ModelQualityMonitor(LabelsMonitor[QualityState]):
    """Model quality of one model (its baseline section may be None: metrics without judgement)."""

    name: ClassVar[str] = NAME

    def __init__(self, section: ModelQualityBaseline | None, config: QualityRuleConfig,
                 positive: OutcomeSpec = DEFAULT_POSITIVE, sagemaker: ModelQualityConstraints | None = None) -> None:
        self.section = section
        self.config = config
        self.positive = positive
        self.sagemaker = sagemaker
        self._kind: ProblemType | None = None if section is None else section.problem_type

    # ------------------------------------------------------------ state

    def problem_type(self, rows: LabelledRows | None = None) -> ProblemType | None:
        """The baseline's problem type, or the one inferred from the first labelled rows seen."""
        if self._kind is None and rows is not None and rows.n_rows:
            pred = rows.y_pred
            has_pred = pred.dtype.kind != "f" or bool(np.isfinite(pred).any())
            has_score = bool(np.isfinite(rows.score).any())
            self._kind = infer_problem_type(rows.y_true, pred if has_pred else None,
                                            rows.score if has_score else None)
        return self._kind

    def new_state(self, rows: LabelledRows | None = None) -> QualityState:
        if self.section is not None:
            return self.section.new_state()
        kind = self.problem_type(rows)
        return new_state(kind if kind is not None else ProblemType.BINARY)

    def read_state(self, blob: bytes) -> QualityState:
        return state_from_bytes(blob)

    def write_state(self, state: QualityState) -> bytes:
        return state.to_bytes()

    def usable(self, rows: LabelledRows) -> NDArray[np.bool_]:
        """Rows the state can count: a ground truth, and a prediction (or score) of the problem's type."""
        kind = self.problem_type(rows)
        truth, pred, score = rows.y_true, rows.y_pred, rows.score
        if kind is ProblemType.MULTICLASS:
            return role_present(truth) & role_present(pred)
        if kind is ProblemType.REGRESSION:
            return np.isfinite(_floats(truth)) & np.isfinite(_floats(pred))
        _, truth_ok = self._outcome(truth)
        _, pred_ok = self._outcome(pred)
        return np.asarray(truth_ok & (pred_ok | np.isfinite(score) | np.isfinite(_floats(pred))), dtype=bool)

    def update(self, state: QualityState, rows: LabelledRows) -> None:
        if rows.n_rows == 0:
            return
        if isinstance(state, BinaryQualityState):
            y, _ = self._outcome(rows.y_true)
            pred, pred_ok = self._outcome(rows.y_pred)
            score = rows.score
            if not np.isfinite(score).any():
                numbers = _floats(rows.y_pred)
                if not pred_ok.all() or not np.isin(numbers[np.isfinite(numbers)], (0.0, 1.0)).all():
                    score = numbers  # numeric predictions that are not classes: scores
                    pred_ok = np.zeros_like(pred_ok)
            state.update(y, pred if pred_ok.all() else None, score if np.isfinite(score).any() else None)
        elif isinstance(state, RegressionQualityState):
            state.update(_floats(rows.y_true), _floats(rows.y_pred))
        else:
            state.update(role_labels(rows.y_true), role_labels(rows.y_pred))

    def errors(self, rows: LabelledRows) -> NDArray[np.float64]:
        """Per-row error (0/1 for classes, |error| for regression) of usable rows: the concept-drift stream."""
        kind = self.problem_type(rows)
        if kind is ProblemType.REGRESSION:
            return np.asarray(np.abs(_floats(rows.y_pred) - _floats(rows.y_true)), dtype=np.float64)
        if kind is ProblemType.MULTICLASS:
            return np.asarray(role_labels(rows.y_true) != role_labels(rows.y_pred), dtype=np.float64)
        return np.asarray(self._predicted(rows) != self._outcome(rows.y_true)[0], dtype=np.float64)

    def _predicted(self, rows: LabelledRows) -> NDArray[np.float64]:
        """A binary model's predicted outcome per row: its class, else score >= threshold, else a numeric
        prediction read as a score."""
        outcome, present = self._outcome(rows.y_pred)
        numbers = _floats(rows.y_pred)
        is_class = present & (np.isin(numbers, (0.0, 1.0)) | np.isnan(numbers))
        threshold = self.section.threshold if self.section is not None else 0.5
        by_score = np.where(np.isfinite(rows.score), rows.score >= threshold, numbers >= threshold)
        return np.where(is_class, outcome, by_score.astype(np.float64))

    def _outcome(self, values: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        positive, present = self.positive.positive(values)
        return np.where(present, positive.astype(np.float64), np.nan), present

    # ------------------------------------------------------------ judgement

    def judge(self, state: QualityState) -> MonitorResult:
        n = int(state.n)
        if n == 0:
            return MonitorResult(NAME, [], frozenset(), {"status": "no_labels", "n": 0, "n_labelled": 0,
                                                         "evaluated": False}, "no labels")
        if self.section is None:
            metrics = compute_metrics(state)
            values = {k: v.value for k, v in metrics.metrics.items()}
            return MonitorResult(NAME, [], frozenset(), {
                "status": "no_baseline", "n": n, "n_labelled": n, "problem_type": metrics.problem_type.value,
                "metrics": values, "evaluated": False}, f"n={n} (no baseline)", n_window=n)
        metrics = compute_metrics(state, r2_convention=self.section.r2_convention)
        evaluation = evaluate_quality(metrics, self.section.metrics, self.config)
        measurements = {(NAME, CHECK, c.metric): c.violation(check=CHECK, monitor=NAME, n_baseline=self.section.n) for c in evaluation.checks}
        violations = [measurements[(NAME, CHECK, c.metric)] for c in evaluation.violations]
        checked = frozenset(measurements) if evaluation.enough_records else frozenset()
        values = {k: v.value for k, v in evaluation.metrics.metrics.items()}
        summary = {
            "status": "ok" if evaluation.enough_records else "insufficient_records",
            "n": n, "n_labelled": n, "problem_type": evaluation.problem_type.value, "metrics": values,
            "evaluated": evaluation.enough_records,
            "checks": [{"metric": c.metric, "value": c.value, "baseline_value": c.baseline_value,
                        "threshold": c.threshold, "p_value": c.p_value, "drifted": c.drifted}
                       for c in evaluation.checks],
        }  # fmt: skip
        head = evaluation.checks[0] if evaluation.checks else None
        verdict = f"{head.metric} {fmt(head.value)}" if head is not None else f"n={n}"
        if violations:
            verdict += " DRIFT " + ",".join(c.metric for c in evaluation.violations)
        elif not evaluation.enough_records:
            verdict += f" (n={n} < {self.config.min_records})"
        files = {f"model_quality/{VIOLATIONS_FILE}": {"violations": self._sagemaker(evaluation)}}
        return MonitorResult(NAME, violations, checked, summary, verdict, files, n, self.section.n, measurements)

    def _sagemaker(self, evaluation: QualityEvaluation) -> list[dict[str, str]]:
        """SageMaker model-quality violations: against imported SageMaker constraints when the baseline has
        them (SageMaker's semantics), else the metrics our rule flagged, with the rule's thresholds."""
        if self.sagemaker is not None:
            return constraint_violations(evaluation.metrics.metrics, self.sagemaker)
        flagged = {c.metric: MetricConstraint(c.threshold, "LessThanThreshold" if c.metric in HIGHER_IS_BETTER
                                              else "GreaterThanThreshold") for c in evaluation.violations}
        return constraint_violations(evaluation.metrics.metrics,
                                     ModelQualityConstraints(evaluation.problem_type, flagged))

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        for metric, value in result.summary.get("metrics", {}).items():
            sink.set_model_quality(model_id, metric, value)

