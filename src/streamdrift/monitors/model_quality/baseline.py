"""The model-quality section of a baseline, and building it from labelled data (arrays or chunks)."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike

from streamdrift.errors import BaselineError, SerializationError
from streamdrift.monitors.model_quality.metrics import (
    MetricValue,
    ProblemType,
    QualityMetrics,
    R2Convention,
    compute_metrics,
)
from streamdrift.monitors.model_quality.state import (
    DEFAULT_BINS,
    DEFAULT_THRESHOLD,
    BinaryQualityState,
    MulticlassQualityState,
    QualityState,
    RegressionQualityState,
    state_from_bytes,
)

SECTION_VERSION: Final[int] = 1
MAX_AUTO_CLASSES: Final[int] = 50
ProblemTypeArg = ProblemType | Literal["auto", "regression", "binary_classification", "multiclass_classification"]


@dataclass(frozen=True)
class ModelQualityBaseline:
    """Baseline metric values with standard errors; ``state`` (when built by us) allows rebuilding them."""

    problem_type: ProblemType
    n: int
    metrics: Mapping[str, MetricValue]
    confusion_matrix: Mapping[str, Mapping[str, int]] | None = None
    threshold: float = DEFAULT_THRESHOLD
    r2_convention: R2Convention = "standard"
    state: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_metrics(cls, metrics: QualityMetrics, *, threshold: float = DEFAULT_THRESHOLD,
                     r2_convention: R2Convention = "standard", state: bytes | None = None) -> ModelQualityBaseline:
        return cls(metrics.problem_type, metrics.n, dict(metrics.metrics), metrics.confusion_matrix, threshold,
                   r2_convention, state)

    def new_state(self) -> QualityState:
        """An empty window state with this baseline's parameters (threshold, bins)."""
        if self.state is not None:
            kept = state_from_bytes(self.state)
            if isinstance(kept, BinaryQualityState):
                return BinaryQualityState.empty(kept.threshold, kept.n_bins)
        return new_state(self.problem_type, threshold=self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for ``Baseline.model_quality`` (NaN written as None)."""
        return {
            "version": SECTION_VERSION,
            "problem_type": self.problem_type.value,
            "n": self.n,
            "threshold": self.threshold,
            "r2_convention": self.r2_convention,
            "metrics": {k: {"value": _out(v.value), "standard_error": _out(v.standard_error)}
                        for k, v in self.metrics.items()},
            "confusion_matrix": self.confusion_matrix,
            "state": None if self.state is None else base64.b64encode(self.state).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelQualityBaseline:
        try:
            if data.get("version") != SECTION_VERSION:
                raise BaselineError(f"model_quality section version {data.get('version')!r} is not supported")
            state = None if data.get("state") is None else base64.b64decode(data["state"], validate=True)
            if state is not None:
                state_from_bytes(state)
            convention = data.get("r2_convention", "standard")
            if convention not in ("standard", "sagemaker"):
                raise BaselineError(f"unknown r2_convention {convention!r}")
            metrics = {str(k): MetricValue(_in(v["value"]), _in(v.get("standard_error")))
                       for k, v in data["metrics"].items()}
            return cls(ProblemType(data["problem_type"]), int(data["n"]), metrics, data.get("confusion_matrix"),
                       float(data.get("threshold", DEFAULT_THRESHOLD)), convention, state)
        except (KeyError, TypeError, ValueError, AttributeError, SerializationError) as exc:
            raise BaselineError(f"invalid model_quality baseline section: {exc}") from exc


def _out(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _in(x: object) -> float:
    if x is None or x == "NaN":
        return float("nan")
    if isinstance(x, (int, float, str)):
        return float(x)
    raise TypeError(f"not a number: {x!r}")


def new_state(problem_type: ProblemTypeArg, *, threshold: float = DEFAULT_THRESHOLD,
              n_bins: int = DEFAULT_BINS) -> QualityState:
    kind = ProblemType(problem_type)
    if kind is ProblemType.BINARY:
        return BinaryQualityState.empty(threshold, n_bins)
    if kind is ProblemType.MULTICLASS:
        return MulticlassQualityState.empty()
    return RegressionQualityState.empty()


def infer_problem_type(y_true: ArrayLike, y_pred: ArrayLike | None = None,
                       score: ArrayLike | None = None) -> ProblemType:
    """Binary when labels are 0/1 (and predictions 0/1 or a score); multiclass for few discrete labels
    (strings, or integers with at most ``MAX_AUTO_CLASSES`` values); regression otherwise."""
    truth = np.asarray(y_true).reshape(-1)
    if truth.dtype.kind in "OUSb":
        uniq = np.unique(truth.astype(np.str_))
        if truth.dtype.kind == "b" or set(uniq.tolist()) <= {"0", "1"}:
            return ProblemType.BINARY
        return ProblemType.MULTICLASS
    values = truth.astype(np.float64)
    values = values[np.isfinite(values)]
    integral = bool(np.array_equal(values, np.round(values)))
    uniq_f = np.unique(values)
    if integral and set(uniq_f.tolist()) <= {0.0, 1.0}:
        pred = None if y_pred is None else np.asarray(y_pred, dtype=np.float64).reshape(-1)
        if score is not None or pred is None or set(np.unique(pred[np.isfinite(pred)]).tolist()) <= {0.0, 1.0}:
            return ProblemType.BINARY
        if float(np.nanmin(pred)) >= 0.0 and float(np.nanmax(pred)) <= 1.0:
            return ProblemType.BINARY
        return ProblemType.REGRESSION
    if integral and uniq_f.size <= MAX_AUTO_CLASSES:
        return ProblemType.MULTICLASS
    return ProblemType.REGRESSION


Batch = tuple[ArrayLike, ArrayLike | None, ArrayLike | None]


def build_model_quality_baseline(
    y_true: ArrayLike, y_pred: ArrayLike | None = None, score: ArrayLike | None = None, *,
    problem_type: ProblemTypeArg = "auto", threshold: float = DEFAULT_THRESHOLD,
    r2_convention: R2Convention = "standard",
) -> ModelQualityBaseline:
    """Baseline from one labelled batch (see :func:`build_model_quality_baseline_from_chunks` for streams).

    For a binary model given only a score-like ``y_pred`` in [0, 1] (and no ``score``), ``y_pred`` is taken as
    the score and thresholded."""
    return build_model_quality_baseline_from_chunks([(y_true, y_pred, score)], problem_type=problem_type,
                                                    threshold=threshold, r2_convention=r2_convention)


def build_model_quality_baseline_from_chunks(
    chunks: Iterable[Batch], *, problem_type: ProblemTypeArg = "auto", threshold: float = DEFAULT_THRESHOLD,
    r2_convention: R2Convention = "standard",
) -> ModelQualityBaseline:
    """Stream (y_true, y_pred, score) chunks into one mergeable state; the problem type (when "auto") is
    inferred from the first chunk."""
    state: QualityState | None = None
    for y_true, y_pred, score in chunks:
        if state is None:
            kind = infer_problem_type(y_true, y_pred, score) if problem_type == "auto" else problem_type
            state = new_state(kind, threshold=threshold)
        _update(state, y_true, y_pred, score)
    if state is None:
        raise BaselineError("no labelled data to build a model-quality baseline from")
    return baseline_from_state(state, r2_convention=r2_convention)


def _update(state: QualityState, y_true: ArrayLike, y_pred: ArrayLike | None, score: ArrayLike | None) -> None:
    if isinstance(state, BinaryQualityState) and score is None and y_pred is not None:
        pred = np.asarray(y_pred, dtype=np.float64)
        if not set(np.unique(pred[np.isfinite(pred)]).tolist()) <= {0.0, 1.0}:
            state.update(y_true, None, pred)
            return
    state.update(y_true, y_pred, score)


def baseline_from_state(state: QualityState, *, r2_convention: R2Convention = "standard") -> ModelQualityBaseline:
    threshold = state.threshold if isinstance(state, BinaryQualityState) else DEFAULT_THRESHOLD
    return ModelQualityBaseline.from_metrics(compute_metrics(state, r2_convention=r2_convention),
                                             threshold=threshold, r2_convention=r2_convention,
                                             state=state.to_bytes())
