"""What the data plane needs from a model's baseline to build the per-window monitor states.

``ModelSetup`` is derived once per baseline version (the baselines topic is followed live by
:class:`~streamdrift.worker.baselines.BaselineWatcher`): the model-quality problem type and threshold, the bias
facets and outcomes, the attribution feature list. A model without a baseline (or without a section) gets the
model-quality state from the data (``infer_problem_type`` on its first labelled rows) and no bias / attribution
state.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.baseline import Baseline
from streamdrift.columns.columns import Column, Kind
from streamdrift.errors import StreamdriftError
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import BiasBaseline, BiasConfig
from streamdrift.monitors.model_quality import ModelQualityBaseline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSetup:
    baseline_id: str | None
    quality: ModelQualityBaseline | None
    bias: BiasConfig | None
    attribution_features: tuple[str, ...] | None


NO_SETUP = ModelSetup(None, None, None, None)


def setup_from_baseline(baseline: Baseline) -> ModelSetup:
    """The monitor parameters of ``baseline``; unreadable sections are logged and left out."""
    quality = bias = features = None
    try:
        if baseline.model_quality:
            quality = ModelQualityBaseline.from_dict(baseline.model_quality)
    except StreamdriftError as exc:
        log.error("model_quality section of %s is unusable: %s", baseline.baseline_id, exc)
    try:
        if baseline.bias:
            bias = BiasBaseline.from_dict(baseline.bias).config
    except StreamdriftError as exc:
        log.error("bias section of %s is unusable: %s", baseline.baseline_id, exc)
    try:
        if baseline.attribution:
            features = AttributionBaseline.from_dict(baseline.attribution).features
    except StreamdriftError as exc:
        log.error("attribution section of %s is unusable: %s", baseline.baseline_id, exc)
    return ModelSetup(baseline.baseline_id, quality, bias, features)


class BaselineCache:
    """Parsed baselines (and their monitor setups), re-parsed only when the bytes change."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[bytes, Baseline, ModelSetup]] = {}

    def _entry(self, model_id: str, blob: bytes | None) -> tuple[bytes, Baseline, ModelSetup] | None:
        if blob is None:
            return None
        digest = hashlib.blake2b(blob, digest_size=16).digest()
        hit = self._parsed.get(model_id)
        if hit is not None and hit[0] == digest:
            return hit
        try:
            baseline = Baseline.from_json(blob)
        except StreamdriftError as exc:
            log.error("baseline of %s is unreadable, ignoring it: %s", model_id, exc)
            return None
        entry = (digest, baseline, setup_from_baseline(baseline))
        self._parsed[model_id] = entry
        return entry

    def get(self, model_id: str, blob: bytes | None) -> Baseline | None:
        entry = self._entry(model_id, blob)
        return None if entry is None else entry[1]

    def setup(self, model_id: str, blob: bytes | None) -> ModelSetup:
        entry = self._entry(model_id, blob)
        return NO_SETUP if entry is None else entry[2]


def column_values(column: Column) -> NDArray[Any]:
    """A capture column as one array: float64 (NaN = missing) when it has no text, else an object array of
    str / float / None (booleans as "true" / "false", like the profiles)."""
    if column.strings is None:
        return column.numbers
    out: NDArray[np.object_] = column.numbers.astype(object)
    out[np.isnan(column.numbers)] = None
    text = (column.kinds == Kind.STRING) | (column.kinds == Kind.BOOLEAN)
    out[text] = column.strings[text]
    return out
