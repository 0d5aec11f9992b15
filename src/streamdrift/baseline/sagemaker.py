"""SageMaker Model Monitor files: statistics.json, constraints.json and constraint_violations.json.

Export (:func:`export_sagemaker`) writes a baseline in the prebuilt container's format: per numeric feature the
common counts, mean, sum, **population** std_dev (that is what SageMaker writes: checked against its own
statistics.json), min, max, 10 equal-width KLL buckets between min and max (left-closed, the last one closed;
counts from our sketch's retained items and weights) and the sketch itself as compactor levels (``data[i]`` holds
the retained items of weight 2^i; ``parameters.k`` is our k, ``c`` SageMaker's 0.64); per string feature the
counts, the distinct count and the categorical buckets.

Import (:func:`import_sagemaker`) rebuilds a baseline: each numeric feature's KLL sketch is fed every level-i
item 2^i times (vectorized ``np.repeat``, expanded in blocks of at most :data:`EXPAND_BLOCK` values so memory
stays bounded; time is linear in ``num_present``, about 20M values/s, so a 10M-row, 50-feature baseline imports
in under a minute). The weights must sum to ``num_present``. Counts, mean, sum, std_dev, min and max come from
the file, not from the rebuilt sketch. Categorical buckets become weighted frequent-items updates (the distinct
count is re-estimated from the bucket values). Imported constraints keep ``source="sagemaker"`` and SageMaker's
comparison threshold / method; without a constraints file they are suggested from the statistics.

The other monitors' sections travel in their own SageMaker files: ``model_quality`` as the model-quality
monitor's ``model_quality/statistics.json`` and ``model_quality/constraints.json`` (suggested from the baseline
values; see :mod:`streamdrift.monitors.model_quality.sagemaker_format`), ``bias`` / ``attribution`` as Clarify's
``analysis.json`` (:mod:`streamdrift.baseline.clarify`). Imported model-quality constraints are kept in the section under
``sagemaker_constraints``; sections imported from SageMaker / Clarify files have no mergeable state.

The three files' formats live in :mod:`streamdrift.baseline.sagemaker_statistics`,
:mod:`streamdrift.baseline.sagemaker_constraints` and :mod:`streamdrift.baseline.sagemaker_violations`; their
public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from streamdrift.baseline.build import suggest_constraints
from streamdrift.baseline.clarify import analysis_to_dict, parse_analysis
from streamdrift.baseline.document import Baseline, make_baseline_id
from streamdrift.baseline.jsonfiles import read_json_object, write_json
from streamdrift.baseline.sagemaker_constraints import (
    constraints_from_dict,
    constraints_to_dict,
    read_constraints,
)
from streamdrift.baseline.sagemaker_statistics import (
    EXPAND_BLOCK,
    N_BUCKETS,
    SAGEMAKER_KLL_C,
    FeatureStatistics,
    NumericStatistics,
    Statistics,
    StringStatistics,
    equal_width_buckets,
    feed_levels,
    kll_levels,
    level_weight_total,
    profile_from_statistics,
    read_statistics,
    statistics_from_profile,
)
from streamdrift.baseline.sagemaker_violations import (
    CHECK_TYPES,
    VIOLATIONS_FILE,
    Violation,
    read_constraint_violations,
    violation_description,
    write_constraint_violations,
)
from streamdrift.errors import BaselineError
from streamdrift.monitors import model_quality as mq
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import BiasBaseline
from streamdrift.profile.profiles import ProfileParams

__all__ = [
    "ANALYSIS_FILE", "CHECK_TYPES", "CONSTRAINTS_FILE", "EXPAND_BLOCK", "MODEL_QUALITY_DIR", "MQ_CONSTRAINTS_KEY",
    "N_BUCKETS", "SAGEMAKER_KLL_C", "STATISTICS_FILE", "VIOLATIONS_FILE", "FeatureStatistics", "NumericStatistics",
    "Statistics", "StringStatistics", "Violation", "constraints_from_dict", "constraints_to_dict",
    "equal_width_buckets", "export_monitor_sections", "export_sagemaker", "feed_levels", "import_model_quality",
    "import_sagemaker", "kll_levels", "level_weight_total", "profile_from_statistics", "read_constraint_violations",
    "read_constraints", "read_statistics", "statistics_from_profile", "violation_description",
    "write_constraint_violations",
]

STATISTICS_FILE: Final[str] = "statistics.json"
CONSTRAINTS_FILE: Final[str] = "constraints.json"
MODEL_QUALITY_DIR: Final[str] = "model_quality"
ANALYSIS_FILE: Final[str] = "analysis.json"
MQ_CONSTRAINTS_KEY: Final[str] = "sagemaker_constraints"


def _document(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    return source if isinstance(source, Mapping) else read_json_object(Path(source))


def import_sagemaker(
    statistics: str | Path | Mapping[str, Any],
    constraints: str | Path | Mapping[str, Any] | None = None,
    *,
    model_id: str,
    params: ProfileParams = ProfileParams(),  # noqa: B008 - frozen dataclass
    created_at: datetime | None = None,
    model_quality_statistics: str | Path | Mapping[str, Any] | None = None,
    model_quality_constraints: str | Path | Mapping[str, Any] | None = None,
    clarify_analysis: str | Path | Mapping[str, Any] | None = None,
) -> Baseline:
    """A baseline from SageMaker statistics.json (+ constraints.json), paths or parsed documents, plus the
    optional model-quality statistics / constraints and a Clarify analysis.json for the other sections."""
    if not model_id:
        raise BaselineError("model_id must not be empty")
    stats = Statistics.from_dict(_document(statistics))
    profile = profile_from_statistics(stats, params)
    if constraints is not None:
        parsed = constraints_from_dict(_document(constraints))
    else:
        parsed = replace(suggest_constraints(profile), source="sagemaker")
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    analysis = parse_analysis(_document(clarify_analysis)) if clarify_analysis is not None else None
    return Baseline(
        baseline_id=make_baseline_id(model_id, created, profile.to_bytes()),
        model_id=model_id, created_at=created.isoformat().replace("+00:00", "Z"),
        profile=profile, constraints=parsed,
        model_quality=import_model_quality(model_quality_statistics, model_quality_constraints),
        bias=analysis.bias.to_dict() if analysis is not None and analysis.bias is not None else None,
        attribution=analysis.attribution.to_dict()
        if analysis is not None and analysis.attribution is not None else None,
    )


def import_model_quality(
    statistics: str | Path | Mapping[str, Any] | None, constraints: str | Path | Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The ``model_quality`` section from SageMaker's model-quality statistics.json (+ constraints.json)."""
    if statistics is None:
        if constraints is not None:
            raise BaselineError("model-quality constraints need the model-quality statistics too")
        return None
    section = mq.statistics_from_dict(_document(statistics)).to_dict()
    if constraints is not None:
        parsed = mq.constraints_from_dict(_document(constraints))
        if parsed.problem_type.value != section["problem_type"]:
            raise BaselineError(f"model-quality constraints are for {parsed.problem_type.value}, the statistics "
                                f"for {section['problem_type']}")
        section[MQ_CONSTRAINTS_KEY] = mq.constraints_to_dict(parsed)
    return section


def export_monitor_sections(baseline: Baseline, out_dir: str | Path) -> list[Path]:
    """Write DIR/model_quality/{statistics,constraints}.json and DIR/analysis.json for the sections the
    baseline has; returns the paths written."""
    directory = Path(out_dir)
    written: list[Path] = []
    if baseline.model_quality is not None:
        quality = mq.ModelQualityBaseline.from_dict(baseline.model_quality)
        kept = baseline.model_quality.get(MQ_CONSTRAINTS_KEY)
        constraints = mq.constraints_from_dict(kept) if kept is not None else mq.suggest_constraints(quality)
        written.append(mq.write_model_quality_statistics(directory / MODEL_QUALITY_DIR / STATISTICS_FILE, quality))
        written.append(mq.write_model_quality_constraints(directory / MODEL_QUALITY_DIR / CONSTRAINTS_FILE,
                                                          constraints))
    if baseline.bias is not None or baseline.attribution is not None:
        bias = BiasBaseline.from_dict(baseline.bias) if baseline.bias is not None else None
        attribution = AttributionBaseline.from_dict(baseline.attribution) if baseline.attribution is not None \
            else None
        write_json(directory / ANALYSIS_FILE, analysis_to_dict(bias, attribution))
        written.append(directory / ANALYSIS_FILE)
    return written


def export_sagemaker(baseline: Baseline, out_dir: str | Path, *, sections: bool = True) -> tuple[Path, Path]:
    """Write DIR/statistics.json and DIR/constraints.json (returns their paths) and, when ``sections``, the
    monitor sections' files (:func:`export_monitor_sections`)."""
    directory = Path(out_dir)
    stats_path, constraints_path = directory / STATISTICS_FILE, directory / CONSTRAINTS_FILE
    write_json(stats_path, statistics_from_profile(baseline.profile).to_dict())
    write_json(constraints_path, constraints_to_dict(baseline.constraints))
    if sections:
        export_monitor_sections(baseline, directory)
    return stats_path, constraints_path
