"""Segment definitions (slices of a model's traffic) and each row's segment, vectorized.

A segment definition names one or more fields: features (a categorical one such as ``region``, or a numeric one
cut into buckets: ``age: [0, 30, 50]`` gives ``<0``, ``[0,30)``, ``[30,50)``, ``>=50``) or the capture metadata
field ``model_version``. A row's segment is the fields' values joined by ``,`` (``eu,gold``); a row without a
value for a field has ``_missing`` there.

Not to be confused with :mod:`streamdrift.ingest.segments` (runs of rows of one poll).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Columns, Kind
from streamdrift.errors import ConfigError

MISSING: Final[str] = "_missing"  # a row without a value for a field
OTHER: Final[str] = "_other"  # segment values beyond the cap of one window, pooled
METADATA_FIELDS: Final[frozenset[str]] = frozenset({"model_version"})
DEFAULT_MAX_VALUES: Final[int] = 50
DEFAULT_MIN_ROWS: Final[int] = 200
DEFAULT_WHOLE_ALPHA_SHARE: Final[float] = 0.5


@dataclass(frozen=True)
class SegmentSpec:
    """The fields a model's traffic is sliced by, and the bucket edges of numeric ones."""

    by: tuple[str, ...]
    buckets: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.by or any(not f or "," in f for f in self.by):
            raise ConfigError(f"segment fields must be non-empty names without ',': {list(self.by)}")
        if len(set(self.by)) != len(self.by):
            raise ConfigError(f"segment fields repeat: {list(self.by)}")
        for name, edges in self.buckets.items():
            if name not in self.by:
                raise ConfigError(f"buckets given for {name!r}, which is not a segment field {list(self.by)}")
            arr = np.asarray(edges, dtype=np.float64)
            if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
                raise ConfigError(f"bucket edges of {name!r} must be finite and strictly increasing: {list(edges)}")

    @classmethod
    def parse(cls, by: str | Sequence[str], buckets: Mapping[str, Sequence[float]] | None = None) -> SegmentSpec:
        """``by``: ``"region,tier"`` or a list of names."""
        names = [n.strip() for n in by.split(",")] if isinstance(by, str) else [str(n).strip() for n in by]
        return cls(tuple(names), {str(k): tuple(float(e) for e in v) for k, v in (buckets or {}).items()})

    @property
    def name(self) -> str:
        return ",".join(self.by)

    def to_dict(self) -> dict[str, Any]:
        return {"by": list(self.by), "buckets": {k: list(v) for k, v in self.buckets.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentSpec:
        by = data.get("by")
        if not isinstance(by, list | str):
            raise ConfigError(f"segment definition needs 'by' (a name or a list of names), got {by!r}")
        buckets = data.get("buckets") or {}
        if not isinstance(buckets, Mapping):
            raise ConfigError("segment 'buckets' must map a field to its edges")
        return cls.parse(by, buckets)


@dataclass(frozen=True)
class SegmentsConfig:
    """The segment rules of every model: definitions from the settings (they win over the baseline's), the cap
    of segment values one window keeps, and the share of the false-alarm budget (alpha) left to the whole
    traffic's test (the segments share the rest, see :mod:`streamdrift.monitors.segments.monitor`)."""

    definitions: Mapping[str, SegmentSpec] = field(default_factory=dict)  # model id -> definition
    max_values: int = DEFAULT_MAX_VALUES
    whole_alpha_share: float = DEFAULT_WHOLE_ALPHA_SHARE
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.max_values < 1:
            raise ConfigError(f"segments.max_values must be >= 1, not {self.max_values}")
        if not 0.0 < self.whole_alpha_share < 1.0:
            raise ConfigError(f"segments.whole_alpha_share must be in (0, 1), not {self.whole_alpha_share}")


def _bucket_labels(edges: tuple[float, ...]) -> list[str]:
    def f(x: float) -> str:
        return f"{x:g}"
    inner = [f"[{f(a)},{f(b)})" for a, b in itertools.pairwise(edges)]
    return [f"<{f(edges[0])}", *inner, f">={f(edges[-1])}", MISSING]


def _field_codes(column: Column | None, edges: tuple[float, ...] | None,
                 n: int) -> tuple[NDArray[np.intp], list[str]]:
    """Each row's code into the field's labels (vectorized: Python work per distinct value, not per row)."""
    if column is None:
        return np.zeros(n, dtype=np.intp), [MISSING]
    numbers = column.numbers
    if edges is not None:
        labels = _bucket_labels(edges)
        codes = np.searchsorted(np.asarray(edges, dtype=np.float64), numbers, side="right").astype(np.intp)
        codes[~np.isfinite(numbers)] = len(labels) - 1
        return codes, labels
    kinds = column.kinds
    text = (kinds == Kind.STRING) | (kinds == Kind.BOOLEAN)
    codes = np.full(n, 0, dtype=np.intp)
    labels = [MISSING]
    if column.strings is not None and text.any():
        if column.categories is not None:
            cat = column.categories.codes
            seen = np.unique(cat[text & (cat >= 0)])
            remap = np.zeros(column.categories.values.size, dtype=np.intp)
            remap[seen] = np.arange(1, seen.size + 1)
            codes[text] = remap[cat[text]]
            labels += [str(v) for v in column.categories.values[seen].tolist()]
        else:
            uniq, inverse = np.unique(column.strings[text].astype(str), return_inverse=True)
            codes[text] = inverse.reshape(-1) + 1
            labels += uniq.tolist()
    num = ~text & np.isfinite(numbers)
    if num.any():
        uniq_n, inverse_n = np.unique(numbers[num], return_inverse=True)
        codes[num] = inverse_n.reshape(-1) + len(labels)
        labels += [f"{x:g}" for x in uniq_n.tolist()]
    return codes, labels


def segment_of_rows(spec: SegmentSpec, features: Columns,
                    model_version: str | None = None) -> tuple[list[str], NDArray[np.intp]]:
    """The distinct segments of the rows (sorted) and each row's index into them."""
    n = features.n_rows
    combined = np.zeros(n, dtype=np.int64)
    field_labels: list[list[str]] = []
    for name in spec.by:
        if name in METADATA_FIELDS and name not in features.columns:
            codes, labels = np.zeros(n, dtype=np.intp), [model_version if model_version else MISSING]
        else:
            codes, labels = _field_codes(features.columns.get(name), spec.buckets.get(name), n)
        combined = combined * len(labels) + codes
        field_labels.append(labels)
    uniq, inverse = np.unique(combined, return_inverse=True)
    names: list[str] = []
    for code in uniq.tolist():
        parts = []
        for labels in reversed(field_labels):
            code, i = divmod(code, len(labels))
            parts.append(labels[i])
        names.append(",".join(reversed(parts)))
    # distinct codes may share a label ("1" sent as text and as a number): fold them, sorted by label
    distinct = sorted(set(names))
    where = {name: i for i, name in enumerate(distinct)}
    remap = np.fromiter((where[name] for name in names), dtype=np.intp, count=len(names))
    return distinct, remap[inverse.reshape(-1)] if n else np.zeros(0, dtype=np.intp)


def groups(inverse: NDArray[np.intp], n_groups: int) -> list[NDArray[np.intp]]:
    """The row indices of each group (stable order within a group)."""
    if n_groups == 1:
        return [np.arange(inverse.size, dtype=np.intp)]
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=n_groups))[:-1]
    return list(np.split(order, bounds))
