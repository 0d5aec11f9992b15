"""The model-quality, bias and feature-attribution monitors of ``streamdrift check`` (``WindowMonitor``s).

Each monitor keeps one mergeable state per open window, fed with the same rows as the window's profile, and
judges it against its baseline section when the window closes:

- :class:`ModelQualityMonitor` (``Baseline.model_quality``): labels from :class:`LabelJoin` (a ``--labels``
  file joined by id, else the input's own target column) with the input's predictions / scores ->
  :func:`~streamdrift.monitors.model_quality.evaluate_window`; monitor ``model_quality``, check ``model_quality_check``.
- :class:`BiasMonitor` (``Baseline.bias`` with its facet config): facet columns, predicted outcomes and labels
  -> :func:`~streamdrift.monitors.bias.evaluate_bias`; monitor ``bias``, check ``bias_drift_check``, metric
  ``<facet>:<metric>``.
- :class:`AttributionMonitor` (``Baseline.attribution``): the capture records' attributions ->
  :func:`~streamdrift.monitors.attribution.evaluate_attribution`; monitor ``attribution``, check
  ``feature_attribution_drift_check``, metric ``ndcg``.

``close_window`` returns a :class:`MonitorWindow`: violations, every check that was judged (so clean windows
count towards clearing an event), a JSON summary and SageMaker-format violation files for the window directory.
Binary labels and predicted labels are mapped to 1 / 0 with the bias config's positive label when the baseline
has one, else ``1`` / ``true`` (build_baseline's default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.baseline import Baseline
from streamdrift.baseline.sagemaker import VIOLATIONS_FILE
from streamdrift.columns.chunks import (
    BadLineCallback,
    Chunk,
    RoleColumns,
    role_binary_like,
    role_floats,
    role_labels,
    role_present,
    role_values,
)
from streamdrift.columns.columns import column_from_values
from streamdrift.errors import ConfigError, InputFileError
from streamdrift.events.events import Monitor
from streamdrift.ingest.files import iter_chunks
from streamdrift.monitors.attribution import AttributionBaseline, AttributionState, evaluate_attribution
from streamdrift.monitors.bias import BiasBaseline, BiasMetricResult, BiasState, OutcomeSpec, evaluate_bias
from streamdrift.monitors.data_quality.evaluation import CheckKey, Violation
from streamdrift.monitors.model_quality import (
    CHECK,
    BinaryQualityState,
    MetricCheck,
    MetricConstraint,
    ModelQualityBaseline,
    ModelQualityConstraints,
    QualityRuleConfig,
    QualityState,
    RegressionQualityState,
    constraint_violations,
    constraints_from_dict,
    evaluate_window,
)
from streamdrift.monitors.model_quality.metrics import HIGHER_IS_BETTER
from streamdrift.window.joinstore import JoinStore

QUALITY: Final[Monitor] = "model_quality"  # == modelquality.QUALITY
BIAS: Final[Monitor] = "bias"
ATTRIBUTION: Final[Monitor] = "attribution"
BIAS_CHECK: Final[str] = "bias_drift_check"
ATTRIBUTION_CHECK: Final[str] = "feature_attribution_drift_check"
LABEL_ID_COLUMN: Final[str] = "inference_id"
LABEL_COLUMN: Final[str] = "label"
_JOIN_MODEL: Final[str] = ""  # one model per check run: the join key is the id alone
_NEVER: Final[int] = 1 << 62  # label arrival time: labels loaded up front never expire


@dataclass(frozen=True)
class MonitorWindow:
    """One monitor's result for one closed window."""

    monitor: str
    violations: list[Violation]
    checked: frozenset[CheckKey]
    summary: dict[str, Any]
    verdict: str  # short text for the summary table
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # window-relative path -> JSON document


# ---------------------------------------------------------------- labels


@dataclass
class LabelCounts:
    labels: int = 0  # label rows read from --labels (with an id)
    duplicate_labels: int = 0
    labels_without_id: int = 0
    records: int = 0  # input rows the join saw
    matched: int = 0  # input rows given a --labels label
    embedded: int = 0  # input rows labelled by their own target column (no --labels match)
    unmatched_labels: int = 0  # labels no input row claimed (set by finish())

    @property
    def records_without_label(self) -> int:
        return self.records - self.matched - self.embedded

    def to_dict(self) -> dict[str, int]:
        return {"labels": self.labels, "duplicate_labels": self.duplicate_labels,
                "labels_without_id": self.labels_without_id, "records": self.records, "matched": self.matched,
                "embedded": self.embedded, "unmatched_labels": self.unmatched_labels,
                "records_without_label": self.records_without_label}


class LabelJoin:
    """Labels of the input's rows: a ``--labels`` file joined by id (a :class:`JoinStore`, which spills to
    SQLite beyond ``max_memory_items``), falling back to the input's own target values."""

    def __init__(self, store: JoinStore | None = None, counts: LabelCounts | None = None) -> None:
        self._store = store
        self.counts = counts or LabelCounts()
        self._chunk: Chunk | None = None
        self._labels: NDArray[Any] | None = None

    @property
    def joins(self) -> bool:
        return self._store is not None

    @classmethod
    def load(cls, path: str | Path, *, id_column: str | None, target: str | None, fmt: str | None = None,
             chunk_rows: int = 100_000, max_memory_items: int = 1_000_000,
             on_bad_line: BadLineCallback | None = None) -> LabelJoin:
        """Read a label file: our label records (JSON Lines: inference_id, label) or a CSV / Parquet / JSON Lines
        table with ``id_column`` (default ``inference_id``) and ``target`` (default ``label``)."""
        store = JoinStore(None, max_memory_items=max_memory_items, ttl_ms=_NEVER)
        counts = LabelCounts()
        id_name = id_column or LABEL_ID_COLUMN
        names = [n for n in (target, LABEL_COLUMN) if n is not None]
        found = False
        for chunk in iter_chunks(path, fmt=fmt, chunk_rows=chunk_rows, id_column=id_name,
                                 roles=RoleColumns(target=names[0]), on_bad_line=on_bad_line):
            labels = chunk.targets
            if labels is None and LABEL_COLUMN in chunk.columns.columns:
                labels = role_values(chunk.columns.columns[LABEL_COLUMN])
            if labels is None or chunk.ids is None:
                continue
            found = True
            has_id = chunk.ids != None  # noqa: E711 - element-wise None test
            counts.labels_without_id += int((~has_id).sum())
            ids = chunk.ids[has_id]
            result = store.add_labels([_JOIN_MODEL] * ids.size, ids, labels[has_id], now_ms=_NEVER)
            counts.labels += int(ids.size)
            counts.duplicate_labels += result.counts.duplicate_label
        if not found:
            store.close()
            raise InputFileError(f"{path}: no label column ({' or '.join(repr(n) for n in names)}) with ids "
                                 f"({id_name!r}) found; pass --id-column / set the baseline's target")
        return cls(store, counts)

    def labels(self, chunk: Chunk) -> NDArray[Any] | None:
        """Labels of every row of ``chunk`` (float64 with NaN, or object text with None); None when none."""
        if chunk is not self._chunk:
            self._chunk, self._labels = chunk, self._compute(chunk)
        return self._labels

    def _compute(self, chunk: Chunk) -> NDArray[Any] | None:
        n = chunk.columns.n_rows
        self.counts.records += n
        joined = self._join(self._store, chunk) if self._store is not None else None
        embedded = chunk.targets
        if joined is None:
            if embedded is not None:
                self.counts.embedded += int(role_present(embedded).sum())
            return embedded
        have = role_present(joined)
        self.counts.matched += int(have.sum())
        if embedded is None or have.all():
            return joined
        fill = ~have & role_present(embedded)
        self.counts.embedded += int(fill.sum())
        merged: list[object] = joined.tolist()
        for i in np.flatnonzero(fill).tolist():
            merged[i] = embedded[i].item() if isinstance(embedded[i], np.generic) else embedded[i]
        return _label_array(merged)

    @staticmethod
    def _join(store: JoinStore, chunk: Chunk) -> NDArray[Any]:
        if chunk.ids is None:
            raise ConfigError("joining --labels needs row ids: pass --id-column (capture records use inference_id)")
        ids: list[object] = chunk.ids.tolist()
        keyed = [i for i, v in enumerate(ids) if v is not None]
        result = store.add_predictions([_JOIN_MODEL] * len(keyed), [ids[i] for i in keyed],
                                             np.zeros(len(keyed), dtype=np.int64), [None] * len(keyed))
        position: dict[object, int] = {}
        for i in keyed:
            position.setdefault(ids[i], i)
        out: list[object] = [None] * len(ids)
        for iid, label in zip(result.rows.inference_ids, result.rows.labels.tolist(), strict=True):
            out[position[iid]] = label
        return _label_array(out)

    def finish(self) -> LabelCounts:
        """Close the join store; the labels still pending are the unmatched ones."""
        if self._store is not None:
            self.counts.unmatched_labels = self._store.pending_labels
            self._store.close()
        return self.counts


def _label_array(values: list[object]) -> NDArray[Any]:
    """Python label values as a role array (float64 with NaN when all are numbers / booleans, else text)."""
    return role_values(column_from_values(values))


# ---------------------------------------------------------------- model quality


def _fmt(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.4g}"


class ModelQualityMonitor:
    """Per-window model-quality states joined with labels, judged with the model-quality drift rule."""

    monitor: ClassVar[str] = QUALITY

    def __init__(self, section: ModelQualityBaseline, labels: LabelJoin, positive: OutcomeSpec,
                 config: QualityRuleConfig | None = None,
                 sagemaker_constraints: ModelQualityConstraints | None = None) -> None:
        self._section = section
        self._labels = labels
        self._positive = positive
        self._config = config or QualityRuleConfig()
        self._constraints = sagemaker_constraints
        self._states: dict[int, QualityState] = {}
        self._seen = {"labels": False, "predictions": False}

    def update(self, window_key: int, chunk: Chunk, rows: NDArray[np.intp]) -> None:
        state = self._states.get(window_key)
        if state is None:
            state = self._states[window_key] = self._section.new_state()
        labels = self._labels.labels(chunk)
        self._seen["predictions"] |= chunk.predictions is not None or chunk.scores is not None
        if labels is None or not self._seen["predictions"]:
            return
        y = labels[rows]
        keep = rows[role_present(y)]
        if keep.size == 0:
            return
        self._seen["labels"] = True
        pred = None if chunk.predictions is None else chunk.predictions[keep]
        score = None if chunk.scores is None else chunk.scores[keep]
        self._update(state, labels[keep], pred, score)

    def _update(self, state: QualityState, y: NDArray[Any], pred: NDArray[Any] | None,
                score: NDArray[Any] | None) -> None:
        if isinstance(state, BinaryQualityState):
            scores = None if score is None else role_floats(score, "score")
            if pred is not None and scores is None and not role_binary_like(pred):
                scores, pred = role_floats(pred, "prediction"), None
            if pred is None and scores is None:
                return
            state.update(self._outcome(y), None if pred is None else self._outcome(pred), scores)
        elif pred is None:
            return
        elif isinstance(state, RegressionQualityState):
            state.update(role_floats(y, "label"), role_floats(pred, "prediction"))
        else:
            keep = role_present(pred)
            state.update(role_labels(y[keep]), role_labels(pred[keep]))

    def _outcome(self, values: NDArray[Any]) -> NDArray[np.float64]:
        positive, present = self._positive.positive(values)
        return np.where(present, positive.astype(np.float64), np.nan)

    def close(self, window_key: int) -> list[Violation]:
        return self.close_window(window_key).violations

    def close_window(self, window_key: int) -> MonitorWindow:
        state = self._states.pop(window_key, None)
        n = 0 if state is None else state.n
        if state is None or n == 0:
            status = "no_labels" if self._seen["predictions"] else "no_predictions"
            return MonitorWindow(QUALITY, [], frozenset(), {"status": status, "n": 0}, status)
        evaluation = evaluate_window(state, self._section, self._config)
        violations = [self._violation(c) for c in evaluation.violations]
        checked = frozenset((QUALITY, CHECK, c.metric) for c in evaluation.checks) if evaluation.enough_records \
            else frozenset()
        summary = {
            "status": "ok" if evaluation.enough_records else "insufficient_records",
            "n": n, "problem_type": evaluation.problem_type.value,
            "metrics": {k: v.value for k, v in evaluation.metrics.metrics.items() if math.isfinite(v.value)},
            "checks": [{"metric": c.metric, "value": c.value, "baseline_value": c.baseline_value,
                        "threshold": c.threshold, "p_value": c.p_value, "drifted": c.drifted}
                       for c in evaluation.checks],
        }
        head = evaluation.checks[0] if evaluation.checks else None
        verdict = f"{head.metric} {_fmt(head.value)}" if head is not None else f"n={n}"
        if violations:
            verdict += " DRIFT " + ",".join(c.metric for c in evaluation.violations)
        elif not evaluation.enough_records:
            verdict += f" (n={n} < {self._config.min_records})"
        return MonitorWindow(QUALITY, violations, checked, summary, verdict,
                             {f"model_quality/{VIOLATIONS_FILE}": {"violations": self._sagemaker(evaluation)}})

    def _violation(self, c: MetricCheck) -> Violation:
        direction = "below" if c.metric in HIGHER_IS_BETTER else "above"
        return Violation(
            check=CHECK, monitor=QUALITY, metric=c.metric, statistic=c.metric, value=c.value, threshold=c.threshold,
            p_value=c.p_value, n_window=c.n, n_baseline=self._section.n,
            description=f"{c.metric} {_fmt(c.value)} is {direction} {_fmt(c.threshold)} (baseline "
                        f"{_fmt(c.baseline_value)}, p={c.p_value:.3g})",
        )

    def _sagemaker(self, evaluation: Any) -> list[dict[str, str]]:
        """SageMaker model-quality violations: against imported SageMaker constraints when the baseline has
        them (SageMaker's semantics), else the metrics our rule flagged, with the rule's thresholds."""
        if self._constraints is not None:
            return constraint_violations(evaluation.metrics.metrics, self._constraints)
        flagged = {c.metric: MetricConstraint(c.threshold, "LessThanThreshold" if c.metric in HIGHER_IS_BETTER
                                              else "GreaterThanThreshold") for c in evaluation.violations}
        return constraint_violations(evaluation.metrics.metrics,
                                     ModelQualityConstraints(evaluation.problem_type, flagged))


# ---------------------------------------------------------------- bias


class BiasMonitor:
    """Per-window bias counts per facet, judged against the baseline's intervals (docs/bias_attribution.md)."""

    monitor: ClassVar[str] = BIAS

    def __init__(self, section: BiasBaseline, labels: LabelJoin) -> None:
        if section.config is None:
            raise ConfigError("the bias baseline has no facet config (imported from Clarify): cannot count windows")
        self._section = section
        self._config = section.config
        self._labels = labels
        self._states: dict[int, BiasState] = {}
        names = [f.name for f in self._config.facets]
        self._subjects = [f"{f.name}:" if names.count(f.name) == 1 else f"{f.name}={f.value_or_threshold}:"
                          for f in self._config.facets]

    def update(self, window_key: int, chunk: Chunk, rows: NDArray[np.intp]) -> None:
        state = self._states.get(window_key)
        if state is None:
            state = self._states[window_key] = BiasState.empty(self._config)
        predicted = chunk.scores if self._config.predicted.threshold is not None else chunk.predictions
        if predicted is None:
            return
        labels = self._labels.labels(chunk)
        facets = {}
        for spec in self._config.facets:
            column = chunk.columns.columns.get(spec.name)
            facets[spec.name] = np.full(rows.size, np.nan) if column is None else role_values(column)[rows]
        state.update(facets, predicted[rows], None if labels is None else labels[rows])

    def close(self, window_key: int) -> list[Violation]:
        return self.close_window(window_key).violations

    def close_window(self, window_key: int) -> MonitorWindow:
        state = self._states.pop(window_key, None)
        if state is None or int(state.n_records.sum()) == 0:
            return MonitorWindow(BIAS, [], frozenset(), {"status": "no_predictions"}, "no predictions")
        results = evaluate_bias(state, self._section)
        index = {(f.name, f.value_or_threshold): i for i, f in enumerate(self._config.facets)}
        named = [(self._subjects[index[(r.facet, r.value_or_threshold)]] + r.metric, r) for r in results]
        drifted = [(subject, r, self._violation(r, subject)) for subject, r in named if r.drifted]
        violations = [v for _, _, v in drifted]
        checked = frozenset((BIAS, BIAS_CHECK, subject) for subject, r in named if r.status == "ok")
        summary = {"status": "ok", "results": [_bias_dict(r, subject) for subject, r in named]}
        judged = sum(r.status == "ok" for r in results)
        verdict = ("DRIFT " + ", ".join(f"{subject} {_fmt(r.value)}" for subject, r, _ in drifted) if drifted
                   else f"ok ({judged}/{len(results)} judged)")
        sagemaker = [{"facet": r.facet, "facet_value": r.value_or_threshold, "metric_name": r.metric,
                      "constraint_check_type": BIAS_CHECK, "description": v.description} for _, r, v in drifted]
        return MonitorWindow(BIAS, violations, checked, summary, verdict,
                             {f"bias/{VIOLATIONS_FILE}": {"version": "1.0", "violations": sagemaker}})

    def _violation(self, r: BiasMetricResult, subject: str) -> Violation:
        lo, hi = r.allowed_range or (math.nan, math.nan)
        w_lo, w_hi = r.interval or (math.nan, math.nan)
        threshold = hi if w_lo > hi else lo
        return Violation(
            check=BIAS_CHECK, monitor=BIAS, metric=subject, statistic=r.metric, value=r.value,
            threshold=threshold, n_window=r.n_a + r.n_d,
            description=f"{r.metric} ({r.description}) of {r.facet}={r.value_or_threshold}: {_fmt(r.value)}, "
                        f"interval [{_fmt(w_lo)}, {_fmt(w_hi)}] outside the allowed range [{_fmt(lo)}, "
                        f"{_fmt(hi)}] (baseline {_fmt(r.baseline_value)})",
        )


def _bias_dict(r: BiasMetricResult, subject: str) -> dict[str, Any]:
    return {"metric": subject, "facet": r.facet, "value_or_threshold": r.value_or_threshold, "name": r.metric,
            "value": r.value if math.isfinite(r.value) else None, "baseline_value": r.baseline_value,
            "interval": r.interval, "allowed_range": r.allowed_range, "drifted": r.drifted, "n_a": r.n_a,
            "n_d": r.n_d, "status": r.status}


# ---------------------------------------------------------------- attribution


class AttributionMonitor:
    """Per-window mean |attribution| per feature from the capture records, NDCG against the baseline."""

    monitor: ClassVar[str] = ATTRIBUTION

    def __init__(self, section: AttributionBaseline) -> None:
        self._section = section
        self._states: dict[int, AttributionState] = {}

    def update(self, window_key: int, chunk: Chunk, rows: NDArray[np.intp]) -> None:
        state = self._states.get(window_key)
        if state is None:
            state = self._states[window_key] = AttributionState.empty(self._section.features)
        if chunk.attributions is None:
            return
        columns = chunk.attributions.columns
        state.update_columns({name: columns[name].numbers[rows] for name in state.features if name in columns})

    def close(self, window_key: int) -> list[Violation]:
        return self.close_window(window_key).violations

    def close_window(self, window_key: int) -> MonitorWindow:
        state = self._states.pop(window_key, None)
        if state is None or state.n_records == 0:
            return MonitorWindow(ATTRIBUTION, [], frozenset(), {"status": "no_attributions"}, "no attributions")
        result = evaluate_attribution(state, self._section)
        summary = {"status": result.status, "ndcg": result.ndcg, "threshold": result.threshold,
                   "n": result.n_records, "window_ranking": list(result.window_ranking),
                   "baseline_ranking": list(result.baseline_ranking)}
        if result.ndcg is None:
            return MonitorWindow(ATTRIBUTION, [], frozenset(), summary, f"n={result.n_records} too few")
        checked = frozenset({(ATTRIBUTION, ATTRIBUTION_CHECK, "ndcg")})
        if not result.drifted:
            return MonitorWindow(ATTRIBUTION, [], checked, summary, f"ndcg {_fmt(result.ndcg)}",
                                 {f"attribution/{VIOLATIONS_FILE}": {"version": "1.0", "violations": []}})
        description = (f"NDCG {_fmt(result.ndcg)} of the window's attribution ranking "
                       f"({', '.join(result.window_ranking[:3])}, ...) is below {_fmt(result.threshold)}")
        violation = Violation(check=ATTRIBUTION_CHECK, monitor=ATTRIBUTION, metric="ndcg", statistic="ndcg",
                              value=result.ndcg, threshold=result.threshold, n_window=result.n_records,
                              n_baseline=self._section.n_records, description=description)
        sagemaker = {"label": self._section.label, "metric_name": "ndcg",
                     "constraint_check_type": ATTRIBUTION_CHECK, "description": description}
        return MonitorWindow(ATTRIBUTION, [violation], checked, summary, f"DRIFT ndcg {_fmt(result.ndcg)}",
                             {f"attribution/{VIOLATIONS_FILE}": {"version": "1.0", "violations": [sagemaker]}})


# ---------------------------------------------------------------- assembly


def _positive_label(baseline: Baseline) -> OutcomeSpec:
    config = (baseline.bias or {}).get("config")
    if isinstance(config, dict) and isinstance(config.get("label"), dict):
        return OutcomeSpec.from_dict(config["label"])
    return OutcomeSpec(values=(1, True))


def _imported_constraints(section: dict[str, Any]) -> ModelQualityConstraints | None:
    from streamdrift.baseline.sagemaker import MQ_CONSTRAINTS_KEY

    raw = section.get(MQ_CONSTRAINTS_KEY)
    return constraints_from_dict(raw) if isinstance(raw, dict) else None


def build_monitors(baseline: Baseline, labels: LabelJoin,
                   quality: QualityRuleConfig | None = None) -> list[ModelQualityMonitor | BiasMonitor |
                                                                       AttributionMonitor]:
    """The monitors the baseline has sections for (bias only with a facet config). Model quality needs labels:
    it is built when the baseline has a model_quality section (rows without a label are simply not counted)."""
    out: list[ModelQualityMonitor | BiasMonitor | AttributionMonitor] = []
    if baseline.model_quality is not None:
        section = ModelQualityBaseline.from_dict(baseline.model_quality)
        out.append(ModelQualityMonitor(section, labels, _positive_label(baseline), quality,
                                       _imported_constraints(baseline.model_quality)))
    if baseline.bias is not None:
        bias = BiasBaseline.from_dict(baseline.bias)
        if bias.config is not None:
            out.append(BiasMonitor(bias, labels))
    if baseline.attribution is not None:
        out.append(AttributionMonitor(AttributionBaseline.from_dict(baseline.attribution)))
    return out


def monitor_names(monitors: Sequence[object]) -> list[str]:
    return [str(getattr(m, "monitor", type(m).__name__)) for m in monitors]
