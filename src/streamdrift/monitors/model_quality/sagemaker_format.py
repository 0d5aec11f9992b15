"""SageMaker Model Monitor model-quality files: statistics.json, constraints.json, constraint_violations.json.

statistics.json: ``{"version": 0.0, "dataset": {"item_count": n}, "<kind>_metrics": {name: {"value": v,
"standard_deviation": sd}}}`` with ``<kind>`` regression / binary_classification / multiclass_classification and
``confusion_matrix`` (actual -> predicted -> count) for the classifiers; a missing deviation is the string "NaN".
Like SageMaker we only write a deviation from 200 records on; ours is the analytic standard error (SageMaker's
80%-resampling deviation is about half of it, see :mod:`streamdrift.monitors.model_quality.rule`).

constraints.json: ``"<kind>_constraints": {name: {"threshold": t, "comparison_operator": op}}``; the suggested
threshold is the baseline value, the operator LessThanThreshold for higher-is-better metrics and
GreaterThanThreshold otherwise (a violation is a window value that satisfies ``value op threshold``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from streamdrift.baseline.jsonfiles import read_json_object, write_json
from streamdrift.errors import BaselineError
from streamdrift.monitors.model_quality.baseline import ModelQualityBaseline
from streamdrift.monitors.model_quality.metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    MetricValue,
    ProblemType,
)

MIN_RECORDS_FOR_DEVIATION: Final[int] = 200
OPERATORS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
}
_OMIT_FROM_CONSTRAINTS: Final[str] = "_best_constant_classifier"


def _section(problem_type: ProblemType, suffix: str) -> str:
    return f"{problem_type.value}_{suffix}"


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else "NaN"


def _parse(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BaselineError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise BaselineError(f"{where}: expected a number, got {value!r}") from exc


def statistics_to_dict(baseline: ModelQualityBaseline) -> dict[str, Any]:
    with_sd = baseline.n >= MIN_RECORDS_FOR_DEVIATION
    metrics: dict[str, Any] = {}
    if baseline.confusion_matrix is not None:
        metrics["confusion_matrix"] = {a: dict(row) for a, row in baseline.confusion_matrix.items()}
    for name, mv in baseline.metrics.items():
        metrics[name] = {"value": _number(mv.value),
                         "standard_deviation": _number(mv.standard_error if with_sd else math.nan)}
    return {"version": 0.0, "dataset": {"item_count": baseline.n},
            _section(baseline.problem_type, "metrics"): metrics}


def statistics_from_dict(data: Mapping[str, Any]) -> ModelQualityBaseline:
    """A baseline (without mergeable state) from SageMaker's model-quality statistics.json."""
    found = [p for p in ProblemType if _section(p, "metrics") in data]
    if len(found) != 1:
        raise BaselineError("statistics.json has no (or several) *_metrics sections of model quality")
    kind = found[0]
    section = data[_section(kind, "metrics")]
    if not isinstance(section, Mapping):
        raise BaselineError(f"{_section(kind, 'metrics')} must be an object")
    metrics: dict[str, MetricValue] = {}
    matrix = None
    for name, entry in section.items():
        if name == "confusion_matrix":
            matrix = {str(a): {str(p): int(c) for p, c in row.items()} for a, row in entry.items()}
        elif isinstance(entry, Mapping) and "value" in entry:
            metrics[name] = MetricValue(_parse(entry["value"], name),
                                        _parse(entry.get("standard_deviation", "NaN"), name))
    try:
        n = int(data.get("dataset", {}).get("item_count", 0))
    except (TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"statistics.json dataset.item_count invalid: {exc}") from exc
    return ModelQualityBaseline(kind, n, metrics, matrix)


@dataclass(frozen=True, slots=True)
class MetricConstraint:
    threshold: float
    comparison_operator: str

    def violated_by(self, value: float) -> bool:
        return math.isfinite(value) and OPERATORS[self.comparison_operator](value, self.threshold)


@dataclass(frozen=True, slots=True)
class ModelQualityConstraints:
    problem_type: ProblemType
    constraints: Mapping[str, MetricConstraint]


def suggest_constraints(baseline: ModelQualityBaseline) -> ModelQualityConstraints:
    out = {}
    for name, mv in baseline.metrics.items():
        if name.endswith(_OMIT_FROM_CONSTRAINTS) or not math.isfinite(mv.value):
            continue
        if name in HIGHER_IS_BETTER:
            out[name] = MetricConstraint(mv.value, "LessThanThreshold")
        elif name in LOWER_IS_BETTER:
            out[name] = MetricConstraint(mv.value, "GreaterThanThreshold")
    return ModelQualityConstraints(baseline.problem_type, out)


def constraints_to_dict(constraints: ModelQualityConstraints) -> dict[str, Any]:
    return {"version": 0.0, _section(constraints.problem_type, "constraints"): {
        k: {"threshold": c.threshold, "comparison_operator": c.comparison_operator}
        for k, c in constraints.constraints.items()}}


def constraints_from_dict(data: Mapping[str, Any]) -> ModelQualityConstraints:
    found = [p for p in ProblemType if _section(p, "constraints") in data]
    if len(found) != 1:
        raise BaselineError("constraints.json has no (or several) *_constraints sections of model quality")
    kind = found[0]
    out = {}
    try:
        for name, entry in data[_section(kind, "constraints")].items():
            op = str(entry["comparison_operator"])
            if op not in OPERATORS:
                raise BaselineError(f"constraint {name}: unknown comparison_operator {op!r}")
            out[str(name)] = MetricConstraint(_parse(entry["threshold"], name), op)
    except (KeyError, TypeError, AttributeError) as exc:
        raise BaselineError(f"invalid model-quality constraints.json: {exc!r}") from exc
    return ModelQualityConstraints(kind, out)


def constraint_violations(metrics: Mapping[str, MetricValue],
                          constraints: ModelQualityConstraints) -> list[dict[str, str]]:
    """SageMaker-style violation entries (``metric_name``, ``constraint_check_type``, ``description``)."""
    out = []
    for name, c in constraints.constraints.items():
        if name in metrics and c.violated_by(metrics[name].value):
            mv = metrics[name]
            out.append({"metric_name": name, "constraint_check_type": c.comparison_operator,
                        "description": f"Metric {name} with {mv.value!r} +/- {mv.standard_error!r} was "
                                       f"{c.comparison_operator} '{c.threshold!r}'"})
    return out


def read_model_quality_statistics(path: str | Path) -> ModelQualityBaseline:
    return statistics_from_dict(read_json_object(path))


def read_model_quality_constraints(path: str | Path) -> ModelQualityConstraints:
    return constraints_from_dict(read_json_object(path))


def write_model_quality_statistics(path: str | Path, baseline: ModelQualityBaseline) -> Path:
    return write_json(path, statistics_to_dict(baseline))


def write_model_quality_constraints(path: str | Path, constraints: ModelQualityConstraints) -> Path:
    return write_json(path, constraints_to_dict(constraints))


def write_model_quality_violations(path: str | Path, violations: list[dict[str, str]]) -> Path:
    return write_json(path, {"violations": violations})
