"""SageMaker-like inferred feature type from mergeable per-:class:`~streamdrift.columns.columns.Kind` counts.

Rule (docs/profiles.md): missing rows are ignored; no present value -> Unknown; any STRING -> String (SageMaker:
a column of numbers with some "Unknown" strings is String); only BOOLEAN -> Boolean; only numbers
(INTEGRAL / FRACTIONAL / NONFINITE) -> Integral when all are INTEGRAL, else Fractional; numbers mixed with
booleans -> String. Because the rule reads counts only, it is the same on merged and sequential profiles.

Value shapes (:func:`value_shape`, read from a sample of one batch's values, so they are not mergeable: a baseline
build looks at its first rows): a column is

- ``iso_time`` when at least :data:`SHAPE_SHARE` (99%) of its sampled text values are ISO-8601 dates or
  date-times (:data:`ISO_DATETIME_PATTERN`: ``2024-05-01``, ``2024-05-01T12:00:00.123Z``, ``2024-05-01 12:00+02:00``);
- ``epoch_time`` when it holds only numbers and 99% of them are epoch seconds, milliseconds, microseconds or
  nanoseconds between 2000-01-01 and 2100-01-01 (the four ranges do not overlap);
- ``uuid`` when 99% of its sampled text values are UUIDs (:data:`UUID_PATTERN`, with or without hyphens / braces);
- ``sequential_id`` when it holds only integers, at least :data:`MIN_SHAPE_VALUES` of them, with (almost) no value
  repeated although values drawn at random from their range would repeat: the expected number of repeats of
  n random draws from a range of R integers is about n^2 / 2R (the birthday bound); the shape needs that to be at
  least :data:`MIN_EXPECTED_REPEATS` and the observed repeats to be below a tenth of it and below 1% of n.
  A shuffled block of ids 1..N has n^2 / 2R = N / 2 expected repeats and none observed; a real integer feature
  (counts, prices in cents) repeats far more.

A column needs at least :data:`MIN_SHAPE_VALUES` sampled values for any shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import N_KINDS, Column, Kind


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


# --------------------------------------------------------------------------------------------- value shapes

ShapeKind = Literal["iso_time", "epoch_time", "uuid", "sequential_id"]
ISO_DATETIME_PATTERN: Final[str] = (
    r"^\s*\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?(?:[Zz]|UTC|[+-]\d{2}(?::?\d{2})?))?)?\s*$"
)
UUID_PATTERN: Final[str] = (
    r"^\s*\{?[0-9a-fA-F]{8}(-?)[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{12}\}?\s*$"
)
SHAPE_SHARE: Final[float] = 0.99
MIN_SHAPE_VALUES: Final[int] = 20
SHAPE_SAMPLE: Final[int] = 2000
MIN_EXPECTED_REPEATS: Final[float] = 20.0
_ISO = re.compile(ISO_DATETIME_PATTERN)
_UUID = re.compile(UUID_PATTERN)
#: Epoch units and their span for 2000-01-01 .. 2100-01-01 (946,684,800 .. 4,102,444,800 seconds).
EPOCH_RANGES: Final[tuple[tuple[str, float, float], ...]] = tuple(
    (unit, 946_684_800.0 * scale, 4_102_444_800.0 * scale)
    for unit, scale in (("seconds", 1.0), ("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9))
)


@dataclass(frozen=True, slots=True)
class ValueShape:
    """What a column's values look like beyond their type, and the evidence (``detail``, for people)."""

    kind: ShapeKind
    detail: str


def _spread(n: int, limit: int) -> NDArray[np.intp]:
    """Up to ``limit`` row positions spread evenly over ``n`` rows (the whole range, not just its head)."""
    return np.unique(np.linspace(0, n - 1, num=min(n, limit)).astype(np.intp)) if n else np.zeros(0, np.intp)


def _text_sample(column: Column, limit: int) -> list[str]:
    if column.strings is None:
        return []
    rows = np.flatnonzero(column.kinds == Kind.STRING)
    return [str(v) for v in column.strings[rows[_spread(rows.size, limit)]]]


def _share(texts: Sequence[str], pattern: re.Pattern[str]) -> int:
    return sum(1 for t in texts if pattern.match(t))


def _epoch_unit(values: NDArray[np.float64]) -> tuple[str, int] | None:
    for unit, lo, hi in EPOCH_RANGES:
        inside = int(np.count_nonzero((values >= lo) & (values < hi)))
        if inside >= SHAPE_SHARE * values.size:
            return unit, inside
    return None


def _sequential_id(values: NDArray[np.float64]) -> str | None:
    n = int(values.size)
    distinct = int(np.unique(values).size)
    span = float(values.max() - values.min()) + 1.0
    expected = n * (n - 1) / (2.0 * span)
    repeats = n - distinct
    if expected >= MIN_EXPECTED_REPEATS and repeats < expected / 10 and repeats < 0.01 * n:
        return (f"{distinct:,} distinct integers of {n:,} rows in a range of {span:,.0f} "
                f"(random values would repeat ~{expected:,.0f} times)")
    return None


def value_shape(column: Column, sample: int = SHAPE_SAMPLE) -> ValueShape | None:
    """The shape of one batch of a column (rules in the module docs), None when it has none of them.

    Text rules read ``sample`` values spread over the batch; numeric rules read all finite values (vectorized).
    """
    counts = column.kind_counts()
    texts = _text_sample(column, sample)
    if len(texts) >= MIN_SHAPE_VALUES and counts[Kind.STRING] >= SHAPE_SHARE * (counts.sum() - counts[Kind.MISSING]):
        iso = _share(texts, _ISO)
        if iso >= SHAPE_SHARE * len(texts):
            return ValueShape("iso_time", f"ISO-8601 date-times: {iso:,} of {len(texts):,} sampled values")
        uuid = _share(texts, _UUID)
        if uuid >= SHAPE_SHARE * len(texts):
            return ValueShape("uuid", f"UUIDs: {uuid:,} of {len(texts):,} sampled values")
        return None
    numeric = int(counts[Kind.INTEGRAL] + counts[Kind.FRACTIONAL])
    if numeric < MIN_SHAPE_VALUES or numeric != counts.sum() - counts[Kind.MISSING]:
        return None
    values = column.numbers[np.isfinite(column.numbers)]
    epoch = _epoch_unit(values)
    if epoch is not None:
        unit, inside = epoch
        return ValueShape("epoch_time", f"epoch {unit}: {inside:,} of {values.size:,} values in 2000..2100")
    if counts[Kind.FRACTIONAL] == 0:
        found = _sequential_id(values)
        if found is not None:
            return ValueShape("sequential_id", found)
    return None
