"""Mergeable profiles: merge equals sequential updates, feeding rules, invariants, serialization."""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from state_cases import dataset_summary, feature_summary

from streamdrift.columns.columns import Column, Columns, Kind, column_from_values, columns_from_rows
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BadRecordError, CorruptBlobError, MergeError, ParameterMismatchError
from streamdrift.profile.profiles import (
    CategoricalProfile,
    DatasetProfile,
    FeatureProfile,
    NumericProfile,
    ProfileParams,
    format_numbers,
)
from streamdrift.profile.sketches import BlobKind, KllSketch, pack_envelope, unpack_envelope

REL = 1e-9
cell = (st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False)
        | st.sampled_from(["red", "green", "blue", "n/a"]) | st.just(float("inf")))
rows_st = st.lists(
    st.fixed_dictionaries({}, optional={"x": cell, "y": st.floats(-1e3, 1e3) | st.none(), "c": cell}),
    min_size=0, max_size=60,
)


def profile_of(*batches: list[dict[str, object]]) -> DatasetProfile:
    p = DatasetProfile.empty()
    for rows in batches:
        p.update(columns_from_rows(rows))
    return p


def assert_same_profile(a: DatasetProfile, b: DatasetProfile, kll_tol: float) -> None:
    assert a.n_records == b.n_records
    assert a.features.keys() == b.features.keys()
    for name, fa in a.features.items():
        fb = b.features[name]
        assert fa.type_counts.tolist() == fb.type_counts.tolist()
        assert fa.n_present + fa.n_missing == a.n_records
        na, nb = fa.numeric, fb.numeric
        assert (na.count, na.missing, na.non_finite, na.wrong_type) == (nb.count, nb.missing, nb.non_finite,
                                                                          nb.wrong_type)
        if na.count:
            assert (na.min, na.max) == (nb.min, nb.max)
            assert na.sum == pytest.approx(nb.sum, rel=REL, abs=1e-6)
            assert na.mean == pytest.approx(nb.mean, rel=REL, abs=1e-9)
            assert na.variance == pytest.approx(nb.variance, rel=REL, abs=1e-6)
            points = np.unique(nb.kll.quantiles(np.linspace(0, 1, 11)))
            assert np.max(np.abs(na.kll.cdf(points) - nb.kll.cdf(points))) <= kll_tol
        ca, cb = fa.categorical, fb.categorical
        assert (ca.count, ca.missing, ca.out_of_domain) == (cb.count, cb.missing, cb.out_of_domain)
        assert ca.frequencies() == cb.frequencies()
        assert ca.distinct.estimate == pytest.approx(cb.distinct.estimate, rel=0.01)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows_st, rows_st)
def test_merge_equals_sequential_updates_small(a: list[dict[str, object]], b: list[dict[str, object]]) -> None:
    merged = profile_of(a).merge(profile_of(b))
    assert_same_profile(merged, profile_of(a, b), kll_tol=0.0)  # < k values: KLL is exact
    back = DatasetProfile.from_bytes(merged.to_bytes())
    assert_same_profile(back, merged, kll_tol=0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_merge_equals_sequential_updates_large(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batches = []
    for size in (30_000, 20_000, 25_000):
        x = rng.normal(5, 2, size)
        x[rng.random(size) < 0.05] = np.nan
        c = np.array([f"v{i}" for i in rng.zipf(1.3, size) % 3000], dtype=object)
        text = Column(np.full(size, np.nan), np.full(size, Kind.STRING, dtype=np.uint8), c)
        num = column_from_values(x.tolist())
        batches.append(Columns(size, {"x": num, "c": text}))
    seq = DatasetProfile.empty()
    parts = []
    for batch in batches:
        seq.update(batch)
        part = DatasetProfile.empty()
        part.update(batch)
        parts.append(part)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    eps = merged.features["x"].numeric.kll.rank_error()
    fm, fs = merged.features["x"].numeric, seq.features["x"].numeric
    assert (fm.count, fm.missing, fm.min, fm.max) == (fs.count, fs.missing, fs.min, fs.max)
    assert fm.mean == pytest.approx(fs.mean, rel=REL) and fm.variance == pytest.approx(fs.variance, rel=REL)
    points = np.quantile(np.concatenate([b.columns["x"].numbers for b in batches]), np.linspace(0.02, 0.98, 25))
    points = points[np.isfinite(points)]
    assert np.max(np.abs(fm.kll.cdf(points) - fs.kll.cdf(points))) <= 2 * eps
    truth = Counter(np.concatenate([b.columns["c"].strings for b in batches if b.columns["c"].strings is not None]).tolist())
    cat = merged.features["c"].categorical
    assert cat.frequent.max_error > 0  # 3000 distinct values > map size: estimation mode
    for row in cat.frequent.top(threshold=0):
        assert row.lower <= truth[row.item] <= row.upper
    assert cat.distinct.lower_bound(3) <= len(truth) <= cat.distinct.upper_bound(3)


def test_numeric_moments_match_numpy() -> None:
    rng = np.random.default_rng(4)
    x = rng.exponential(3.0, 10_000)
    p = NumericProfile()
    for chunk in np.array_split(x, 7):
        p.update(chunk)
    assert p.count == x.size and p.min == x.min() and p.max == x.max()
    assert p.mean == pytest.approx(x.mean(), rel=REL)
    assert p.variance == pytest.approx(x.var(), rel=REL) and p.std_dev == pytest.approx(x.std(), rel=REL)
    assert p.sum == pytest.approx(x.sum(), rel=REL)


def test_numeric_counts_by_kind() -> None:
    fp = FeatureProfile()
    fp.update(column_from_values([1, None, "oops", True, float("inf"), 2.5]))
    n = fp.numeric
    assert (n.count, n.missing, n.non_finite, n.wrong_type) == (2, 1, 1, 2)
    assert (n.min, n.max, n.mean) == (1.0, 2.5, 1.75)
    assert fp.n_present == 5 and fp.n_missing == 1 and fp.completeness == pytest.approx(5 / 6)
    empty = NumericProfile()
    assert math.isnan(empty.min) and math.isnan(empty.variance)


def test_categorical_feeding_rules() -> None:
    # Without a schema, numbers feed the categorical part only in batches that also have STRING rows.
    p = DatasetProfile.empty()
    p.update(columns_from_rows([{"c": 1}, {"c": 2}]))
    assert p.features["c"].categorical.count == 0
    p.update(columns_from_rows([{"c": "x"}, {"c": 3}, {"c": 2.5}, {"c": True}]))
    assert p.features["c"].categorical.frequencies() == {"x": 1, "3": 1, "2.5": 1, "true": 1}
    assert p.features["c"].inferred_type is FeatureType.STRING
    # Declared categorical: numbers always feed it; declared numeric: only strings / booleans do.
    q = DatasetProfile.empty(schema={"c": FeatureType.STRING, "n": FeatureType.INTEGRAL})
    q.update(columns_from_rows([{"c": 1, "n": 5}, {"c": 1, "n": "bad"}]))
    assert q.features["c"].categorical.frequencies() == {"1": 2}
    assert q.features["n"].categorical.frequencies() == {"bad": 1}
    assert q.declared_schema() == {"c": FeatureType.STRING, "n": FeatureType.INTEGRAL}


def test_out_of_domain_counts() -> None:
    p = DatasetProfile.empty(domains={"c": ["a", "b"]})
    p.update(columns_from_rows([{"c": "a"}, {"c": "z"}, {"c": "z"}, {"c": None}]))
    cat = p.features["c"].categorical
    assert (cat.count, cat.missing, cat.out_of_domain) == (3, 1, 2)
    back = DatasetProfile.from_bytes(p.to_bytes())
    assert back.features["c"].categorical.out_of_domain == 2 and back.domains == {"c": frozenset({"a", "b"})}
    with pytest.raises(MergeError):
        p.merge(DatasetProfile.empty(domains={"c": ["a"]}))
    with pytest.raises(MergeError):
        CategoricalProfile(domain=frozenset({"a"})).merge(CategoricalProfile())


def test_late_features_and_absent_features_count_as_missing() -> None:
    p = DatasetProfile.empty()
    p.update(columns_from_rows([{"a": 1}] * 3))
    p.update(columns_from_rows([{"b": "x"}] * 2))
    a, b = p.features["a"], p.features["b"]
    assert (a.n_present, a.n_missing, b.n_present, b.n_missing) == (3, 2, 2, 3)
    assert a.numeric.missing == 2 and b.categorical.missing == 3
    other = DatasetProfile.empty()
    other.update(columns_from_rows([{"c": 1.5}] * 4))
    p.merge(other)
    for fp in p.features.values():
        assert fp.n_present + fp.n_missing == p.n_records == 9


def test_schema_and_empty_schema_features() -> None:
    p = DatasetProfile.empty(schema={"z": FeatureType.FRACTIONAL})
    assert p.features["z"].inferred_type is FeatureType.UNKNOWN and p.features["z"].completeness == 0.0
    p.update(columns_from_rows([{"a": 1, "b": "s", "t": False}]))
    assert p.schema() == {"z": FeatureType.UNKNOWN, "a": FeatureType.INTEGRAL, "b": FeatureType.STRING,
                          "t": FeatureType.BOOLEAN}
    back = DatasetProfile.from_bytes(p.to_bytes())
    assert back.schema() == p.schema() and back.declared_schema() == {"z": FeatureType.FRACTIONAL}


def test_merge_errors_and_self_merge() -> None:
    p = profile_of([{"a": 1.0}, {"a": 2.0}])
    with pytest.raises(MergeError):
        p.merge(DatasetProfile.empty(ProfileParams(kll_k=400)))
    with pytest.raises(MergeError):
        FeatureProfile(declared=FeatureType.STRING).merge(FeatureProfile(declared=FeatureType.INTEGRAL))
    p.merge(p)
    assert p.n_records == 4 and p.features["a"].numeric.count == 4 and p.features["a"].numeric.mean == 1.5
    with pytest.raises(ParameterMismatchError):
        DatasetProfile.from_bytes(p.to_bytes(), params=ProfileParams(hll_lg_k=11))


def test_update_rejects_ragged_batches() -> None:
    p = DatasetProfile.empty()
    with pytest.raises(BadRecordError):
        p.update(Columns(3, {"a": column_from_values([1, 2])}))
    assert p.n_records == 0 and not p.features


def test_copy_is_deep() -> None:
    p = profile_of([{"a": 1, "c": "x"}])
    clone = p.copy()
    clone.update(columns_from_rows([{"a": 5, "c": "y"}]))
    assert p.n_records == 1 and p.features["a"].numeric.max == 1.0
    assert p.features["c"].categorical.frequencies() == {"x": 1}


def test_format_numbers() -> None:
    assert format_numbers(np.array([3.0, -2.0, 2.5, 1e20, 0.1])) == ["3", "-2", "2.5", "1e+20", "0.1"]


def _allocated(fp: FeatureProfile) -> tuple[bool, bool, bool]:
    return (fp.numeric._kll is not None, fp.categorical._frequent is not None,
            fp.categorical._distinct is not None)


def test_sketches_are_allocated_lazily_and_serialize_as_empty_ones() -> None:
    rng = np.random.default_rng(11)
    numeric, text = FeatureProfile(), FeatureProfile()
    numeric.update(column_from_values([*rng.normal(size=50).tolist(), None]))
    text.update(column_from_values([*rng.choice(["a", "b"], 50).tolist(), None]))
    # numbers are buffered (no sketch yet), strings go to their sketches at once
    assert _allocated(numeric) == (False, False, False) and numeric.numeric.n_pending == 50
    assert _allocated(text) == (False, True, True)
    assert _allocated(FeatureProfile()) == (False, False, False)
    for fp in (numeric, text, FeatureProfile()):
        blob = fp.to_bytes()
        back = FeatureProfile.from_bytes(blob)
        assert _allocated(back) == _allocated(fp)  # empty sketches are not kept after a round trip either
        assert back.numeric.n_pending == fp.numeric.n_pending
        summary = feature_summary(back)
        # touching the sketches feeds pending values to the KLL sketch: same content, nothing pending
        _ = (back.numeric.kll.n, back.categorical.frequent.total_weight, back.categorical.distinct.estimate)
        assert back.numeric.n_pending == 0 and feature_summary(back) == summary
        if fp.numeric.count == 0:
            assert back.to_bytes() == blob  # allocating empty sketches does not change the bytes
    assert numeric.categorical.frequencies() == {} and text.numeric.kll.is_empty


def test_pending_values_reach_the_sketch_in_bulk_and_survive_round_trips() -> None:
    rng = np.random.default_rng(13)
    p = NumericProfile(kll_k=100)
    values = rng.normal(size=450)
    for chunk in np.split(values, [50, 150, 190]):  # 50, 100, 40 (190 pending < 2k = 200), then 260
        p.update(chunk)
    # 190 pending, then 450 >= 200 triggers one bulk update: nothing pending, the sketch holds every value
    assert p.n_pending == 0 and p._kll is not None and p._kll.n == 450
    p.update(values[:30])
    assert p.n_pending == 30 and p.count == 480
    back = NumericProfile.from_bytes(p.to_bytes())
    assert back.n_pending == 30 and back._kll is not None and back._kll.n == 450
    assert back.kll.n == 480 and back.n_pending == 0
    assert (back.min, back.max) == (float(values.min()), float(values.max()))
    merged = NumericProfile(kll_k=100).merge(p).merge(back)
    assert merged.count == 960 and merged.kll.n == 960
    assert merged.sum == pytest.approx(2 * (values.sum() + values[:30].sum()))


def test_format_1_numeric_profiles_still_read() -> None:
    """Baselines on disk hold format-1 blobs: counts and moments, then a KLL blob that holds every value."""
    values = np.arange(1.0, 101.0)
    sketch = KllSketch(200)
    sketch.update(values)
    centered = values - values.mean()
    head = struct.pack("<qqqqddddd", 100, 3, 1, 2, 1.0, 100.0, values.sum(), values.mean(),
                       float(np.dot(centered, centered)))
    kll = sketch.to_bytes()
    blob = pack_envelope(BlobKind.NUMERIC_PROFILE, (200, 0, 0), head + struct.pack("<I", len(kll)) + kll,
                         version=1)
    p = NumericProfile.from_bytes(blob)
    assert (p.count, p.missing, p.non_finite, p.wrong_type, p.n_pending) == (100, 3, 1, 2, 0)
    assert p.kll.n == 100 and p.kll.quantiles([0.5])[0] == pytest.approx(50.0, abs=1.0)
    assert NumericProfile.from_bytes(p.to_bytes()).kll.n == 100
    bad = pack_envelope(BlobKind.NUMERIC_PROFILE, (200, 0, 0), head + struct.pack("<I", 0), version=1)
    with pytest.raises(CorruptBlobError):  # format 1 always carries its sketch
        NumericProfile.from_bytes(bad)


def test_garbled_pending_values_are_corrupt() -> None:
    p = NumericProfile()
    p.update(np.array([1.0, 2.0, 3.0]))
    blob = p.to_bytes()
    env = unpack_envelope(blob, BlobKind.NUMERIC_PROFILE, n_params=1)
    head = env.payload[:-32]  # k, counts and moments; then an empty sketch chunk and 3 x 8 bytes of values
    assert env.payload[-32:] == struct.pack("<II3d", 0, 24, 1.0, 2.0, 3.0)
    for tail, match in ((struct.pack("<II3d", 0, 24, 1.0, 2.0, math.inf), "non-finite"),
                        (struct.pack("<II", 0, 20) + b"\0" * 20, "multiple of 8"),
                        (struct.pack("<II2d", 0, 16, 1.0, 2.0), "count 3")):
        with pytest.raises(CorruptBlobError, match=match):
            NumericProfile.from_bytes(pack_envelope(BlobKind.NUMERIC_PROFILE, env.params, head + tail))


def test_merge_into_lazy_profile_equals_merge_into_allocated() -> None:
    rng = np.random.default_rng(12)
    letters = rng.choice(["a", "b", "c"], 40).tolist()
    col = column_from_values(letters + rng.normal(size=10).tolist())
    src = FeatureProfile()
    src.update(col)
    lazy, eager = FeatureProfile(), FeatureProfile()
    _ = (eager.numeric.kll, eager.categorical.frequent, eager.categorical.distinct)
    lazy.merge(src)
    eager.merge(src)
    assert lazy.to_bytes() == eager.to_bytes()
    freq = lazy.categorical.frequencies()
    assert freq == src.categorical.frequencies()
    assert {k: v for k, v in freq.items() if k in "abc"} == Counter(letters)
    with pytest.raises(ParameterMismatchError):
        CategoricalProfile(lg_max_k=2)
    with pytest.raises(ParameterMismatchError):
        NumericProfile(kll_k=4)


# Written by the format-1 code (commit d03bde8): DatasetProfile(kll_k=50, schema {"flag": Boolean}, domain of
# "city" {oslo, rome}) updated with _V1_ROWS; zlib-compressed, base64.
_V1_DATASET = (
    "eNoLdgkOYWTgZWBgMAJiLiDmAeK/7Axg8NTFgicUSFcr5cUXpSbnF6UUK1mZ6CilpSaWlBalAjnRSsmZJZVKQKGcxHQglQfEFUqx"
    "Okop+bmJmXlAFdUQFUCV+cU5+UDpovzcVKXY2lo2JgaGYLD1PGjWP2GEWO9v/uIFlIkBmBlwgxkMMJO5oCbDQBmU9u8v0oWJMeI1"
    "+UM9lP6PyzYtuG2MaLZxQOnnn/beZ2LkZzQCiggwwlRzI/kYBN5B6Vqxj93MaG6D0y1wy5ig2mEgCUqv1WuwRw8cFkYuLmYkr6HL"
    "M+KgWYAYFGtsIPNTi9JT80AioAg0g7uDGckLICACpf+8v6vNxMjOw8zBzDHF4hF7gH0NV/ZGHnZ+oBxaWnjJiCslHIe65P7L89+Z"
    "GPADdHlQGnbKz89JTcwjnCC4+jd64zKIiaYJ4g0DrgRxCkp/Vrn9mQmH2xiKcSaIQCh9/kLLBSYcCQKXsdgSQklRaSorkE5LzClO"
    "NcIZ/wJQ+tYKmyeQ+GficDr/X8BtkxYnSPwMzsheBbVNbsb5ibiyNyNF2V6PpT2AgUAeoE0sX8MZy1ugdOTGuiBGXIVbIs5YtofS"
    "rsKbdBhxxDIjjsBDti4xKVkPZ5zC2AtMOKZB4pSRQ7G3HZQqGG7ijM/tUPPLm52LGNESGiMDYXABZ3yug9KcN07JMhNn4gFo6nSA"
    "+shh9SoQ+GQPprWMHJJwxidUC0PWoZXGrIz8DKD4hNlqBFStj9MWGA0T/2G/Gmc66ITSosaczThTuxXOdCABpU9M9zTDyDSgdMCK"
    "nGTRIxiWZBde+OgDjmAeiBAARCzBWg=="
)
_V1_ROWS: list[dict[str, object]] = [{"x": 1.5, "city": "oslo", "flag": True}, {"x": -2, "city": "rome"},
                                     {"x": None, "city": "bergen", "flag": False}, {"x": 4, "n": "abc"}]


def test_format_1_dataset_profiles_still_read() -> None:
    """Baselines on disk hold format-1 profiles (every level checksummed, numbers only in the KLL sketch)."""
    blob = zlib.decompress(base64.b64decode(_V1_DATASET))
    assert struct.unpack_from("<H", blob, 4)[0] == 1
    old = DatasetProfile.from_bytes(blob)
    new = DatasetProfile.empty(ProfileParams(kll_k=50), schema={"flag": FeatureType.BOOLEAN},
                               domains={"city": ["oslo", "rome"]})
    new.update(columns_from_rows(_V1_ROWS))
    assert dataset_summary(old) == dataset_summary(new)  # < k values: both sketches exact
    assert old.features["city"].categorical.out_of_domain == 1 and old.domains == new.domains
    again = DatasetProfile.from_bytes(old.to_bytes())
    assert struct.unpack_from("<H", old.to_bytes(), 4)[0] == 2
    assert dataset_summary(again) == dataset_summary(new)


def test_nested_blobs_are_read_only_through_their_holder() -> None:
    p = DatasetProfile.empty()
    p.update(columns_from_rows(_V1_ROWS))
    inner = p.to_bytes(nested=True)
    assert inner[7] == 1 and struct.unpack_from("<I", inner, 30)[0] == 0  # pad byte 0 set, no CRC
    with pytest.raises(CorruptBlobError, match="nested"):
        DatasetProfile.from_bytes(inner)
    assert dataset_summary(DatasetProfile.from_bytes(inner, nested=True)) == dataset_summary(p)
    assert dataset_summary(DatasetProfile.from_bytes(p.to_bytes())) == dataset_summary(p)
    # a feature blob cut out of a dataset blob is nested: it is not accepted on its own
    fp = p.features["x"]
    with pytest.raises(CorruptBlobError, match="nested"):
        FeatureProfile.from_bytes(fp.to_bytes(nested=True))
    # one CRC covers the nested levels: flipping a byte deep inside (a pending value) is caught at the top
    blob = bytearray(p.to_bytes())
    value = struct.pack("<d", 1.5)
    at = bytes(blob).index(value)
    blob[at] ^= 0x01
    with pytest.raises(CorruptBlobError, match="checksum"):
        DatasetProfile.from_bytes(bytes(blob))


def test_window_merged_from_buffered_deltas_keeps_the_k_error_bound() -> None:
    """The data plane's deltas ship exact pending values; the window they merge into feeds them to its k-sketch
    (in bulk, every 2k values). Its CDF error stays within the sketch's own single-sided bound at k."""
    rng = np.random.default_rng(21)
    k = 200
    window = NumericProfile(kll_k=k)
    everything = []
    for _ in range(150):  # 150 deltas of 300 values (each below 2k: shipped exactly, never sketched)
        delta = NumericProfile(kll_k=k)
        values = rng.normal(rng.uniform(-0.1, 0.1), 1.0, 300)
        delta.update(values)
        assert delta.n_pending == 300 and delta._kll is None
        window.merge(NumericProfile.from_bytes(delta.to_bytes()))
        everything.append(values)
    exact = np.sort(np.concatenate(everything))
    sketch = window.kll
    assert sketch.n == exact.size == window.count and sketch.num_retained < exact.size  # it did compact
    points = np.quantile(exact, np.linspace(0.02, 0.98, 25))
    true_cdf = np.searchsorted(exact, points, side="right") / exact.size
    assert np.max(np.abs(sketch.cdf(points)[:-1] - true_cdf)) <= sketch.rank_error()  # 0.0133 at k=200
    assert (window.min, window.max) == (exact[0], exact[-1])
    assert window.mean == pytest.approx(exact.mean(), rel=1e-9)
