"""What the report's charts show: axis choice, baseline-quantile bins with overflow, discrete values, top
categories plus "other", the largest gaps."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.profile.profiles import CategoricalProfile
from streamdrift.profile.sketches import KllSketch
from streamdrift.report.chartdata import (
    N_BINS,
    TOP_CATEGORIES,
    BarsView,
    NumericView,
    ValueAxis,
    categorical_view,
    compact,
    numeric_view,
)

KLL_EPS = 0.0035 * 2  # k=800 rank error bound, both edges of a bin


def _kll(values: np.ndarray, k: int = 800) -> KllSketch:
    sketch = KllSketch(k)
    sketch.update(np.asarray(values, dtype=np.float64))
    return sketch


def _continuous(base: np.ndarray, window: np.ndarray) -> NumericView:
    view = numeric_view(_kll(base), _kll(window))
    assert isinstance(view, NumericView)
    return view


RNG = np.random.default_rng(11)
LOGNORMAL = RNG.lognormal(12.8, 0.9, 40_000)


def test_heavy_tailed_positive_feature_gets_a_log_axis_and_overflow_bins() -> None:
    view = _continuous(LOGNORMAL, LOGNORMAL[:20_000] * 1.3)
    assert view.axis.kind == "log" and "log axis" in view.note
    assert view.n_bins == N_BINS and view.base.size == N_BINS + 2
    assert view.axis.lo == pytest.approx(np.quantile(LOGNORMAL, 0.005), rel=0.05)
    assert view.axis.hi == pytest.approx(np.quantile(LOGNORMAL, 0.995), rel=0.05)
    # each inner bin holds ~1/20 of 99% of the baseline, each tail ~0.5%
    assert np.all(np.abs(view.base[1:-1] - 0.99 / N_BINS) < KLL_EPS)
    assert view.base[0] == pytest.approx(0.005, abs=KLL_EPS) and view.base[-1] == pytest.approx(0.005, abs=KLL_EPS)
    assert view.base.sum() == pytest.approx(1.0) and view.window.sum() == pytest.approx(1.0)
    # the shifted window: less in the lowest bin, more above; those are the highlighted gaps
    assert view.window[-1] > view.base[-1] + 0.004 and view.window[1] < view.base[1] - 0.01
    assert view.gaps and set(view.gaps) <= {1, 2, N_BINS - 1, N_BINS, N_BINS + 1}
    assert abs(view.base_cdf[view.widest_at] - view.window_cdf[view.widest_at]) > 0.08
    labels = view.slot_labels()
    assert labels[0].startswith("< ") and labels[-1].startswith("> ") and len(labels) == N_BINS + 2


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (RNG.normal(50_000, 8_000, 20_000), "linear"),  # positive, not skewed
        (RNG.normal(0, 1, 20_000), "linear"),  # negative values
        (np.concatenate([RNG.normal(1925, 8, 8000), RNG.normal(1995, 10, 12_000)]), "linear"),  # bimodal
        (RNG.exponential(0.3, 20_000), "log"),  # positive, right-skewed over 3 decades
        (RNG.lognormal(7.5, 0.4, 20_000), "linear"),  # mildly skewed: less than a factor 30
    ],
)
def test_axis_choice(values: np.ndarray, kind: str) -> None:
    assert _continuous(values, values[::2]).axis.kind == kind


def test_unchanged_window_has_no_gap() -> None:
    view = _continuous(LOGNORMAL[:20_000], LOGNORMAL[20_000:])
    assert view.gaps == ()


def test_few_integers_and_constants_are_discrete() -> None:
    counts = np.clip(RNG.poisson(3, 20_000), 0, 12).astype(np.float64)
    view = numeric_view(_kll(counts), _kll(np.r_[counts[:4000], np.full(1000, 13.0)]))
    assert isinstance(view, BarsView)
    assert view.labels[:3] == ("0", "1", "2") and "discrete" in view.note
    assert view.base.sum() == pytest.approx(1.0) and view.window.sum() == pytest.approx(1.0)
    new = view.labels.index("13")  # never in the baseline, 20% of the window
    assert view.new == frozenset({new}) and "1 new in the window" in view.note and view.gaps[0] == new
    constant = numeric_view(_kll(np.full(1000, 7.0)), _kll(np.full(500, 7.0)))
    assert isinstance(constant, BarsView) and constant.labels == ("7",) and "constant" in constant.note
    moved = numeric_view(_kll(np.full(1000, 7.0)), _kll(np.r_[np.full(400, 7.0), np.full(100, 8.0)]))
    assert isinstance(moved, BarsView) and moved.labels == ("7", "8") and sorted(moved.gaps) == [0, 1]


def test_empty_sketch_has_no_view() -> None:
    assert numeric_view(KllSketch(200), _kll(np.ones(10))) is None


def _categories(values: np.ndarray) -> CategoricalProfile:
    profile = CategoricalProfile()
    profile.update(values.astype(object))
    return profile


def _zipf(n_values: int, n: int, rng: np.random.Generator) -> np.ndarray:
    p = np.arange(1, n_values + 1, dtype=np.float64) ** -1.0
    return rng.choice(np.asarray([f"c{i}" for i in range(n_values)], dtype=object), n, p=p / p.sum())


@pytest.mark.parametrize("n_values", [54, 5000])
def test_top_categories_plus_other(n_values: int) -> None:
    rng = np.random.default_rng(n_values)
    base = _zipf(n_values, 30_000, rng)
    window = _zipf(n_values, 20_000, rng)
    target = "c40"
    window = np.where(rng.random(window.size) < 0.10, target, window).astype(object)
    view = categorical_view(_categories(base), _categories(window))
    assert view is not None
    assert len(view.labels) == TOP_CATEGORIES + 1 and view.other == TOP_CATEGORIES
    assert view.labels[-1].startswith("other (") and "values)" in view.labels[-1]
    assert view.base.sum() == pytest.approx(1.0) and view.window.sum() == pytest.approx(1.0)
    shifted = view.labels.index(target)  # a mid-ranked category that surged is shown
    assert view.gaps[0] == shifted and view.window[shifted] - view.base[shifted] > 0.09
    assert view.base[0] == max(view.base[:-1])  # sorted by baseline share


def test_new_and_few_categories() -> None:
    base = np.asarray(["a"] * 600 + ["b"] * 400, dtype=object)
    window = np.asarray(["a"] * 500 + ["b"] * 300 + ["z"] * 200, dtype=object)
    view = categorical_view(_categories(base), _categories(window))
    assert view is not None and view.labels == ("a", "b", "z") and view.other is None
    assert view.new == frozenset({2}) and view.gaps[0] == 2
    assert categorical_view(CategoricalProfile(), _categories(window)) is None


def test_axis_ticks_and_labels() -> None:
    log = ValueAxis("log", 35_600.0, 3_930_000.0)
    assert log.ticks() == [5e4, 1e5, 2e5, 5e5, 1e6, 2e6]
    assert ValueAxis("log", 0.001, 1.59).ticks() == [0.001, 0.01, 0.1, 1.0]  # over 3 decades: decades only
    assert ValueAxis("linear", 647.0, 5000.0).ticks() == [1000.0, 2000.0, 3000.0, 4000.0, 5000.0]
    assert ValueAxis("linear", 1905.0, 2018.0).ticks() == [1920.0, 1940.0, 1960.0, 1980.0, 2000.0]
    frac = log.fraction(np.array([35_600.0, 3_930_000.0]))
    assert frac.tolist() == pytest.approx([0.0, 1.0])
    assert [compact(v) for v in (0, 35_612.0, 4.3e7, 0.172, 0.00015, -2500.0, 1925.0, 0.12345)] == \
        ["0", "35.6k", "43M", "0.172", "1.5e-04", "-2500", "1925", "0.1235"]


def test_rare_values_of_a_discrete_feature_go_to_other() -> None:
    common = np.repeat(np.arange(10, dtype=np.float64), 2000)  # 10 values, 20,000 rows
    rare = np.arange(100, 130, dtype=np.float64)  # 30 values, one row each: 0.15% together
    view = numeric_view(_kll(np.r_[common, rare], k=2048), _kll(common[::4]))
    assert isinstance(view, BarsView)
    # the ten common values, the rare ones the rank grid hit (at least the max), then the rest as "other"
    assert view.labels[:10] == tuple(str(i) for i in range(10)) and "129" in view.labels
    assert view.labels[-1] == "other" and view.other == len(view.labels) - 1 < 10 + 5
    assert 0.0005 <= view.base[-1] < 30 / 20_030 and view.window[-1] == pytest.approx(0.0, abs=1e-9)
    assert view.base.sum() == pytest.approx(1.0)
