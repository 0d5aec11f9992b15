"""The segments monitor: drift per slice of a model's traffic, judged beside the whole.

A data-stage monitor (both paths run it through the registry): its window state is one data-quality profile per
segment value (:class:`~streamdrift.monitors.segments.state.SegmentStates`, capped), fed the rows the whole's
profile sees, split by segment vectorized. Each segment is judged by the data-quality drift tests
(:func:`~streamdrift.monitors.data_quality.evaluation.evaluate`) against its own baseline profile, or the whole's
when the baseline has none for it (too few rows, or a segment *new* since the build).

Multiple testing. The window's false-alarm budget ``alpha`` (family-wise) is split: the whole traffic's test gets
``alpha * whole_alpha_share`` (the registry builds the data-quality monitor so when the model has segments), and
the ``K`` segments tested in the window (those with at least ``min_window_records`` rows) share the rest by
Bonferroni, each judging its features with the configured correction (Holm by default) at
``alpha * (1 - whole_alpha_share) / K``. By the union bound the window raises any drift alarm on unchanged data
with probability at most ``alpha``, however many segments there are.

Violations carry ``segment`` (their hysteresis key is per segment and check); the pooled ``_other`` segment is
profiled and counted but not tested (it mixes slices). The result's files are each segment's
``segments/<segment>/constraint_violations.json``; its summary holds the segment x feature heat map of the
statistic.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar, Final

import numpy as np

from streamdrift.baseline.baseline import Baseline
from streamdrift.baseline.sagemaker import VIOLATIONS_FILE
from streamdrift.columns.columns import Columns
from streamdrift.monitors.base import DataMonitor, MetricSink, MonitorResult, Rows
from streamdrift.monitors.data_quality.evaluation import (
    EvaluationConfig,
    PreparedBaseline,
    drift_measurement,
    evaluate,
    prepare,
)
from streamdrift.monitors.data_quality.monitor import window_schema
from streamdrift.monitors.segments.section import SegmentsBaseline
from streamdrift.monitors.segments.spec import OTHER, SegmentsConfig, SegmentSpec, segment_of_rows
from streamdrift.monitors.segments.state import SegmentStates
from streamdrift.monitors.violations import CheckKey, Violation
from streamdrift.profile.dataset import DatasetProfile
from streamdrift.profile.profiles import ProfileParams

NAME: Final[str] = "segments"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


def segment_dir(segment: str) -> str:
    """A filesystem-safe directory name of a segment (other characters as ``%xx``)."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02x}" for b in m.group().encode()), segment) or "%"


def spec_of(baseline: Baseline | None, config: SegmentsConfig) -> SegmentSpec | None:
    """A model's segment definition: the settings' for the model, else its baseline's (None: no segments)."""
    if baseline is None or not config.enabled:
        return None
    if baseline.model_id in config.definitions:
        return config.definitions[baseline.model_id]
    return SegmentSpec.from_dict(baseline.segments) if baseline.segments else None  # profiles not decoded


class SegmentsMonitor(DataMonitor[SegmentStates]):
    """Per-segment profiles of the capture rows, judged per segment against the baseline's segments."""

    name: ClassVar[str] = NAME

    def __init__(self, baseline: Baseline, spec: SegmentSpec, evaluation: EvaluationConfig,
                 params: ProfileParams, config: SegmentsConfig) -> None:
        self.baseline = baseline
        self.spec = spec
        self.evaluation = evaluation
        self.params = params
        self.config = config
        section = SegmentsBaseline.from_dict(baseline.segments) if baseline.segments else None
        # the baseline's segment profiles are of this definition only when the settings did not replace it
        self.section = section if section is not None and section.spec == spec else None
        self._schema = window_schema(baseline)
        # the segment fields are constant (or bucketed) within a segment: not tested per segment
        self._features = frozenset(baseline.profile.features) - frozenset(spec.by)
        self._prepared: dict[str | None, PreparedBaseline] = {}

    # ------------------------------------------------------------ window state

    def new_state(self, rows: Rows | None = None) -> SegmentStates:
        return SegmentStates(self.config.max_values)

    def _empty(self) -> DatasetProfile:
        return DatasetProfile.empty(self.params, schema=self._schema)  # type: ignore[arg-type]

    def update(self, state: SegmentStates, rows: Rows) -> None:
        if rows.n_rows == 0:
            return
        columns = rows.features
        known = Columns(columns.n_rows, {n: c for n, c in columns.columns.items() if n in self._features})
        names, inverse = segment_of_rows(self.spec, columns, rows.batch.model_version)
        state.add(known, names, inverse, self._empty)

    def read_state(self, blob: bytes) -> SegmentStates:
        return SegmentStates.from_bytes(blob)

    def write_state(self, state: SegmentStates) -> bytes:
        state.settle(self._empty)
        return state.to_bytes()

    # ------------------------------------------------------------ judgement

    def _reference(self, segment: str) -> tuple[PreparedBaseline, bool]:
        """The prepared baseline a segment is compared with, and whether it is the segment's own."""
        own = None if self.section is None else self.section.profiles.get(segment)
        key = segment if own is not None else None
        prepared = self._prepared.get(key)
        if prepared is None:
            base = self.baseline if own is None else dataclasses.replace(self.baseline, profile=own)
            prepared = self._prepared[key] = prepare(base)
        return prepared, own is not None

    def judge(self, state: SegmentStates) -> MonitorResult:
        state.settle(self._empty)
        cfg = self.evaluation
        named = state.named
        tested = [s for s in named if state.profiles[s].n_records >= cfg.min_window_records]
        alpha = cfg.alpha * (1.0 - self.config.whole_alpha_share) / max(len(tested), 1)
        seg_cfg = dataclasses.replace(cfg, alpha=alpha)
        violations: list[Violation] = []
        checked: set[CheckKey] = set()
        measurements: dict[CheckKey, Violation] = {}
        files: dict[str, dict[str, Any]] = {}
        entries: list[dict[str, Any]] = []
        heat: dict[str, dict[str, float]] = {}
        drifted_cells: dict[str, list[str]] = {}
        for segment in named:
            profile = state.profiles[segment]
            prepared, own = self._reference(segment)
            known = self.section is not None and segment in self.section.rows
            entry: dict[str, Any] = {"segment": segment, "n": int(profile.n_records),
                                     "reference": "segment" if own else "whole", "new": not known}
            if segment not in tested:
                entry["skipped"] = f"{profile.n_records} < {cfg.min_window_records} records"
                entries.append(entry)
                continue
            evaluation = evaluate(profile, prepared, seg_cfg)
            seg_violations = []
            for r in evaluation.results:
                v = dataclasses.replace(drift_measurement(r), segment=segment)
                checked.add(v.key)
                measurements[v.key] = v
                heat.setdefault(segment, {})[r.feature] = float(r.value)
                if r.drifted:
                    seg_violations.append(v)
                    drifted_cells.setdefault(segment, []).append(r.feature)
            violations += seg_violations
            entry["drifted"] = drifted_cells.get(segment, [])
            entries.append(entry)
            files[f"segments/{segment_dir(segment)}/{VIOLATIONS_FILE}"] = {"violations": [
                {"feature_name": v.feature, "constraint_check_type": v.check, "segment": segment,
                 "description": v.description} for v in seg_violations]}
        features = sorted({f for cells in heat.values() for f in cells})
        summary: dict[str, Any] = {
            "status": "ok", "by": list(self.spec.by), "alpha_per_segment": alpha, "tested": len(tested),
            "pooled_rows": int(state.pooled_rows),
            "other_rows": int(state.profiles[OTHER].n_records) if OTHER in state.profiles else 0,
            "new": [e["segment"] for e in entries if e["new"]],
            "segments": entries,
            "heatmap": {"statistic": cfg.statistic, "features": features, "segments": sorted(heat),
                        "values": [[heat[s].get(f) for f in features] for s in sorted(heat)],
                        "drifted": {s: sorted(c) for s, c in drifted_cells.items()}},
        }
        verdict = ("DRIFT " + "; ".join(f"{s}: {', '.join(c)}" for s, c in sorted(drifted_cells.items()))
                   if drifted_cells else f"{len(tested)} segments ok")
        n_window = int(sum(p.n_records for p in state.profiles.values()))
        return MonitorResult(NAME, violations, frozenset(checked), summary, verdict, files, n_window,
                             int(self.baseline.profile.n_records), measurements)

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        heat = result.summary.get("heatmap") or {}
        statistic = str(heat.get("statistic", ""))
        drifted = heat.get("drifted") or {}
        for segment, row in zip(heat.get("segments", ()), heat.get("values", ()), strict=False):
            for feature, value in zip(heat.get("features", ()), row, strict=False):
                if value is not None and np.isfinite(value):
                    sink.set_segment_drift(model_id, segment, feature, statistic, float(value),
                                           feature in drifted.get(segment, ()))


def build(baseline: Baseline | None, evaluation: EvaluationConfig, params: ProfileParams,
          config: SegmentsConfig) -> SegmentsMonitor | None:
    spec = spec_of(baseline, config)
    if baseline is None or spec is None:
        return None
    return SegmentsMonitor(baseline, spec, evaluation, params, config)
