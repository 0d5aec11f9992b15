"""The monitor sections of a baseline build (model quality, bias, attribution), streamed over the same chunks
as the profile; the rules are in :mod:`streamdrift.baseline.build`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.clarify import ClarifyAnalysis
from streamdrift.columns.chunks import (
    Chunk,
    role_binary_like,
    role_floats,
    role_labels,
    role_present,
    role_values,
)
from streamdrift.columns.columns import Columns
from streamdrift.errors import InputFileError, StreamdriftError
from streamdrift.monitors.attribution import AttributionBaseline, AttributionState
from streamdrift.monitors.bias import BiasBaseline, BiasConfig, BiasState, OutcomeSpec
from streamdrift.monitors.estimated_performance.fit import build_multiclass_section, build_section
from streamdrift.monitors.model_quality import (
    BinaryQualityState,
    MulticlassQualityState,
    ProblemType,
    QualityState,
    RegressionQualityState,
    baseline_from_state,
    infer_problem_type,
    new_state,
)

if TYPE_CHECKING:
    from streamdrift.baseline.build import MonitorOptions

__all__ = ["SectionBuilder", "numeric_columns"]


def numeric_columns(cols: Columns) -> dict[str, NDArray[np.float64]]:
    """Attribution values per feature: the columns with at least one number (text columns such as ids left out)."""
    return {name: col.numbers for name, col in cols.columns.items() if np.isfinite(col.numbers).any()}


class SectionBuilder:
    """Streams the model-quality, bias and attribution states over the chunks of one build."""

    def __init__(self, target: str | None, prediction: str | None, score: str | None, options: MonitorOptions):
        self._names = (target, prediction, score)
        self._options = options
        self._quality: QualityState | None = None
        self._correctness: BinaryQualityState | None = None  # multiclass: right / wrong by the predicted class's score
        self._bias = BiasState.empty(BiasConfig(options.facets, self._predicted_spec(), options.positive)) \
            if options.facets else None
        self._facets_seen: set[str] = set()
        self._bias_rows = 0
        self._attribution: AttributionState | None = None

    def _predicted_spec(self) -> OutcomeSpec:
        threshold = self._options.score_threshold
        return OutcomeSpec(threshold=threshold) if threshold is not None else self._options.positive

    def _role(self, cols: Columns, chunk: Chunk | None, index: int) -> NDArray[Any] | None:
        from_chunk = None if chunk is None else (chunk.targets, chunk.predictions, chunk.scores)[index]
        name = self._names[index]
        if from_chunk is None and name is not None and name in cols.columns:
            from_chunk = role_values(cols.columns[name])
        if from_chunk is None or not role_present(from_chunk).any():
            return None
        return from_chunk

    def update(self, cols: Columns, chunk: Chunk | None) -> set[str]:
        """Add one chunk; returns the role names it carried."""
        target, prediction, score = (self._role(cols, chunk, i) for i in range(3))
        try:
            if target is not None and (prediction is not None or score is not None):
                self._update_quality(target, prediction, score)
            if self._bias is not None:
                self._update_bias(self._bias, cols, target, prediction, score)
        except StreamdriftError as exc:
            if isinstance(exc, InputFileError):
                raise
            raise InputFileError(f"cannot build the monitor baselines: {exc}") from exc
        if chunk is not None and chunk.attributions is not None:
            self.update_attributions(numeric_columns(chunk.attributions))
        carried = (target is not None or _has(chunk, "targets"), prediction is not None or _has(chunk, "predictions"),
                   score is not None or _has(chunk, "scores"))
        in_columns = {n for n in self._names if n is not None and n in cols.columns}
        return in_columns | {n for n, c in zip(self._names, carried, strict=True) if c and n is not None}

    # ---- model quality

    def _quality_kind(self, target: NDArray[Any], prediction: NDArray[Any] | None,
                      score: NDArray[Any] | None) -> ProblemType:
        if self._options.problem_type != "auto":
            return ProblemType(self._options.problem_type)
        present = target[role_present(target)]
        distinct = np.unique(role_labels(present).astype(str)).astype(object)
        positive = self._options.positive.positive(distinct)[0]
        if (distinct.size == 2 and positive.sum() == 1) or (distinct.size <= 2 and score is not None):
            return ProblemType.BINARY
        return infer_problem_type(present, None if prediction is None else prediction[role_present(target)],
                                  None if score is None else score[role_present(target)])

    def _update_quality(self, target: NDArray[Any], prediction: NDArray[Any] | None,
                        score: NDArray[Any] | None) -> None:
        if self._quality is None:
            kind = self._quality_kind(target, prediction, score)
            threshold = self._options.score_threshold
            self._quality = new_state(kind, threshold=0.5 if threshold is None else threshold)
        state = self._quality
        if isinstance(state, BinaryQualityState):
            self._update_binary(state, target, prediction, score)
            return
        if prediction is None:
            raise InputFileError(f"a {type(state).__name__} baseline needs the prediction column")
        if isinstance(state, RegressionQualityState):
            state.update(role_floats(target, "target"), role_floats(prediction, "prediction"))
            return
        keep = role_present(target) & role_present(prediction)
        truth, predicted = role_labels(target[keep]), role_labels(prediction[keep])
        state.update(truth, predicted)
        if self._options.estimated_performance and score is not None:  # is the predicted class right, by score
            if self._correctness is None:
                self._correctness = BinaryQualityState.empty(0.0)
            right = np.asarray(truth == predicted, dtype=np.float64)
            self._correctness.update(right, score=role_floats(score, "score")[keep])

    def _outcome(self, values: NDArray[Any]) -> NDArray[np.float64]:
        positive, present = self._options.positive.positive(values)
        return np.where(present, positive.astype(np.float64), np.nan)

    def _update_binary(self, state: BinaryQualityState, target: NDArray[Any], prediction: NDArray[Any] | None,
                       score: NDArray[Any] | None) -> None:
        scores = None if score is None else role_floats(score, "score")
        if prediction is not None and scores is None and not role_binary_like(prediction):
            scores, prediction = role_floats(prediction, "prediction"), None  # a score-like prediction column
        state.update(self._outcome(target), None if prediction is None else self._outcome(prediction), scores)

    # ---- bias

    def _update_bias(self, bias: BiasState, cols: Columns, target: NDArray[Any] | None,
                     prediction: NDArray[Any] | None, score: NDArray[Any] | None) -> None:
        predicted = score if self._options.score_threshold is not None else prediction
        if predicted is None:
            return
        facets = {}
        for spec in self._options.facets:
            column = cols.columns.get(spec.name)
            facets[spec.name] = np.full(cols.n_rows, np.nan) if column is None else role_values(column)
            if column is not None:
                self._facets_seen.add(spec.name)
        bias.update(facets, predicted, target)
        self._bias_rows += cols.n_rows

    # ---- attribution

    def update_attributions(self, columns: Mapping[str, NDArray[np.float64]]) -> None:
        if not columns:
            return
        state = self._attribution
        if state is None:
            state = self._attribution = AttributionState.empty(list(columns))
        new = [name for name in columns if name not in state.features]
        if new:
            state = self._attribution = AttributionState(
                (*state.features, *new), np.concatenate([state.abs_sums, np.zeros(len(new))]),
                np.concatenate([state.counts, np.zeros(len(new), dtype=np.int64)]))
        state.update_columns(columns)

    # ---- results

    def _estimated_section(self) -> dict[str, Any]:
        quality, method = self._quality, self._options.calibration
        try:
            if isinstance(quality, BinaryQualityState) and quality.n_scored > 0:
                return build_section(quality, method).to_dict()
            if isinstance(quality, MulticlassQualityState) and self._correctness is not None \
                    and self._correctness.n_scored > 0:
                return build_multiclass_section(self._correctness, quality, method).to_dict()
        except StreamdriftError as exc:
            raise InputFileError(f"cannot fit the calibration map: {exc}") from exc
        raise InputFileError("estimated performance needs a classifier's target and score columns (--target, "
                             "--score; multiclass: --prediction too, the score being the predicted class's "
                             "probability)")

    def finish(self, clarify: ClarifyAnalysis | None) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if self._quality is not None:
            out["model_quality"] = baseline_from_state(self._quality).to_dict()
        if self._options.estimated_performance:
            out["estimated_performance"] = self._estimated_section()
        if self._bias is not None and (clarify is None or clarify.bias is None):
            if self._bias_rows == 0:
                raise InputFileError("bias needs predictions (--prediction) or a score with --score-threshold")
            missing = sorted({f.name for f in self._options.facets} - self._facets_seen)
            if missing:
                raise InputFileError(f"facet column(s) {missing} not in the input")
            out["bias"] = BiasBaseline.from_state(self._bias, self._options.bias_drift, self._names[0]).to_dict()
        if self._attribution is not None:
            out["attribution"] = AttributionBaseline.from_state(self._attribution).to_dict()
        if clarify is not None and clarify.bias is not None:
            out["bias"] = clarify.bias.to_dict()
        if clarify is not None and clarify.attribution is not None:
            out["attribution"] = clarify.attribution.to_dict()
        return out


def _has(chunk: Chunk | None, field_name: str) -> bool:
    return chunk is not None and getattr(chunk, field_name) is not None
