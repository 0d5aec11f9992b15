from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Columns, Kind, column_from_values, take
from streamdrift.columns.typeinference import FeatureType
from streamdrift.monitors.segments.block import profile_segments, segment_order
from streamdrift.profile.dataset import DatasetProfile
from streamdrift.profile.profiles import ProfileParams

PARAMS = ProfileParams(kll_k=200)


def _columns(rng: np.random.Generator, n: int) -> Columns:
    a = rng.normal(size=n)
    b = rng.integers(0, 5, n).astype(np.float64)
    c = rng.normal(size=n)
    c[rng.random(n) < 0.02] = np.nan  # missing rows in some segments only
    text = rng.choice(np.array(["x", "y", "z"], dtype=object), n)
    return Columns(n, {"a": column_from_values(a.tolist()), "b": column_from_values(b.tolist()),
                       "c": column_from_values([None if np.isnan(v) else v for v in c.tolist()]),
                       "t": column_from_values(text.tolist())})


def _take(columns: Columns, rows: NDArray[np.intp]) -> Columns:
    return take(columns, rows)


def test_profiles_per_segment_equal_each_segment_profiled_alone() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    columns = _columns(rng, n)
    targets = ["s0", "s1", "s2", "s3"]
    codes = rng.choice(np.array([0, 1, 3]), n).astype(np.intp)  # s2 has no rows
    got: dict[str, DatasetProfile] = {}
    profile_segments(columns, codes, targets, lambda t: got.setdefault(t, DatasetProfile.empty(PARAMS)))
    assert sorted(got) == ["s0", "s1", "s3"]
    for t in ("s0", "s1", "s3"):
        alone = DatasetProfile.empty(PARAMS)
        alone.update(_take(columns, np.flatnonzero(codes == targets.index(t))))
        mine = got[t]
        assert mine.n_records == alone.n_records
        for name, fp in alone.features.items():
            other = mine.features[name]
            assert other.type_counts.tolist() == fp.type_counts.tolist()
            num, ref = other.numeric, fp.numeric
            assert (num.count, num.missing, num.min, num.max) == (ref.count, ref.missing, ref.min, ref.max)
            if ref.count:
                assert num.mean == pytest.approx(ref.mean, rel=1e-12)
                assert num.variance == pytest.approx(ref.variance, rel=1e-9)
            assert other.categorical.to_bytes() == fp.categorical.to_bytes()


def test_declared_categorical_numbers_are_counted_as_values() -> None:
    n = 100
    columns = Columns(n, {"a": column_from_values([float(i % 3) for i in range(n)]),
                          "b": column_from_values([float(i) for i in range(n)])})
    codes = (np.arange(n) % 2).astype(np.intp)
    got: dict[str, DatasetProfile] = {}
    schema = {"a": FeatureType.STRING}
    profile_segments(columns, codes, ["p", "q"],
                     lambda t: got.setdefault(t, DatasetProfile.empty(PARAMS, schema=schema)))
    for t, code in (("p", 0), ("q", 1)):
        alone = DatasetProfile.empty(PARAMS, schema=schema)
        alone.update(_take(columns, np.flatnonzero(codes == code)))
        for name in ("a", "b"):
            mine, ref = got[t].features[name], alone.features[name]
            assert mine.type_counts.tolist() == ref.type_counts.tolist()
            assert mine.categorical.to_bytes() == ref.categorical.to_bytes()
        assert got[t].features["a"].categorical.to_bytes() != DatasetProfile.empty(PARAMS).to_bytes()


def test_segment_order_is_stable() -> None:
    codes = np.array([2, 0, 1, 0, 2, 1], dtype=np.intp)
    assert segment_order(codes, 3).tolist() == [1, 3, 2, 5, 0, 4]
    big = np.array([70_000, 3, 70_000, 3], dtype=np.intp)
    assert segment_order(big, 70_001).tolist() == [1, 3, 0, 2]


def test_a_column_with_a_text_row_in_one_segment() -> None:
    n = 6
    col = Column(np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0]),
                 np.array([Kind.INTEGRAL, Kind.INTEGRAL, Kind.STRING, Kind.INTEGRAL, Kind.INTEGRAL, Kind.INTEGRAL],
                          dtype=np.uint8), np.array([None, None, "s", None, None, None], dtype=object))
    columns = Columns(n, {"v": col, "w": column_from_values([1.5, 2.5, 3.5, 4.5, 5.5, 6.5])})
    codes = np.array([0, 0, 0, 1, 1, 1], dtype=np.intp)
    got: dict[str, DatasetProfile] = {}
    profile_segments(columns, codes, ["a", "b"], lambda t: got.setdefault(t, DatasetProfile.empty(PARAMS)))
    assert got["a"].features["v"].type_counts[Kind.STRING] == 1
    assert got["b"].features["v"].numeric.count == 3 and got["b"].features["w"].numeric.sum == 16.5
