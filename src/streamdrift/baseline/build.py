"""Building a baseline from data: profile the chunks, suggest constraints, stream the monitor sections.

Target, prediction and score columns are **not** features: :func:`build_baseline` keeps them out of the profile
(they are not monitored for drift; model-quality baselines live in ``model_quality``) and records their names.
Time columns are kept out of the profile too, identifier-like columns are profiled but not drift-tested
(``skip_drift``); declared and detected roles are recorded in ``column_roles`` (:mod:`streamdrift.baseline.roles`).

The monitor sections are streamed over the same chunks (:class:`MonitorOptions`, built by
:class:`streamdrift.baseline.sections.SectionBuilder`):

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
- ``estimated_performance`` (:class:`~streamdrift.monitors.estimated_performance.calibration.EstimatedPerformanceBaseline`,
  ``MonitorOptions.estimated_performance``): a binary model's calibration map fitted on the labelled scores
  (isotonic by PAV over the model-quality score histogram, or histogram binning) and its realised metrics.
- ``multivariate`` (:class:`~streamdrift.monitors.multivariate.pca.MultivariateBaseline`,
  ``MonitorOptions.multivariate``): a PCA on a uniform sample of the profiled, drift-tested features and the
  sample's reconstruction-error sketch.
- A Clarify analysis (``clarify=``) replaces the bias / attribution sections it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from streamdrift.baseline.clarify import ClarifyAnalysis
from streamdrift.baseline.constraints import (
    Constraints,
    FeatureConstraint,
    MonitoringConfig,
    suggest_domain,
)
from streamdrift.baseline.document import DEFAULT_BASELINE_KLL_K, Baseline, make_baseline_id
from streamdrift.baseline.roles import ColumnRole, RoleDetector, RoleOptions, identifier_reason
from streamdrift.baseline.sections import SectionBuilder, numeric_columns
from streamdrift.columns.chunks import Chunk
from streamdrift.columns.columns import Columns
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BaselineError, InputFileError
from streamdrift.monitors.bias import BiasDriftConfig, FacetSpec, OutcomeSpec, Scalar
from streamdrift.monitors.estimated_performance.calibration import CalibrationMethod
from streamdrift.monitors.multivariate.fit import MultivariateSampler
from streamdrift.monitors.multivariate.pca import DEFAULT_VARIANCE_SHARE
from streamdrift.monitors.segments.section import SegmentProfiler
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile, ProfileParams

__all__ = ["MonitorOptions", "build_baseline", "suggest_constraint", "suggest_constraints"]

NUMERIC_TYPES: Final[frozenset[FeatureType]] = frozenset({FeatureType.INTEGRAL, FeatureType.FRACTIONAL})


def suggest_constraint(name: str, fp: FeatureProfile, role: ColumnRole | None = None) -> FeatureConstraint:
    """The constraint suggested for one profiled feature (rules in :mod:`streamdrift.baseline.constraints`); an
    ``id`` role makes it skip the drift test with the role's reason."""
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
        skip_drift=role.reason if role is not None and role.role == "id" else None,
    )


def suggest_constraints(profile: DatasetProfile, monitoring: MonitoringConfig | None = None,
                        roles: Mapping[str, ColumnRole] | None = None) -> Constraints:
    """Constraints for every profiled feature. ``roles``: the build's column roles; without them (a profile from
    elsewhere) String features are identifier-like by their distinct count alone
    (:func:`~streamdrift.baseline.roles.identifier_reason`)."""
    if roles is None:
        roles = {name: ColumnRole("id", f"{reason}; not drift-tested", detected=True)
                 for name, fp in profile.features.items() if (reason := identifier_reason(fp)) is not None}
    features = {name: suggest_constraint(name, fp, roles.get(name)) for name, fp in sorted(profile.features.items())}
    return Constraints(features=features, monitoring=monitoring or MonitoringConfig(), source="streamdrift")


@dataclass(frozen=True)
class MonitorOptions:
    """How :func:`build_baseline` builds the model-quality and bias sections (see the module docs)."""

    problem_type: Literal["auto", "regression", "binary_classification", "multiclass_classification"] = "auto"
    facets: tuple[FacetSpec, ...] = ()
    positive_label: tuple[Scalar, ...] = (1, True)
    score_threshold: float | None = None  # bias: predicted positive = score >= this; model quality's threshold
    bias_drift: BiasDriftConfig = field(default_factory=BiasDriftConfig)
    estimated_performance: bool = False  # fit the calibration map (needs target and score, binary)
    calibration: CalibrationMethod = "isotonic"
    multivariate: bool = False  # fit the PCA of multivariate drift
    variance_share: float = DEFAULT_VARIANCE_SHARE

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
    roles: RoleOptions | None = None,
    segments: SegmentProfiler | None = None,
) -> Baseline:
    """Profile ``chunks`` (Columns, or reader Chunks carrying role values) into a baseline with the monitor
    sections (see the module docs). Target / prediction / score columns are recorded, not profiled. ``roles``:
    declared column roles (the readers may already have taken those columns out) and whether to detect the
    others (default: detect). ``segments``: profiles each segment beside the whole (``--segment-by``), stored
    as the baseline's ``segments`` section.

    ``progress`` is called with the number of rows of each chunk. Raises InputFileError when there are no rows
    or a named target / prediction / score column never appears.
    """
    if not model_id:
        raise BaselineError("model_id must not be empty")
    role_options = roles or RoleOptions()
    named = {c for c in (target, prediction, score) if c is not None}
    drop = frozenset(exclude) | named | set(role_options.declared())
    detector = RoleDetector(role_options)
    profile = DatasetProfile.empty(params)
    options = monitors or MonitorOptions()
    sections = SectionBuilder(target, prediction, score, options)
    sampler = MultivariateSampler() if options.multivariate else None
    seen: set[str] = set()
    source = iter(chunks)
    while (item := next(source, None)) is not None:
        cols = item.columns if isinstance(item, Chunk) else item
        seen.update(sections.update(cols, item if isinstance(item, Chunk) else None))
        features = {k: v for k, v in cols.columns.items() if k not in drop}
        unprofiled = detector.observe(Columns(cols.n_rows, features))
        if unprofiled:
            features = {k: v for k, v in features.items() if k not in unprofiled}
        profiled = Columns(cols.n_rows, features) if len(features) != len(cols.columns) else cols
        profile.update(profiled)
        if segments is not None:
            segments.update(cols, profiled)
        if sampler is not None:
            sampler.update(Columns(cols.n_rows, features))
        if progress is not None:
            progress(cols.n_rows)
        del cols, features, item, profiled  # release this chunk before the next one is read (constant memory)
    if profile.n_records == 0:
        raise InputFileError("the input has no rows to build a baseline from")
    if named - seen:
        raise InputFileError(f"column(s) {sorted(named - seen)} given as target/prediction/score not in the input")
    if attributions is not None:
        for cols in attributions:
            sections.update_attributions(numeric_columns(cols))
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    found = sections.finish(clarify)
    column_roles = detector.finish(profile)
    constraints = suggest_constraints(profile, roles=column_roles)
    multivariate = None
    if sampler is not None:
        tested = [n for n, c in constraints.features.items() if c.skip_drift is None]
        multivariate = sampler.finish(tested, options.variance_share).to_dict()
    return Baseline(
        baseline_id=make_baseline_id(model_id, created, profile.to_bytes()),
        model_id=model_id,
        created_at=created.isoformat().replace("+00:00", "Z"),
        profile=profile,
        constraints=constraints,
        target=target, prediction=prediction, score=score,
        model_quality=found.get("model_quality"), bias=found.get("bias"), attribution=found.get("attribution"),
        estimated_performance=found.get("estimated_performance"), multivariate=multivariate,
        segments=segments.finish().to_dict() if segments is not None else None,
        column_roles=column_roles,
    )
