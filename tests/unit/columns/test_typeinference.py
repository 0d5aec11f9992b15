"""Inferred feature type from per-Kind counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import N_KINDS, Kind, column_from_arrow, column_from_values
from streamdrift.columns.typeinference import FeatureType, infer_type, value_shape

C = Kind


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, FeatureType.UNKNOWN),
        ({C.MISSING: 10}, FeatureType.UNKNOWN),
        ({C.INTEGRAL: 5, C.MISSING: 3}, FeatureType.INTEGRAL),
        ({C.INTEGRAL: 5, C.FRACTIONAL: 1}, FeatureType.FRACTIONAL),
        ({C.NONFINITE: 2}, FeatureType.FRACTIONAL),
        ({C.INTEGRAL: 2, C.NONFINITE: 1}, FeatureType.FRACTIONAL),
        ({C.BOOLEAN: 4, C.MISSING: 1}, FeatureType.BOOLEAN),
        ({C.STRING: 1}, FeatureType.STRING),
        ({C.INTEGRAL: 1000, C.STRING: 1}, FeatureType.STRING),  # numbers with some "Unknown" strings
        ({C.BOOLEAN: 3, C.INTEGRAL: 1}, FeatureType.STRING),
    ],
)
def test_rule_table(counts: dict[Kind, int], expected: FeatureType) -> None:
    assert infer_type(counts) is expected
    as_list = [counts.get(k, 0) for k in Kind]
    assert infer_type(as_list) is expected
    assert infer_type(np.array(as_list, dtype=np.int64)) is expected


def test_short_sequences_are_padded() -> None:
    assert infer_type([0, 2]) is FeatureType.INTEGRAL


def test_from_real_columns() -> None:
    assert infer_type(column_from_values([1, 2, None]).kind_counts()) is FeatureType.INTEGRAL
    assert infer_type(column_from_values([1.0, 2.0]).kind_counts()) is FeatureType.INTEGRAL  # JSON 1.0
    assert infer_type(column_from_values([True, False]).kind_counts()) is FeatureType.BOOLEAN
    csv = column_from_arrow(pa.array(["1", "2.0", ""]))
    assert infer_type(csv.kind_counts()) is FeatureType.FRACTIONAL


def test_type_properties() -> None:
    assert FeatureType.INTEGRAL.is_numeric and not FeatureType.STRING.is_numeric
    assert FeatureType.BOOLEAN.is_categorical and not FeatureType.UNKNOWN.is_categorical
    assert FeatureType("String") is FeatureType.STRING


counts_st = st.lists(st.integers(0, 50), min_size=N_KINDS, max_size=N_KINDS)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(counts_st, counts_st)
def test_merged_type_is_consistent_with_parts(a: list[int], b: list[int]) -> None:
    merged = infer_type([x + y for x, y in zip(a, b, strict=True)])
    parts = {infer_type(a), infer_type(b)} - {FeatureType.UNKNOWN}
    if not parts:
        assert merged is FeatureType.UNKNOWN
    elif FeatureType.STRING in parts:
        assert merged is FeatureType.STRING
    elif parts == {FeatureType.INTEGRAL}:
        assert merged is FeatureType.INTEGRAL
    elif parts <= {FeatureType.INTEGRAL, FeatureType.FRACTIONAL}:
        assert merged is FeatureType.FRACTIONAL
    elif parts == {FeatureType.BOOLEAN}:
        assert merged is FeatureType.BOOLEAN
    else:  # booleans mixed with numbers
        assert merged is FeatureType.STRING


# --------------------------------------------------------------------------------------------- value shapes

def _shape(values: Sequence[object]) -> str | None:
    shape = value_shape(column_from_values(values))
    return None if shape is None else shape.kind


def test_time_shapes() -> None:
    rng = np.random.default_rng(3)
    assert _shape([f"2024-05-{d:02d}T12:00:{s:02d}.123Z" for d, s in zip(rng.integers(1, 29, 300),
                                                                      rng.integers(0, 60, 300), strict=True)]) \
        == "iso_time"
    assert _shape(["2024-05-01 12:00:00.123456+02:00"] * 30) == "iso_time"
    assert _shape(["2024-05-01"] * 30) == "iso_time"
    seconds = [1_700_000_000 + int(x) for x in rng.integers(0, 10**7, 300)]
    assert _shape(seconds) == "epoch_time"
    assert _shape([s * 1000.5 for s in seconds]) == "epoch_time"  # fractional milliseconds
    shape = value_shape(column_from_values([s * 1_000_000 for s in seconds]))
    assert shape is not None and "microseconds" in shape.detail


def test_identifier_shapes() -> None:
    rng = np.random.default_rng(4)
    uuids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(300)]
    assert _shape(uuids) == "uuid"
    assert _shape([u.replace("-", "").upper() for u in uuids]) == "uuid"
    assert _shape([int(x) for x in rng.permutation(5000) + 1]) == "sequential_id"
    assert _shape([int(x) for x in rng.choice(10**6, 20_000, replace=False)]) == "sequential_id"


@pytest.mark.parametrize(
    "values",
    [
        ["2024-05-01T12:00:00Z" if i % 50 else "soon" for i in range(300)],  # 2% not times
        ["CA", "NY", "TX"] * 100,
        ["2024-05-01T12:00:00Z" for _ in range(10)],  # too few values to tell
        [int(x) for x in np.random.default_rng(1).integers(10_000, 10**6, 1000)],  # prices: few repeats expected
        [int(x) for x in np.random.default_rng(1).integers(0, 500, 20_000)],  # counts: many repeats
        [2_000_000_000 + i * 9_000_000 for i in range(300)],  # phone-number-like: most beyond 2100 in seconds
        [float(x) for x in np.random.default_rng(2).lognormal(12, 1, 1000)],
        [1.5, 2.5] * 20,
    ],
)
def test_ordinary_columns_have_no_shape(values: list[object]) -> None:
    assert _shape(values) is None
