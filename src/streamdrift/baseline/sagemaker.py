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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.baseline import Baseline, make_baseline_id, suggest_constraints
from streamdrift.baseline.clarify import analysis_to_dict, parse_analysis
from streamdrift.baseline.constraints import Constraints, FeatureConstraint, MonitoringConfig
from streamdrift.baseline.jsonfiles import read_json_object, write_json
from streamdrift.columns.columns import Kind
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BaselineError
from streamdrift.monitors import model_quality as mq
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import BiasBaseline
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile, NumericProfile, ProfileParams
from streamdrift.profile.sketches import KllSketch

N_BUCKETS: Final[int] = 10
SAGEMAKER_KLL_C: Final[float] = 0.64
EXPAND_BLOCK: Final[int] = 1 << 20
STATISTICS_FILE: Final[str] = "statistics.json"
CONSTRAINTS_FILE: Final[str] = "constraints.json"
VIOLATIONS_FILE: Final[str] = "constraint_violations.json"
MODEL_QUALITY_DIR: Final[str] = "model_quality"
ANALYSIS_FILE: Final[str] = "analysis.json"
MQ_CONSTRAINTS_KEY: Final[str] = "sagemaker_constraints"
CHECK_TYPES: Final[tuple[str, ...]] = (
    "data_type_check", "completeness_check", "baseline_drift_check", "missing_column_check",
    "extra_column_check", "categorical_values_check", "non_negative_check",
)


# ---------------------------------------------------------------- numeric distribution helpers


def equal_width_buckets(
    items: NDArray[np.float64], weights: NDArray[Any], lo: float, hi: float, n_buckets: int = N_BUCKETS
) -> list[dict[str, float]]:
    """SageMaker's histogram: ``n_buckets`` equal-width buckets on [lo, hi], weighted counts of ``items``.

    Bucket i is [lo + (hi-lo)*i/n, lo + (hi-lo)*(i+1)/n); the last one includes ``hi``. When lo == hi every
    item falls in the first bucket.
    """
    edges = np.asarray([lo + (hi - lo) * i / n_buckets for i in range(n_buckets + 1)], dtype=np.float64)
    edges[-1] = hi
    index = np.clip(np.searchsorted(edges[1:-1], items, side="right"), 0, n_buckets - 1)
    counts = np.bincount(index, weights=weights, minlength=n_buckets)
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(n_buckets)
    ]


def kll_levels(items: NDArray[np.float64], weights: NDArray[Any]) -> list[list[float]]:
    """Retained KLL items grouped by weight: level i holds the items of weight 2^i (level 0 first)."""
    if items.size == 0:
        return [[]]
    levels = np.rint(np.log2(np.maximum(weights, 1.0))).astype(np.int64)
    return [items[levels == lvl].tolist() for lvl in range(int(levels.max()) + 1)]


def level_weight_total(data: Sequence[Sequence[float]]) -> int:
    """The number of values a KLL ``data`` block stands for (level-i items weigh 2^i)."""
    return sum(len(level) << i for i, level in enumerate(data))


def feed_levels(kll: KllSketch, data: Sequence[Sequence[float]], block: int = EXPAND_BLOCK) -> None:
    """Update ``kll`` with every level-i item repeated 2^i times, expanding at most ``block`` values at a time."""
    for i, level in enumerate(data):
        items = np.asarray(level, dtype=np.float64)
        items = items[np.isfinite(items)]
        weight = 1 << i
        step = max(1, block // weight)
        for start in range(0, items.size, step):
            kll.update(np.repeat(items[start:start + step], weight))


# ---------------------------------------------------------------- SageMaker document model


@dataclass(frozen=True)
class NumericStatistics:
    """A numeric feature of statistics.json."""

    num_present: int
    num_missing: int
    mean: float
    sum: float
    std_dev: float
    min: float
    max: float
    buckets: tuple[tuple[float, float, float], ...]   # (lower_bound, upper_bound, count)
    kll_k: int
    kll_data: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class StringStatistics:
    """A string feature of statistics.json."""

    num_present: int
    num_missing: int
    distinct_count: float
    buckets: tuple[tuple[str, float], ...]            # (value, count)


@dataclass(frozen=True)
class FeatureStatistics:
    name: str
    inferred_type: FeatureType
    numeric: NumericStatistics | None = None
    string: StringStatistics | None = None

    @property
    def num_present(self) -> int:
        stats = self.numeric or self.string
        return stats.num_present if stats is not None else 0

    @property
    def num_missing(self) -> int:
        stats = self.numeric or self.string
        return stats.num_missing if stats is not None else 0


@dataclass(frozen=True)
class Statistics:
    """A parsed statistics.json (data-quality statistics)."""

    item_count: int
    features: tuple[FeatureStatistics, ...]
    version: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "dataset": {"item_count": self.item_count},
            "features": [_feature_statistics_dict(f) for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Statistics:
        try:
            features = tuple(_parse_feature_statistics(f) for f in data["features"])
            return cls(int(data["dataset"]["item_count"]), features, float(data.get("version", 0.0)))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BaselineError(f"not a SageMaker statistics.json document: {exc!r}") from exc


def _common(present: int, missing: int) -> dict[str, int]:
    return {"num_present": present, "num_missing": missing}


def _feature_statistics_dict(f: FeatureStatistics) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "inferred_type": f.inferred_type.value}
    if f.numeric is not None:
        n = f.numeric
        out["numerical_statistics"] = {
            "common": _common(n.num_present, n.num_missing),
            "mean": _json_num(n.mean), "sum": _json_num(n.sum), "std_dev": _json_num(n.std_dev),
            "min": _json_num(n.min), "max": _json_num(n.max),
            "distribution": {"kll": {
                "buckets": [{"lower_bound": lo, "upper_bound": hi, "count": c} for lo, hi, c in n.buckets],
                "sketch": {"parameters": {"c": SAGEMAKER_KLL_C, "k": float(n.kll_k)},
                           "data": [list(level) for level in n.kll_data]},
            }},
        }
    if f.string is not None:
        s = f.string
        out["string_statistics"] = {
            "common": _common(s.num_present, s.num_missing),
            "distinct_count": s.distinct_count,
            "distribution": {"categorical": {"buckets": [{"value": v, "count": c} for v, c in s.buckets]}},
        }
    return out


def _json_num(value: float) -> float | str:
    """SageMaker writes non-finite statistics as the string "NaN"."""
    return value if math.isfinite(value) else "NaN"


def _parse_feature_statistics(data: Mapping[str, Any]) -> FeatureStatistics:
    name = str(data["name"])
    inferred = _feature_type(data.get("inferred_type", "Unknown"), name)
    numeric = string = None
    if "numerical_statistics" in data:
        ns = data["numerical_statistics"]
        kll = ns.get("distribution", {}).get("kll", {})
        sketch = kll.get("sketch", {})
        numeric = NumericStatistics(
            num_present=int(ns["common"]["num_present"]), num_missing=int(ns["common"]["num_missing"]),
            mean=_num(ns.get("mean")), sum=_num(ns.get("sum")), std_dev=_num(ns.get("std_dev")),
            min=_num(ns.get("min")), max=_num(ns.get("max")),
            buckets=tuple((float(b["lower_bound"]), float(b["upper_bound"]), float(b["count"]))
                          for b in kll.get("buckets", [])),
            kll_k=int(sketch.get("parameters", {}).get("k", 200)),
            kll_data=tuple(tuple(float(v) for v in level) for level in sketch.get("data", [])),
        )
    if "string_statistics" in data:
        ss = data["string_statistics"]
        buckets = ss.get("distribution", {}).get("categorical", {}).get("buckets", [])
        string = StringStatistics(
            num_present=int(ss["common"]["num_present"]), num_missing=int(ss["common"]["num_missing"]),
            distinct_count=float(ss.get("distinct_count", len(buckets))),
            buckets=tuple((str(b["value"]), float(b["count"])) for b in buckets),
        )
    return FeatureStatistics(name, inferred, numeric, string)


def _num(value: object) -> float:
    """A JSON number, or SageMaker's "NaN" / missing as NaN."""
    if value is None:
        return math.nan
    if isinstance(value, int | float | str):
        return float(value)
    raise ValueError(f"expected a number, got {value!r}")


def _feature_type(value: object, name: str) -> FeatureType:
    try:
        return FeatureType(str(value))
    except ValueError as exc:
        raise BaselineError(f"feature {name!r}: unknown inferred_type {value!r}") from exc


# ---------------------------------------------------------------- constraints.json


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
                name=name, inferred_type=_feature_type(f.get("inferred_type", "Unknown"), name),
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


# ---------------------------------------------------------------- constraint_violations.json


@dataclass(frozen=True)
class Violation:
    """One entry of constraint_violations.json."""

    feature_name: str
    constraint_check_type: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"feature_name": self.feature_name, "constraint_check_type": self.constraint_check_type,
                "description": self.description}


def violation_description(value: float) -> str:
    """SageMaker's message for a failed check whose measured value is ``value``."""
    return f"Value: {_java_double(value)} does not meet the constraint requirement! "


def _java_double(value: float) -> str:
    """A double as Java/Scala prints it (``0.0``, ``1.0E-4``); shortest repr otherwise."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    sci = len(text) + int(exponent) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{sci}"


def write_constraint_violations(
    path: str | Path, violations: Iterable[Violation | tuple[str, str, str]]
) -> Path:
    """Write constraint_violations.json (``path`` may be a directory); returns the file written."""
    target = Path(path)
    if target.is_dir():
        target = target / VIOLATIONS_FILE
    entries = [v if isinstance(v, Violation) else Violation(*v) for v in violations]
    write_json(target, {"violations": [v.to_dict() for v in entries]})
    return target


def read_constraint_violations(path: str | Path) -> list[Violation]:
    data = read_json_object(Path(path))
    try:
        return [Violation(str(v["feature_name"]), str(v["constraint_check_type"]), str(v.get("description", "")))
                for v in data["violations"]]
    except (KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: not a SageMaker constraint_violations.json: {exc!r}") from exc


# ---------------------------------------------------------------- files


def read_statistics(path: str | Path) -> Statistics:
    return Statistics.from_dict(read_json_object(Path(path)))


def read_constraints(path: str | Path) -> Constraints:
    return constraints_from_dict(read_json_object(Path(path)))


# ---------------------------------------------------------------- profile <-> statistics


def _numeric_statistics(fp: FeatureProfile) -> NumericStatistics:
    num = fp.numeric
    items, weights = num.kll.retained()
    buckets = equal_width_buckets(items, weights, num.min, num.max) if num.count else []
    return NumericStatistics(
        num_present=fp.n_present, num_missing=fp.n_missing, mean=num.mean if num.count else math.nan,
        sum=num.sum, std_dev=num.std_dev, min=num.min, max=num.max,
        buckets=tuple((b["lower_bound"], b["upper_bound"], b["count"]) for b in buckets),
        kll_k=num.kll.k, kll_data=tuple(tuple(level) for level in kll_levels(items, weights)),
    )


def _string_statistics(fp: FeatureProfile) -> StringStatistics:
    freqs = sorted(fp.categorical.frequencies().items(), key=lambda kv: (-kv[1], kv[0]))
    return StringStatistics(
        num_present=fp.n_present, num_missing=fp.n_missing,
        distinct_count=float(round(fp.categorical.distinct.estimate)),
        buckets=tuple((value, float(count)) for value, count in freqs),
    )


def statistics_from_profile(profile: DatasetProfile) -> Statistics:
    """SageMaker statistics of a profile (features in the profile's order)."""
    features: list[FeatureStatistics] = []
    for name, fp in profile.features.items():
        inferred = fp.inferred_type
        if inferred.is_numeric:
            features.append(FeatureStatistics(name, inferred, numeric=_numeric_statistics(fp)))
        elif inferred.is_categorical:
            features.append(FeatureStatistics(name, inferred, string=_string_statistics(fp)))
        else:
            features.append(FeatureStatistics(name, inferred))
    return Statistics(item_count=profile.n_records, features=tuple(features))


def _numeric_profile(stats: NumericStatistics, name: str, k: int) -> NumericProfile:
    num = NumericProfile(k)
    total = level_weight_total(stats.kll_data)
    if total != stats.num_present:
        raise BaselineError(f"feature {name!r}: KLL data weighs {total} values but num_present is "
                            f"{stats.num_present}")
    feed_levels(num.kll, stats.kll_data)
    num.missing = stats.num_missing
    if num.kll.n:
        m2 = stats.std_dev * stats.std_dev * num.kll.n if math.isfinite(stats.std_dev) else 0.0
        num._combine(num.kll.n, stats.min, stats.max, stats.sum, stats.mean, m2)
    return num


def _feature_profile(fs: FeatureStatistics, params: ProfileParams) -> FeatureProfile:
    fp = FeatureProfile(params)
    kind = {FeatureType.INTEGRAL: Kind.INTEGRAL, FeatureType.FRACTIONAL: Kind.FRACTIONAL,
            FeatureType.STRING: Kind.STRING, FeatureType.BOOLEAN: Kind.BOOLEAN}.get(fs.inferred_type)
    if kind is not None:
        fp.type_counts[kind] = fs.num_present
    fp.type_counts[Kind.MISSING] = fs.num_missing
    fp.categorical.missing = fs.num_missing
    if fs.numeric is not None and fs.inferred_type.is_numeric:
        fp.numeric = _numeric_profile(fs.numeric, fs.name, params.kll_k)
    else:
        fp.numeric.missing = fs.num_missing
        fp.numeric.wrong_type = fs.num_present
    if fs.string is not None and fs.string.buckets:
        values = [v for v, _ in fs.string.buckets]
        counts = np.rint([c for _, c in fs.string.buckets]).astype(np.int64)
        fp.categorical.update_counts(values, counts)
    return fp


def profile_from_statistics(stats: Statistics, params: ProfileParams = ProfileParams()) -> DatasetProfile:  # noqa: B008
    """Rebuild a mergeable profile from SageMaker statistics (see the module docs for the sketch rebuild)."""
    profile = DatasetProfile(params)
    for fs in stats.features:
        if fs.num_present + fs.num_missing != stats.item_count and (fs.numeric or fs.string):
            raise BaselineError(f"feature {fs.name!r}: num_present + num_missing = "
                                f"{fs.num_present + fs.num_missing}, item_count is {stats.item_count}")
        fp = _feature_profile(fs, params)
        if not (fs.numeric or fs.string):
            fp.type_counts[Kind.MISSING] = stats.item_count
            fp.numeric.missing = fp.categorical.missing = stats.item_count
        profile.features[fs.name] = fp
    profile.n_records = stats.item_count
    return profile


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
