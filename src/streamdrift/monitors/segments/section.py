"""The baseline's ``segments`` section: the definition and the profile of each segment with enough rows.

``baseline build --segment-by region`` profiles every segment beside the whole (:class:`SegmentProfiler`, fed the
same chunks); segments with fewer than ``min_rows`` rows (and values beyond ``max_values``, the most frequent
kept) keep only their row count: their windows are compared with the whole, like a segment absent from the
baseline, which a window reports as *new*.

Section: ``{"by": [...], "buckets": {...}, "min_rows": int, "segments": {name: {"n": rows, "profile": base64 or
null}}}``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamdrift.columns.columns import Columns, take
from streamdrift.errors import BaselineError, SerializationError
from streamdrift.monitors.segments.spec import (
    DEFAULT_MAX_VALUES,
    DEFAULT_MIN_ROWS,
    SegmentSpec,
    groups,
    segment_of_rows,
)
from streamdrift.profile.dataset import DatasetProfile
from streamdrift.profile.profiles import ProfileParams


@dataclass(frozen=True)
class SegmentsBaseline:
    """The definition and the reference profile of each segment (None: too few rows, compare with the whole)."""

    spec: SegmentSpec
    min_rows: int
    profiles: Mapping[str, DatasetProfile | None]
    rows: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        segments = {name: {"n": self.rows.get(name, 0),
                           "profile": None if p is None else base64.b64encode(p.to_bytes()).decode("ascii")}
                    for name, p in sorted(self.profiles.items())}
        return {**self.spec.to_dict(), "min_rows": self.min_rows, "segments": segments}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentsBaseline:
        try:
            spec = SegmentSpec.from_dict(data)
            profiles: dict[str, DatasetProfile | None] = {}
            rows: dict[str, int] = {}
            for name, entry in (data.get("segments") or {}).items():
                blob = entry.get("profile")
                profiles[str(name)] = None if blob is None else DatasetProfile.from_bytes(
                    base64.b64decode(blob, validate=True))
                rows[str(name)] = int(entry.get("n", 0))
            return cls(spec, int(data.get("min_rows", DEFAULT_MIN_ROWS)), profiles, rows)
        except (AttributeError, TypeError, ValueError, binascii.Error, SerializationError) as exc:
            raise BaselineError(f"segments section is malformed: {exc}") from exc


class SegmentProfiler:
    """Profiles of each segment of the chunks a baseline is built from."""

    def __init__(self, spec: SegmentSpec, params: ProfileParams, *, min_rows: int = DEFAULT_MIN_ROWS,
                 max_values: int = DEFAULT_MAX_VALUES) -> None:
        self.spec = spec
        self.params = params
        self.min_rows = min_rows
        self.max_values = max_values
        self._profiles: dict[str, DatasetProfile] = {}

    def update(self, keys: Columns, features: Columns, model_version: str | None = None) -> None:
        """``keys``: the columns the segment fields are read from; ``features``: the rows' profiled features."""
        names, inverse = segment_of_rows(self.spec, keys, model_version)
        for name, rows in zip(names, groups(inverse, len(names)), strict=True):
            profile = self._profiles.get(name)
            if profile is None:
                profile = self._profiles[name] = DatasetProfile.empty(self.params)
            profile.update(features if rows.size == features.n_rows else take(features, rows))

    def finish(self) -> SegmentsBaseline:
        ranked = sorted(self._profiles, key=lambda n: (-self._profiles[n].n_records, n))
        kept = set(ranked[:self.max_values])
        profiles = {name: (p if name in kept and p.n_records >= self.min_rows else None)
                    for name, p in self._profiles.items()}
        rows = {name: int(p.n_records) for name, p in self._profiles.items()}
        return SegmentsBaseline(self.spec, self.min_rows, profiles, rows)
