"""The monitor kinds, in one table, and the monitors of one model built from its baseline.

Adding a monitor kind: its package under ``monitors/`` with a :class:`~streamdrift.monitors.base.Monitor`
subclass and a ``build(baseline, config)`` function, and one entry in :data:`MONITOR_KINDS` (plus its rule
settings in :class:`MonitorConfig` when it has any). Both ``streamdrift check`` and the worker build their
monitors here, so they judge alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from streamdrift.baseline.baseline import DEFAULT_WINDOW_KLL_K, Baseline
from streamdrift.errors import StreamdriftError
from streamdrift.monitors.attribution.monitor import AttributionMonitor
from streamdrift.monitors.attribution.ranking import (
    AttributionBaseline,
    AttributionDriftConfig,
    AttributionState,
)
from streamdrift.monitors.base import DATA, LABELS, Monitor, Stage
from streamdrift.monitors.bias.drift import BiasBaseline, BiasDriftConfig
from streamdrift.monitors.bias.monitor import BiasMonitor
from streamdrift.monitors.bias.spec import OutcomeSpec
from streamdrift.monitors.bias.state import BiasState
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig
from streamdrift.monitors.data_quality.monitor import DEFAULT_MAX_FEATURES, DataQualityMonitor
from streamdrift.monitors.estimated_performance.calibration import EstimatedPerformanceBaseline
from streamdrift.monitors.estimated_performance.monitor import EstimatedPerformanceMonitor
from streamdrift.monitors.estimated_performance.state import EstimatedPerformanceState
from streamdrift.monitors.model_quality._blob import QUALITY_KINDS
from streamdrift.monitors.model_quality.baseline import ModelQualityBaseline
from streamdrift.monitors.model_quality.monitor import DEFAULT_POSITIVE, ModelQualityMonitor
from streamdrift.monitors.model_quality.rule import QualityRuleConfig
from streamdrift.monitors.model_quality.sagemaker_format import ModelQualityConstraints, constraints_from_dict
from streamdrift.monitors.model_quality.state import state_from_bytes
from streamdrift.monitors.multivariate.monitor import MultivariateMonitor, MultivariateRuleConfig
from streamdrift.monitors.multivariate.pca import MultivariateBaseline
from streamdrift.monitors.multivariate.state import MultivariateState
from streamdrift.monitors.segments import monitor as segments
from streamdrift.monitors.segments.spec import SegmentsConfig
from streamdrift.monitors.segments.state import SegmentStates
from streamdrift.profile.profiles import ProfileParams
from streamdrift.profile.sketches import BlobKind

log = logging.getLogger(__name__)

AnyMonitor = Monitor[Any, Any]


@dataclass(frozen=True)
class MonitorConfig:
    """The rule settings of every monitor kind (the worker reads them from its settings, ``check`` from its
    options: the same values judge alike in both)."""

    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    quality: QualityRuleConfig = field(default_factory=QualityRuleConfig)
    bias: BiasDriftConfig = field(default_factory=BiasDriftConfig)
    attribution: AttributionDriftConfig = field(default_factory=AttributionDriftConfig)
    multivariate: MultivariateRuleConfig = field(default_factory=MultivariateRuleConfig)
    profile: ProfileParams = field(default_factory=lambda: ProfileParams(kll_k=DEFAULT_WINDOW_KLL_K))
    # model quality of a model without a baseline section: metrics reported (the worker), or not run (check)
    quality_without_baseline: bool = True
    max_features: int = DEFAULT_MAX_FEATURES  # features one window's profile holds at most (limits.max_features)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)


def build_data_quality(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor:
    evaluation = config.evaluation
    try:
        sliced = segments.spec_of(baseline, config.segments) is not None
    except StreamdriftError:  # an unusable segments section: reported by build_segments, the whole judged alone
        sliced = False
    if sliced:  # the segments take the rest of alpha
        evaluation = replace(evaluation, alpha=evaluation.alpha * config.segments.whole_alpha_share)
    return DataQualityMonitor(baseline, evaluation, config.profile, config.max_features)


def build_segments(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor | None:
    """Drift per segment of the traffic when the settings or the baseline define segments for the model."""
    return segments.build(baseline, config.evaluation, config.profile, config.segments)


def _positive_label(baseline: Baseline) -> OutcomeSpec:
    bias_config = (baseline.bias or {}).get("config")
    if isinstance(bias_config, dict) and isinstance(bias_config.get("label"), dict):
        return OutcomeSpec.from_dict(bias_config["label"])
    return DEFAULT_POSITIVE


def _imported_constraints(section: Mapping[str, Any]) -> ModelQualityConstraints | None:
    from streamdrift.baseline.sagemaker import MQ_CONSTRAINTS_KEY

    raw = section.get(MQ_CONSTRAINTS_KEY)
    return constraints_from_dict(raw) if isinstance(raw, dict) else None


def build_model_quality(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor | None:
    if baseline is None or not baseline.model_quality:
        if not config.quality_without_baseline:
            return None
        return ModelQualityMonitor(None, config.quality,
                                   DEFAULT_POSITIVE if baseline is None else _positive_label(baseline))
    section = ModelQualityBaseline.from_dict(baseline.model_quality)
    return ModelQualityMonitor(section, config.quality, _positive_label(baseline),
                               _imported_constraints(baseline.model_quality))


def build_bias(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor | None:
    if baseline is None or not baseline.bias:
        return None
    section = BiasBaseline.from_dict(baseline.bias)
    if section.config is None:  # imported from Clarify: no facet config to count windows with
        return None
    return BiasMonitor(section, section.config, config.bias)


def build_attribution(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor | None:
    if baseline is None or not baseline.attribution:
        return None
    return AttributionMonitor(AttributionBaseline.from_dict(baseline.attribution), config.attribution)


def build_estimated_performance(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor | None:
    """Estimated performance (same rule settings as model quality) when the baseline has the section."""
    if baseline is None or not baseline.estimated_performance:
        return None
    return EstimatedPerformanceMonitor(EstimatedPerformanceBaseline.from_dict(baseline.estimated_performance),
                                       config.quality)


def build_multivariate(baseline: Baseline | None, config: MonitorConfig) -> AnyMonitor | None:
    if baseline is None or not baseline.multivariate:
        return None
    return MultivariateMonitor(MultivariateBaseline.from_dict(baseline.multivariate), config.multivariate,
                               config.profile.kll_k)


Builder = Callable[[Baseline | None, MonitorConfig], AnyMonitor | None]


class MergeableState(Protocol):
    def merge(self, other: Any) -> Any: ...
    def to_bytes(self) -> bytes: ...


@dataclass(frozen=True)
class MonitorKind:
    """One monitor kind: how to build it for a model, and (for states carried in the partials' extras) the
    blob kinds of its states and how to read one back, so the merge can fold them whatever the model."""

    build: Builder
    blob_kinds: tuple[BlobKind, ...] = ()
    read_state: Callable[[bytes], MergeableState] | None = None


#: Every monitor kind, in the order their results are reported.
MONITOR_KINDS: Final[Mapping[str, MonitorKind]] = {
    "data_quality": MonitorKind(build_data_quality),  # its state is the partial's profile itself
    "model_quality": MonitorKind(build_model_quality, QUALITY_KINDS, state_from_bytes),
    "bias": MonitorKind(build_bias, (BlobKind.BIAS,), BiasState.from_bytes),
    "attribution": MonitorKind(build_attribution, (BlobKind.ATTRIBUTION,), AttributionState.from_bytes),
    "estimated_performance": MonitorKind(build_estimated_performance, (BlobKind.ESTIMATED_PERFORMANCE,),
                                         EstimatedPerformanceState.from_bytes),
    "multivariate": MonitorKind(build_multivariate, (BlobKind.MULTIVARIATE,), MultivariateState.from_bytes),
    "segments": MonitorKind(build_segments, (BlobKind.SEGMENTS,), SegmentStates.from_bytes),
}


def state_reader(kind: int) -> Callable[[bytes], MergeableState] | None:
    """How to read a monitor state of blob ``kind`` (None: not a monitor state)."""
    return next((k.read_state for k in MONITOR_KINDS.values() if kind in k.blob_kinds), None)


@dataclass(frozen=True)
class ModelMonitors:
    """The monitors of one model under one baseline (None: no baseline yet)."""

    baseline: Baseline | None
    monitors: tuple[AnyMonitor, ...]
    errors: Mapping[str, str] = field(default_factory=dict)  # monitor kind -> why its section is unusable

    @property
    def baseline_id(self) -> str | None:
        return None if self.baseline is None else self.baseline.baseline_id

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.monitors]

    def stage(self, stage: Stage) -> tuple[AnyMonitor, ...]:
        return tuple(m for m in self.monitors if m.stage == stage)

    @property
    def data(self) -> tuple[AnyMonitor, ...]:
        return self.stage(DATA)

    @property
    def labels(self) -> tuple[AnyMonitor, ...]:
        return self.stage(LABELS)

    def get(self, name: str) -> AnyMonitor | None:
        return next((m for m in self.monitors if m.name == name), None)


def monitors_for(baseline: Baseline | None, config: MonitorConfig) -> ModelMonitors:
    """The monitors of a model: one per kind its baseline has a usable section for (an unusable section is
    logged and left out, the others still run)."""
    built: list[AnyMonitor] = []
    errors: dict[str, str] = {}
    for name, kind in MONITOR_KINDS.items():
        try:
            monitor = kind.build(baseline, config)
        except StreamdriftError as exc:
            errors[name] = str(exc)
            log.error("%s section of baseline %s is unusable: %s", name,
                      baseline.baseline_id if baseline is not None else "-", exc)
            continue
        if monitor is not None:
            built.append(monitor)
    return ModelMonitors(baseline, tuple(built), errors)

