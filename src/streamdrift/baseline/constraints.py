"""Baseline constraints: per-feature expectations and the monitoring configuration.

Names and defaults follow SageMaker Model Monitor's constraints.json (``monitoring_config``:
``comparison_threshold`` 0.1, ``comparison_method`` Robust, thresholds 1.0). ``source`` records where the
constraints came from: ``streamdrift`` (suggested by :func:`streamdrift.baseline.baseline.build_baseline`) or ``sagemaker``
(imported), so the evaluator can apply SageMaker's distance semantics to imported baselines.

Suggestion rules (:func:`suggest_constraint`):

- ``inferred_type``: the profile's inferred type; ``completeness``: the observed present fraction.
- ``is_non_negative``: for Integral / Fractional features, True when the observed minimum is >= 0.
- ``domain``: for String / Boolean features whose distinct count (HLL estimate) is at most
  :data:`MAX_DOMAIN_SIZE` (50) **and** at most :data:`MAX_DOMAIN_FRACTION` (1%) of the present rows (Boolean
  features always qualify): the observed values (SageMaker's ``categorical_values_check``). Other String
  features get no domain and ``high_cardinality=True``: that flag only says why there is no domain constraint;
  it does not switch the drift test off (a 54-value ``state`` has no domain and is drift-tested).
- ``skip_drift``: the reason the feature is not drift-tested, None when it is. Only identifier-like columns get
  one (:mod:`streamdrift.baseline.roles`: "identifier-like: 23,432 distinct of 23,432 rows; not drift-tested").
- ``drift_threshold``: an optional per-feature override of the drift effect-size floor (None = global config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BaselineError

Source = Literal["streamdrift", "sagemaker"]
ComparisonMethod = Literal["Simple", "Robust"]
SOURCES: Final[tuple[str, ...]] = ("streamdrift", "sagemaker")
MAX_DOMAIN_SIZE: Final[int] = 50
MAX_DOMAIN_FRACTION: Final[float] = 0.01


@dataclass(frozen=True)
class FeatureConstraint:
    """What a feature is expected to look like (SageMaker's per-feature constraint plus our extras)."""

    name: str
    inferred_type: FeatureType
    completeness: float
    is_non_negative: bool | None = None
    domain: tuple[str, ...] | None = None
    high_cardinality: bool = False
    drift_threshold: float | None = None
    skip_drift: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"inferred_type": self.inferred_type.value, "completeness": self.completeness}
        if self.is_non_negative is not None:
            out["is_non_negative"] = self.is_non_negative
        if self.domain is not None:
            out["domain"] = list(self.domain)
        if self.high_cardinality:
            out["high_cardinality"] = True
        if self.drift_threshold is not None:
            out["drift_threshold"] = self.drift_threshold
        if self.skip_drift is not None:
            out["skip_drift"] = self.skip_drift
        return out

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> FeatureConstraint:
        try:
            domain = data.get("domain")
            threshold = data.get("drift_threshold")
            skip = data.get("skip_drift")
            return cls(
                name=name,
                inferred_type=FeatureType(data["inferred_type"]),
                completeness=float(data["completeness"]),
                is_non_negative=_optional_bool(data.get("is_non_negative")),
                domain=tuple(str(v) for v in domain) if domain is not None else None,
                high_cardinality=bool(data.get("high_cardinality", False)),
                drift_threshold=float(threshold) if threshold is not None else None,
                skip_drift=str(skip) if skip is not None else None,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise BaselineError(f"invalid constraint for feature {name!r}: {exc!r}") from exc


@dataclass(frozen=True)
class MonitoringConfig:
    """SageMaker's ``monitoring_config`` with its names and defaults."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: ComparisonMethod = "Robust"

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluate_constraints": self.evaluate_constraints,
            "emit_metrics": self.emit_metrics,
            "datatype_check_threshold": self.datatype_check_threshold,
            "domain_content_threshold": self.domain_content_threshold,
            "perform_comparison": self.perform_comparison,
            "comparison_threshold": self.comparison_threshold,
            "comparison_method": self.comparison_method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitoringConfig:
        default = cls()
        try:
            method = str(data.get("comparison_method", default.comparison_method))
            if method not in ("Simple", "Robust"):
                raise ValueError(f"comparison_method must be Simple or Robust, got {method!r}")
            return cls(
                evaluate_constraints=bool(data.get("evaluate_constraints", default.evaluate_constraints)),
                emit_metrics=bool(data.get("emit_metrics", default.emit_metrics)),
                datatype_check_threshold=float(data.get("datatype_check_threshold", 1.0)),
                domain_content_threshold=float(data.get("domain_content_threshold", 1.0)),
                perform_comparison=bool(data.get("perform_comparison", default.perform_comparison)),
                comparison_threshold=float(data.get("comparison_threshold", default.comparison_threshold)),
                comparison_method="Robust" if method == "Robust" else "Simple",
            )
        except (ValueError, TypeError) as exc:
            raise BaselineError(f"invalid monitoring config: {exc}") from exc


@dataclass(frozen=True)
class Constraints:
    """All feature constraints of a baseline plus its monitoring configuration."""

    features: dict[str, FeatureConstraint]
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    source: Source = "streamdrift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "monitoring": self.monitoring.to_dict(),
            "features": {name: c.to_dict() for name, c in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Constraints:
        source = data.get("source", "streamdrift")
        if source not in SOURCES:
            raise BaselineError(f"constraints source must be one of {SOURCES}, got {source!r}")
        features = data.get("features", {})
        if not isinstance(features, Mapping):
            raise BaselineError("constraints.features must be an object")
        return cls(
            features={str(n): FeatureConstraint.from_dict(str(n), c) for n, c in features.items()},
            monitoring=MonitoringConfig.from_dict(data.get("monitoring", {})),
            source="sagemaker" if source == "sagemaker" else "streamdrift",
        )

    def with_drift_threshold(self, feature: str, threshold: float | None) -> Constraints:
        """A copy with a per-feature drift threshold override (None removes it)."""
        if feature not in self.features:
            raise BaselineError(f"no constraint for feature {feature!r}")
        updated = dict(self.features)
        updated[feature] = replace(updated[feature], drift_threshold=threshold)
        return replace(self, features=updated)


def suggest_domain(
    inferred_type: FeatureType, values: Mapping[str, int], distinct_estimate: float, n_present: int
) -> tuple[tuple[str, ...] | None, bool]:
    """(domain, high_cardinality) for a categorical feature by the module's rule; numeric types get (None, False)."""
    if inferred_type not in (FeatureType.STRING, FeatureType.BOOLEAN):
        return None, False
    if inferred_type is FeatureType.BOOLEAN:
        return tuple(sorted(values)), False
    distinct = round(distinct_estimate)  # HLL: 50.000006 for 50 values
    small = distinct <= MAX_DOMAIN_SIZE and distinct <= MAX_DOMAIN_FRACTION * n_present
    if small and len(values) <= MAX_DOMAIN_SIZE:
        return tuple(sorted(values)), False
    return None, True


def _optional_bool(value: object) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true/false, got {value!r}")
