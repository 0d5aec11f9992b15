"""SageMaker's data-quality constraints.json, to and from :class:`~streamdrift.baseline.constraints.Constraints`.

Only SageMaker's fields are written (our extras such as ``high_cardinality``, ``skip_drift`` and
``drift_threshold`` are left out); parsed constraints have ``source="sagemaker"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamdrift.baseline.constraints import Constraints, FeatureConstraint, MonitoringConfig
from streamdrift.baseline.jsonfiles import read_json_object
from streamdrift.baseline.sagemaker_statistics import parse_feature_type
from streamdrift.errors import BaselineError


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def _flag(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("Enabled", "Disabled"):
        return value == "Enabled"
    raise BaselineError(f"{where} must be \"Enabled\" or \"Disabled\", got {value!r}")


def constraints_to_dict(constraints: Constraints) -> dict[str, Any]:
    """constraints.json in SageMaker's format (our extra fields are left out)."""
    features: list[dict[str, Any]] = []
    for c in constraints.features.values():
        entry: dict[str, Any] = {"name": c.name, "inferred_type": c.inferred_type.value,
                                 "completeness": c.completeness}
        if c.is_non_negative is not None:
            entry["num_constraints"] = {"is_non_negative": c.is_non_negative}
        if c.domain is not None:
            entry["string_constraints"] = {"domains": list(c.domain)}
        features.append(entry)
    m = constraints.monitoring
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": _enabled(m.evaluate_constraints),
            "emit_metrics": _enabled(m.emit_metrics),
            "datatype_check_threshold": m.datatype_check_threshold,
            "domain_content_threshold": m.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": _enabled(m.perform_comparison),
                "comparison_threshold": m.comparison_threshold,
                "comparison_method": m.comparison_method,
            },
        },
    }


def constraints_from_dict(data: Mapping[str, Any]) -> Constraints:
    """Parse constraints.json; the result has ``source="sagemaker"``."""
    try:
        features: dict[str, FeatureConstraint] = {}
        for f in data.get("features", []):
            name = str(f["name"])
            domains = f.get("string_constraints", {}).get("domains")
            non_negative = f.get("num_constraints", {}).get("is_non_negative")
            features[name] = FeatureConstraint(
                name=name, inferred_type=parse_feature_type(f.get("inferred_type", "Unknown"), name),
                completeness=float(f.get("completeness", 1.0)),
                is_non_negative=bool(non_negative) if non_negative is not None else None,
                domain=tuple(str(v) for v in domains) if domains is not None else None,
            )
        mc = data.get("monitoring_config", {})
        dc = mc.get("distribution_constraints", {})
        default = MonitoringConfig()
        monitoring = MonitoringConfig.from_dict({
            "evaluate_constraints": _flag(mc.get("evaluate_constraints", "Enabled"), "evaluate_constraints"),
            "emit_metrics": _flag(mc.get("emit_metrics", "Enabled"), "emit_metrics"),
            "datatype_check_threshold": mc.get("datatype_check_threshold", default.datatype_check_threshold),
            "domain_content_threshold": mc.get("domain_content_threshold", default.domain_content_threshold),
            "perform_comparison": _flag(dc.get("perform_comparison", "Enabled"), "perform_comparison"),
            "comparison_threshold": dc.get("comparison_threshold", default.comparison_threshold),
            "comparison_method": dc.get("comparison_method", default.comparison_method),
        })
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"not a SageMaker constraints.json document: {exc!r}") from exc
    return Constraints(features=features, monitoring=monitoring, source="sagemaker")


def read_constraints(path: str | Path) -> Constraints:
    return constraints_from_dict(read_json_object(Path(path)))
