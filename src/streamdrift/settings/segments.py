"""The ``segments`` section of the settings: drift per slice of a model's traffic (docs/segments.md).
:class:`~streamdrift.settings.Settings` holds it as ``segments``; ``check --config`` reads the same file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from streamdrift.settings.sections import _Frozen

if TYPE_CHECKING:
    from streamdrift.monitors.segments.spec import SegmentsConfig


class SegmentDefinition(_Frozen):
    """One model's segments: fields (features or ``model_version``), numeric ones optionally cut into buckets."""

    by: str | list[str] = Field(description="field(s) the traffic is sliced by: 'region', 'region,tier' or a list")
    buckets: dict[str, list[float]] = Field(default_factory=dict, description="numeric fields cut at these edges, "
                                            "e.g. {age: [0, 30, 50]}")

    @model_validator(mode="after")
    def _check(self) -> SegmentDefinition:
        from streamdrift.errors import ConfigError
        from streamdrift.monitors.segments.spec import SegmentSpec

        try:
            SegmentSpec.parse(self.by, self.buckets)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return self


class SegmentSettings(_Frozen):
    """Segment rules; a model's definition here wins over its baseline's (``baseline build --segment-by``)."""

    enabled: bool = Field(default=True, description="judge the segments of models that define them")
    models: dict[str, SegmentDefinition] = Field(default_factory=dict, description="model id -> its segments")
    max_values: int = Field(default=50, ge=1, description="segment values one window keeps per model (the rest "
                            "pooled as _other and counted); also the cap of the segment label of the metrics")
    whole_alpha_share: float = Field(default=0.5, gt=0, lt=1, description="share of evaluation.alpha for the "
                                     "whole traffic's drift tests; the segments share the rest (Bonferroni)")

    def config(self) -> SegmentsConfig:
        from streamdrift.monitors.segments.spec import SegmentsConfig, SegmentSpec

        return SegmentsConfig({m: SegmentSpec.parse(d.by, d.buckets) for m, d in self.models.items()},
                              self.max_values, self.whole_alpha_share, self.enabled)
