"""Baselines: the reference profile and constraints a model's live windows are compared with.

A baseline file is one JSON document (``format_version`` 1, schema in ``schemas/baseline.schema.json``):

- ``baseline_id`` (``<model_id>-<created yyyymmddThhmmssZ>-<12 hex of the profile's sha256>``), ``model_id``,
  ``created_at`` (ISO-8601 UTC), ``columns`` (target / prediction / score names or null), ``n_records``,
  ``params`` (the sketch parameters);
- ``profile``: the mergeable :class:`~streamdrift.profile.profiles.DatasetProfile` blob, base64 — the source of truth;
- ``features``: a readable per-feature summary (counts, mean, std, min, max, quantiles, top categories) derived
  from the profile when written and ignored when read;
- ``constraints``: see :mod:`streamdrift.baseline.constraints`;
- ``model_quality``, ``bias``, ``attribution``: optional opaque JSON objects owned by other modules, round-tripped
  unchanged.

Target, prediction and score columns are **not** features: :func:`build_baseline` keeps them out of the profile
(they are not monitored for drift; model-quality baselines live in ``model_quality``) and records their names.

The monitor sections are streamed over the same chunks (:class:`MonitorOptions`):

- ``model_quality`` (:class:`~streamdrift.monitors.model_quality.ModelQualityBaseline`) when a target and a prediction or
  score are given. Problem type "auto": binary when the first labelled chunk has two label values one of which
  is the positive label, or at most two values and a score; otherwise
  :func:`~streamdrift.monitors.model_quality.infer_problem_type` (multiclass for few discrete labels, else regression).
  Binary labels and predicted labels are mapped to 1 (the positive label) / 0.
- ``bias`` (:class:`~streamdrift.monitors.bias.BiasBaseline`) when facets are given: the predicted outcome is the
  prediction equal to the positive label, or ``score >= score_threshold``; labels (when a target is given)
  use the positive label.
- ``attribution`` (:class:`~streamdrift.monitors.attribution.AttributionBaseline`): mean |attribution| per feature from
  the chunks' capture attributions and/or a separate attribution source (one column per feature).
- A Clarify analysis (``clarify=``) replaces the bias / attribution sections it holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.baseline.clarify import ClarifyAnalysis
from streamdrift.baseline.constraints import (
    Constraints,
    FeatureConstraint,
    MonitoringConfig,
    suggest_domain,
)
from streamdrift.columns.chunks import (
    Chunk,
    role_binary_like,
    role_floats,
    role_labels,
    role_present,
    role_values,
)
from streamdrift.columns.columns import Columns
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BaselineError, InputFileError, SerializationError, StreamdriftError
from streamdrift.monitors.attribution import AttributionBaseline, AttributionState
from streamdrift.monitors.bias import (
    BiasBaseline,
    BiasConfig,
    BiasDriftConfig,
    BiasState,
    FacetSpec,
    OutcomeSpec,
    Scalar,
)
from streamdrift.monitors.model_quality import (
    BinaryQualityState,
    ProblemType,
    QualityState,
    RegressionQualityState,
    baseline_from_state,
    infer_problem_type,
    new_state,
)
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile, ProfileParams

__all__ = [
    "DEFAULT_BASELINE_KLL_K",
    "DEFAULT_WINDOW_KLL_K",
    "FORMAT_VERSION",
    "Baseline",
    "Constraints",
    "FeatureConstraint",
    "MonitorOptions",
    "MonitoringConfig",
    "build_baseline",
    "feature_summary",
    "suggest_constraints",
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
NUMERIC_TYPES: Final[frozenset[FeatureType]] = frozenset({FeatureType.INTEGRAL, FeatureType.FRACTIONAL})


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.constraints.source

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
                extra=dict(data.get("extra") or {}),
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


# ---------------------------------------------------------------- building


def suggest_constraint(name: str, fp: FeatureProfile) -> FeatureConstraint:
    """The constraint suggested for one profiled feature (rules in :mod:`streamdrift.baseline.constraints`)."""
    inferred = fp.inferred_type
    non_negative = bool(fp.numeric.min >= 0) if inferred in NUMERIC_TYPES and fp.numeric.count > 0 else None
    domain: tuple[str, ...] | None = None
    high_cardinality = False
    if inferred in (FeatureType.STRING, FeatureType.BOOLEAN) and fp.categorical.count > 0:
        domain, high_cardinality = suggest_domain(
            inferred, fp.categorical.frequencies(), float(fp.categorical.distinct.estimate),
            int(fp.categorical.count),
        )
    return FeatureConstraint(
        name=name, inferred_type=inferred, completeness=float(fp.completeness),
        is_non_negative=non_negative, domain=domain, high_cardinality=high_cardinality,
    )


def suggest_constraints(profile: DatasetProfile, monitoring: MonitoringConfig | None = None) -> Constraints:
    features = {name: suggest_constraint(name, fp) for name, fp in sorted(profile.features.items())}
    return Constraints(features=features, monitoring=monitoring or MonitoringConfig(), source="streamdrift")


@dataclass(frozen=True)
class MonitorOptions:
    """How :func:`build_baseline` builds the model-quality and bias sections (see the module docs)."""

    problem_type: Literal["auto", "regression", "binary_classification", "multiclass_classification"] = "auto"
    facets: tuple[FacetSpec, ...] = ()
    positive_label: tuple[Scalar, ...] = (1, True)
    score_threshold: float | None = None  # bias: predicted positive = score >= this; model quality's threshold
    bias_drift: BiasDriftConfig = field(default_factory=BiasDriftConfig)

    @property
    def positive(self) -> OutcomeSpec:
        return OutcomeSpec(values=self.positive_label)


def build_baseline(
    chunks: Iterable[Columns | Chunk],
    model_id: str,
    target: str | None = None,
    prediction: str | None = None,
    score: str | None = None,
    exclude: Iterable[str] = (),
    params: ProfileParams = ProfileParams(kll_k=DEFAULT_BASELINE_KLL_K),  # noqa: B008 - frozen dataclass, safe
    progress: Callable[[int], None] | None = None,
    created_at: datetime | None = None,
    *,
    monitors: MonitorOptions | None = None,
    attributions: Iterable[Columns] | None = None,
    clarify: ClarifyAnalysis | None = None,
) -> Baseline:
    """Profile ``chunks`` (Columns, or reader Chunks carrying role values) into a baseline with the monitor
    sections (see the module docs). Target / prediction / score columns are recorded, not profiled.

    ``progress`` is called with the number of rows of each chunk. Raises InputFileError when there are no rows
    or a named target / prediction / score column never appears.
    """
    if not model_id:
        raise BaselineError("model_id must not be empty")
    roles = {c for c in (target, prediction, score) if c is not None}
    drop = frozenset(exclude) | roles
    profile = DatasetProfile.empty(params)
    sections = _SectionBuilder(target, prediction, score, monitors or MonitorOptions())
    seen: set[str] = set()
    source = iter(chunks)
    while (item := next(source, None)) is not None:
        cols = item.columns if isinstance(item, Chunk) else item
        seen.update(sections.update(cols, item if isinstance(item, Chunk) else None))
        features = {k: v for k, v in cols.columns.items() if k not in drop}
        profile.update(Columns(cols.n_rows, features) if len(features) != len(cols.columns) else cols)
        if progress is not None:
            progress(cols.n_rows)
        del cols, features, item  # release this chunk before the next one is read (constant memory)
    if profile.n_records == 0:
        raise InputFileError("the input has no rows to build a baseline from")
    if roles - seen:
        raise InputFileError(f"column(s) {sorted(roles - seen)} given as target/prediction/score not in the input")
    if attributions is not None:
        for cols in attributions:
            sections.update_attributions(_numeric_columns(cols))
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    found = sections.finish(clarify)
    return Baseline(
        baseline_id=make_baseline_id(model_id, created, profile.to_bytes()),
        model_id=model_id,
        created_at=created.isoformat().replace("+00:00", "Z"),
        profile=profile,
        constraints=suggest_constraints(profile),
        target=target, prediction=prediction, score=score,
        model_quality=found.get("model_quality"), bias=found.get("bias"), attribution=found.get("attribution"),
    )


# ---------------------------------------------------------------- monitor sections


def _numeric_columns(cols: Columns) -> dict[str, NDArray[np.float64]]:
    """Attribution values per feature: the columns with at least one number (text columns such as ids left out)."""
    return {name: col.numbers for name, col in cols.columns.items() if np.isfinite(col.numbers).any()}


class _SectionBuilder:
    """Streams the model-quality, bias and attribution states over the chunks of one build."""

    def __init__(self, target: str | None, prediction: str | None, score: str | None, options: MonitorOptions):
        self._names = (target, prediction, score)
        self._options = options
        self._quality: QualityState | None = None
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
            self.update_attributions(_numeric_columns(chunk.attributions))
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
        state.update(role_labels(target[keep]), role_labels(prediction[keep]))

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

    def finish(self, clarify: ClarifyAnalysis | None) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if self._quality is not None:
            out["model_quality"] = baseline_from_state(self._quality).to_dict()
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
