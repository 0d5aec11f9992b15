"""SageMaker-like inferred feature type from mergeable per-:class:`~streamdrift.columns.columns.Kind` counts.

Rule (docs/profiles.md): missing rows are ignored; no present value -> Unknown; any STRING -> String (SageMaker:
a column of numbers with some "Unknown" strings is String); only BOOLEAN -> Boolean; only numbers
(INTEGRAL / FRACTIONAL / NONFINITE) -> Integral when all are INTEGRAL, else Fractional; numbers mixed with
booleans -> String. Because the rule reads counts only, it is the same on merged and sequential profiles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import N_KINDS, Kind


class FeatureType(StrEnum):
    INTEGRAL = "Integral"
    FRACTIONAL = "Fractional"
    STRING = "String"
    BOOLEAN = "Boolean"
    UNKNOWN = "Unknown"

    @property
    def is_numeric(self) -> bool:
        return self in (FeatureType.INTEGRAL, FeatureType.FRACTIONAL)

    @property
    def is_categorical(self) -> bool:
        return self in (FeatureType.STRING, FeatureType.BOOLEAN)


def _as_counts(counts: Mapping[Kind, int] | Sequence[int] | NDArray[np.int64]) -> list[int]:
    if isinstance(counts, Mapping):
        return [int(counts.get(kind, 0)) for kind in Kind]
    values = [int(c) for c in counts]
    return values + [0] * (N_KINDS - len(values))


def infer_type(counts: Mapping[Kind, int] | Sequence[int] | NDArray[np.int64]) -> FeatureType:
    """Inferred type from counts per Kind (a mapping, or a sequence indexed by ``Kind`` value)."""
    c = _as_counts(counts)
    integral, fractional, string = c[Kind.INTEGRAL], c[Kind.FRACTIONAL], c[Kind.STRING]
    boolean, nonfinite = c[Kind.BOOLEAN], c[Kind.NONFINITE]
    numeric = integral + fractional + nonfinite
    if numeric + string + boolean == 0:
        return FeatureType.UNKNOWN
    if string > 0 or (boolean > 0 and numeric > 0):
        return FeatureType.STRING
    if boolean > 0:
        return FeatureType.BOOLEAN
    return FeatureType.INTEGRAL if integral == numeric else FeatureType.FRACTIONAL
