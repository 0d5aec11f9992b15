"""Model quality: mergeable per-window quality states, metrics with standard errors, the drift rule and
SageMaker's model-quality files. See docs/model_quality.md."""

from __future__ import annotations

from streamdrift.monitors.model_quality.baseline import (
    ModelQualityBaseline,
    baseline_from_state,
    build_model_quality_baseline,
    build_model_quality_baseline_from_chunks,
    infer_problem_type,
    new_state,
)
from streamdrift.monitors.model_quality.metrics import (
    MetricValue,
    ProblemType,
    QualityMetrics,
    auc_error_bound,
    binned_auc,
    compute_metrics,
)
from streamdrift.monitors.model_quality.rule import (
    CHECK,
    MONITOR,
    MetricCheck,
    QualityEvaluation,
    QualityRuleConfig,
    evaluate_quality,
)
from streamdrift.monitors.model_quality.sagemaker_format import (
    MetricConstraint,
    ModelQualityConstraints,
    constraint_violations,
    constraints_from_dict,
    constraints_to_dict,
    read_model_quality_constraints,
    read_model_quality_statistics,
    statistics_from_dict,
    statistics_to_dict,
    suggest_constraints,
    write_model_quality_constraints,
    write_model_quality_statistics,
    write_model_quality_violations,
)
from streamdrift.monitors.model_quality.state import (
    BinaryQualityState,
    MulticlassQualityState,
    QualityState,
    RegressionQualityState,
    state_from_bytes,
)
from streamdrift.monitors.model_quality.window import EXTRAS_KEY, evaluate_window

__all__ = [
    "CHECK", "EXTRAS_KEY", "MONITOR", "BinaryQualityState", "MetricCheck", "MetricConstraint", "MetricValue",
    "ModelQualityBaseline", "ModelQualityConstraints", "MulticlassQualityState", "ProblemType",
    "QualityEvaluation", "QualityMetrics", "QualityRuleConfig", "QualityState", "RegressionQualityState",
    "auc_error_bound", "baseline_from_state", "binned_auc", "build_model_quality_baseline",
    "build_model_quality_baseline_from_chunks", "compute_metrics", "constraint_violations",
    "constraints_from_dict", "constraints_to_dict", "evaluate_quality", "evaluate_window", "infer_problem_type",
    "new_state", "read_model_quality_constraints", "read_model_quality_statistics", "state_from_bytes",
    "statistics_from_dict", "statistics_to_dict", "suggest_constraints", "write_model_quality_constraints",
    "write_model_quality_statistics", "write_model_quality_violations",
]
