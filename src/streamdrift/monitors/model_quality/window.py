"""Glue for the stream worker: a window's quality state blob (``extras["model_quality"]``) vs the baseline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from streamdrift.errors import EvaluationError
from streamdrift.monitors.model_quality.baseline import ModelQualityBaseline
from streamdrift.monitors.model_quality.metrics import compute_metrics
from streamdrift.monitors.model_quality.rule import QualityEvaluation, QualityRuleConfig, evaluate_quality
from streamdrift.monitors.model_quality.state import QualityState, state_from_bytes

EXTRAS_KEY: Final[str] = "model_quality"


def merge_blobs(blobs: Iterable[bytes]) -> QualityState | None:
    """Merge the partials' state blobs of one window (None when there is none)."""
    merged: QualityState | None = None
    for blob in blobs:
        state = state_from_bytes(blob)
        merged = state if merged is None else merged.merge(state)  # type: ignore[arg-type]
    return merged


def evaluate_window(
    window: QualityState | bytes, baseline: ModelQualityBaseline | Mapping[str, Any],
    config: QualityRuleConfig | None = None,
) -> QualityEvaluation:
    """Metrics of one closed window and the drift rule against the baseline section."""
    base = baseline if isinstance(baseline, ModelQualityBaseline) else ModelQualityBaseline.from_dict(baseline)
    state = state_from_bytes(window) if isinstance(window, bytes) else window
    metrics = compute_metrics(state, r2_convention=base.r2_convention)
    if metrics.problem_type is not base.problem_type:
        raise EvaluationError(f"window state is {metrics.problem_type}, baseline is {base.problem_type}")
    return evaluate_quality(metrics, base.metrics, config)
