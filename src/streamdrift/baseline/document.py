"""The baseline document: the reference profile and constraints a model's live windows are compared with.

A baseline file is one JSON document (``format_version`` 1, schema in ``schemas/baseline.schema.json``):

- ``baseline_id`` (``<model_id>-<created yyyymmddThhmmssZ>-<12 hex of the profile's sha256>``), ``model_id``,
  ``created_at`` (ISO-8601 UTC), ``columns`` (target / prediction / score names or null), ``n_records``,
  ``params`` (the sketch parameters);
- ``profile``: the mergeable :class:`~streamdrift.profile.profiles.DatasetProfile` blob, base64 — the source of truth;
- ``features``: a readable per-feature summary (counts, mean, std, min, max, quantiles, top categories) derived
  from the profile when written and ignored when read;
- ``constraints``: see :mod:`streamdrift.baseline.constraints`;
- ``model_quality``, ``bias``, ``attribution``: optional opaque JSON objects owned by other modules, round-tripped
  unchanged;
- ``estimated_performance``, ``multivariate`` (optional, absent in older baselines, whose models then do not run
  those monitors): the calibration map and the PCA model (:mod:`streamdrift.monitors.estimated_performance`,
  :mod:`streamdrift.monitors.multivariate`);
- ``segments`` (optional): the segment definition and each segment's profile (:mod:`streamdrift.monitors.segments`);
- ``column_roles`` (optional, absent in older baselines): per input column that is not a plain feature its role
  (``timestamp``, ``time``, ``id``, ``excluded``, or a declared ``feature``), the reason and whether it was
  detected (:mod:`streamdrift.baseline.roles`).

Building one from data: :mod:`streamdrift.baseline.build`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from streamdrift.baseline.constraints import Constraints
from streamdrift.baseline.roles import ColumnRole
from streamdrift.errors import BaselineError, SerializationError
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile, ProfileParams

__all__ = [
    "DEFAULT_BASELINE_KLL_K",
    "DEFAULT_WINDOW_KLL_K",
    "FORMAT_VERSION",
    "Baseline",
    "feature_summary",
    "make_baseline_id",
    "population_std",
]

FORMAT_VERSION: Final[int] = 1
#: Baselines are built and stored once: a large KLL k keeps their rank-error bound (added to the calibrated KS
#: critical value) small; windows keep a moderate k (settings.profile.kll_k). See docs/evaluation.md.
DEFAULT_BASELINE_KLL_K: Final[int] = 2048
# KLL k of window profiles (the stream worker's settings.profile.kll_k and `streamdrift check`): windows of up
# to 1,000 records are held exactly, larger ones within a 0.0028 rank-error bound (docs/evaluation.md).
DEFAULT_WINDOW_KLL_K: Final[int] = 1000
SUMMARY_QUANTILES: Final[tuple[float, ...]] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_CATEGORIES: Final[int] = 20


@dataclass
class Baseline:
    """A model's reference profile, constraints and the optional sections of other monitors."""

    baseline_id: str
    model_id: str
    created_at: str
    profile: DatasetProfile
    constraints: Constraints
    target: str | None = None
    prediction: str | None = None
    score: str | None = None
    model_quality: dict[str, Any] | None = None
    bias: dict[str, Any] | None = None
    attribution: dict[str, Any] | None = None
    estimated_performance: dict[str, Any] | None = None  # absent in older baselines: the monitor does not run
    multivariate: dict[str, Any] | None = None
    segments: dict[str, Any] | None = None  # per-segment profiles (monitors/segments/section.py); absent: none
    extra: dict[str, Any] = field(default_factory=dict)
    column_roles: dict[str, ColumnRole] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.constraints.source

    @property
    def timestamp_column(self) -> str | None:
        """The event-time column: declared at build or the suggested (detected) one; None when there is none."""
        return next((name for name, r in self.column_roles.items() if r.role == "timestamp"), None)

    @property
    def unprofiled_columns(self) -> frozenset[str]:
        """Input columns the baseline knows and deliberately left out of its profile (timestamp / time columns,
        the declared id column, excluded columns): a window that has them has no *extra* column."""
        return frozenset(name for name, r in self.column_roles.items()
                         if r.role != "feature" and name not in self.profile.features)

    def to_dict(self) -> dict[str, Any]:
        blob = self.profile.to_bytes()
        return {
            "format_version": FORMAT_VERSION,
            "baseline_id": self.baseline_id,
            "model_id": self.model_id,
            "created_at": self.created_at,
            "columns": {"target": self.target, "prediction": self.prediction, "score": self.score},
            "n_records": self.profile.n_records,
            "params": _params_dict(self.profile.params),
            "profile": base64.b64encode(blob).decode("ascii"),
            "features": {name: feature_summary(fp) for name, fp in sorted(self.profile.features.items())},
            "constraints": self.constraints.to_dict(),
            "model_quality": self.model_quality,
            "bias": self.bias,
            "attribution": self.attribution,
            **({"estimated_performance": self.estimated_performance} if self.estimated_performance else {}),
            **({"multivariate": self.multivariate} if self.multivariate else {}),
            **({"segments": self.segments} if self.segments else {}),
            **({"column_roles": {n: r.to_dict() for n, r in self.column_roles.items()}} if self.column_roles else {}),
            **({"extra": self.extra} if self.extra else {}),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise BaselineError(f"baseline format_version {version!r} is not supported (expected {FORMAT_VERSION})")
        try:
            profile = DatasetProfile.from_bytes(base64.b64decode(data["profile"], validate=True))
            columns = data.get("columns") or {}
            return cls(
                baseline_id=str(data["baseline_id"]),
                model_id=str(data["model_id"]),
                created_at=str(data["created_at"]),
                profile=profile,
                constraints=Constraints.from_dict(data["constraints"]),
                target=_optional_str(columns.get("target")),
                prediction=_optional_str(columns.get("prediction")),
                score=_optional_str(columns.get("score")),
                model_quality=_optional_object(data, "model_quality"),
                bias=_optional_object(data, "bias"),
                attribution=_optional_object(data, "attribution"),
                estimated_performance=_optional_object(data, "estimated_performance"),
                multivariate=_optional_object(data, "multivariate"),
                segments=_optional_object(data, "segments"),
                extra=dict(data.get("extra") or {}),
                column_roles={str(n): ColumnRole.from_dict(str(n), r)
                              for n, r in (data.get("column_roles") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise BaselineError(f"invalid baseline document: missing or malformed {exc!s}") from exc
        except (binascii.Error, ValueError, SerializationError) as exc:
            raise BaselineError(f"invalid baseline profile: {exc}") from exc

    @classmethod
    def from_json(cls, data: bytes | str) -> Baseline:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BaselineError(f"baseline is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise BaselineError("baseline must be a JSON object")
        return cls.from_dict(parsed)

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise BaselineError(f"cannot read baseline {path}: {exc}") from exc
        return cls.from_json(data)

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(self.to_json())
            tmp.replace(target)
        except OSError as exc:
            raise BaselineError(f"cannot write baseline {target}: {exc}") from exc
        return target

    def with_sections(self, **sections: dict[str, Any] | None) -> Baseline:
        """A copy with ``model_quality`` / ``bias`` / ``attribution`` replaced."""
        unknown = set(sections) - {"model_quality", "bias", "attribution"}
        if unknown:
            raise BaselineError(f"unknown baseline section(s): {sorted(unknown)}")
        return replace(self, **sections)  # type: ignore[arg-type]  # keys checked just above


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_object(data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BaselineError(f"baseline section {key!r} must be a JSON object or null")
    return value


def _params_dict(params: ProfileParams) -> dict[str, int]:
    return {"kll_k": params.kll_k, "frequent_lg_max_k": params.frequent_lg_max_k, "hll_lg_k": params.hll_lg_k}


def make_baseline_id(model_id: str, created: datetime, profile_blob: bytes) -> str:
    digest = hashlib.sha256(model_id.encode() + b"\0" + profile_blob).hexdigest()[:12]
    return f"{model_id}-{created.strftime('%Y%m%dT%H%M%SZ')}-{digest}"


# ---------------------------------------------------------------- summaries


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def population_std(fp: FeatureProfile) -> float:
    """Population standard deviation of the numeric values (what SageMaker reports as std_dev)."""
    num = fp.numeric
    if num.count == 0:
        return math.nan
    return math.sqrt(max(num.m2, 0.0) / num.count)


def feature_summary(fp: FeatureProfile) -> dict[str, Any]:
    """Readable statistics of one feature (informational: the profile blob is the source of truth)."""
    out: dict[str, Any] = {
        "inferred_type": fp.inferred_type.value,
        "count": int(fp.n_present),
        "missing": int(fp.n_missing),
        "completeness": float(fp.completeness),
    }
    num = fp.numeric
    if num.count > 0:
        quantiles = num.kll.quantiles(np.asarray(SUMMARY_QUANTILES)) if not num.kll.is_empty else None
        out["numeric"] = {
            "count": int(num.count), "mean": _finite(num.mean), "std_dev": _finite(population_std(fp)),
            "min": _finite(num.min), "max": _finite(num.max), "sum": _finite(num.sum),
            "quantiles": {str(q): _finite(float(v)) for q, v in zip(SUMMARY_QUANTILES, quantiles, strict=True)}
            if quantiles is not None else {},
        }
    cat = fp.categorical
    if cat.count > 0:
        freqs = sorted(cat.frequencies().items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES]
        out["categorical"] = {
            "count": int(cat.count), "distinct_count": float(cat.distinct.estimate),
            "top": [{"value": v, "count": int(c)} for v, c in freqs],
        }
    return out
