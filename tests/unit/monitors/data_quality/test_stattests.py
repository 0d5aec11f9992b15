from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from streamdrift.errors import EvaluationError
from streamdrift.monitors.data_quality import stattests
from streamdrift.profile.sketches import KllSketch

K = 200
EPS = 0.0133  # KLL k=200 normalized single-sided rank error at 99% (datasketches)


def kll(values: NDArray[np.float64], k: int = K) -> KllSketch:
    sketch = KllSketch.empty(k=k)
    sketch.update(np.asarray(values, dtype=np.float64))
    return sketch


def test_ks_distance_is_exact_when_nothing_is_compacted() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=150), rng.normal(0.4, 1.0, size=120)
    sa, sb = kll(a), kll(b)
    assert stattests.effective_rank_error(sa) == 0.0
    assert stattests.ks_distance(sa, sb) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert stattests.calibrated_ks(sa, sb).rank_error == 0.0


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.3])
def test_ks_distance_within_sketch_error_bound(shift: float) -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=50_000), rng.normal(shift, 1.0, size=20_000)
    sa, sb = kll(a), kll(b)
    exact = stats.ks_2samp(a, b).statistic
    assert stattests.effective_rank_error(sa) == pytest.approx(EPS, abs=1e-4)
    assert abs(stattests.ks_distance(sa, sb) - exact) <= 2 * EPS


@pytest.mark.parametrize("ne", [20, 100, 1_000, 10_000])
def test_ks_pvalue_tracks_the_exact_one_sample_distribution(ne: int) -> None:
    d = stats.kstwo.isf(np.array([0.5, 0.05, 0.01, 0.001]), ne)
    p = stattests.ks_pvalue(d, 2 * ne, 2 * ne)  # n*m/(n+m) == ne
    np.testing.assert_allclose(p, [0.5, 0.05, 0.01, 0.001], rtol=0.12)


def test_ks_critical_value_inverts_the_pvalue() -> None:
    n, m = np.array([1_000, 5_000, 20_000]), np.array([100_000, 100_000, 100_000])
    crit = stattests.ks_critical_value(0.001, n, m)
    np.testing.assert_allclose(stattests.ks_pvalue(crit, n, m), 0.001, rtol=1e-6)
    assert np.all(np.diff(crit) < 0)  # larger windows detect smaller distances
    assert np.isinf(stattests.ks_critical_value(0.01, 0, 10))
    assert stattests.ks_pvalue(0.5, 0, 10) == 1.0


def test_calibrated_pvalue_uses_distance_less_rank_error() -> None:
    rng = np.random.default_rng(3)
    sa, sb = kll(rng.normal(size=30_000)), kll(rng.normal(0.2, 1.0, size=5_000))
    res = stattests.calibrated_ks(sa, sb)
    assert res.rank_error == pytest.approx(2 * EPS, abs=2e-4)
    assert res.p_value == pytest.approx(float(stattests.ks_pvalue(res.distance - res.rank_error, res.n, res.m)))
    assert res.p_value > float(stattests.ks_pvalue(res.distance, res.n, res.m))


def test_holm_and_bh_adjustment_match_their_definitions() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted p * (m - i), running max; BH: sorted p * m / rank, running min from the top
    np.testing.assert_allclose(stattests.adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stattests.adjust_pvalues(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(stattests.adjust_pvalues(p, "none"), p)
    np.testing.assert_allclose(stattests.per_test_levels(p, 0.05, "holm"), [0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4])
    assert stattests.adjust_pvalues(np.array([]), "holm").size == 0
    with pytest.raises(EvaluationError):
        stattests.adjust_pvalues(np.array([0.1, np.nan]), "holm")


def test_holm_controls_family_wise_error_on_uniform_pvalues() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(size=(4_000, 23))
    any_holm = np.mean([np.any(stattests.adjust_pvalues(row, "holm") <= 0.01) for row in p])
    assert any_holm <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / 4_000)


def test_chi_square_matches_scipy_without_pooling() -> None:
    window = {"a": 120.0, "b": 300.0, "c": 80.0}
    base = {"a": 1_000.0, "b": 3_500.0, "c": 500.0}
    res = stattests.chi_square_homogeneity(window, base)
    ref = stats.chi2_contingency(np.array([[120, 300, 80], [1_000, 3_500, 500]]), correction=False)
    assert res.pooled == ()
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.dof == 2


def test_chi_square_pools_small_categories() -> None:
    window = {"a": 50.0, "b": 50.0, "rare1": 1.0, "rare2": 1.0}
    base = {"a": 500.0, "b": 500.0, "rare1": 2.0, "rare2": 3.0}
    res = stattests.chi_square_homogeneity(window, base)
    assert set(res.pooled) == {"rare1", "rare2"}
    assert res.dof == 1  # the pooled cell (expected < 1) is tested apart: chi-square on a, b only
    p_split = stattests.split_pvalue(2, 5, 102, 1_005, two_sided=True)
    assert res.p_value == pytest.approx(min(1.0, 2 * min(1.0, p_split)))
    assert res.p_value > 0.5


def test_chi_square_catches_a_new_category_against_a_large_baseline() -> None:
    base = {"x": 60_000.0, "y": 40_000.0}
    window = {"x": 570.0, "y": 380.0, "brand-new": 50.0}  # 5% new in a 1k window: expected 0.5 in the window
    res = stattests.chi_square_homogeneity(window, base)
    assert res.pooled == ("brand-new",)
    assert res.p_value < 1e-20


def test_split_pvalue_is_the_conditional_binomial() -> None:
    # 3 of 3 rows with the property fall in the window; under the null each does with probability n/(n+m)
    assert stattests.split_pvalue(3, 0, 1_000, 9_000) == pytest.approx(0.1**3)
    assert stattests.split_pvalue(0, 0, 1_000, 9_000) == 1.0
    assert stattests.split_pvalue(0, 50, 1_000, 1_000, two_sided=True) < 1e-10


def test_categorical_statistics() -> None:
    base = {"x": 500.0, "y": 500.0}
    assert stattests.categorical_linf({"x": 5.0, "y": 5.0}, base) == 0.0
    assert stattests.categorical_linf({"x": 9.0, "y": 1.0}, base) == pytest.approx(0.4)
    assert stattests.unseen_share({"x": 8.0, "new": 2.0}, ("x", "y")) == pytest.approx(0.2)
    assert stattests.unseen_share({}, ("x",)) == 0.0
    assert stattests.categorical_js({"x": 1.0}, {"y": 1.0}) == pytest.approx(1.0)
    with pytest.raises(EvaluationError):
        stattests.categorical_linf({}, base)


def test_sagemaker_comparisons() -> None:
    assert stattests.sagemaker_simple(0.11, 0.1) and not stattests.sagemaker_simple(0.1, 0.1)
    penalty = 1.8 * np.sqrt((1_000 + 100_000) / (1_000 * 100_000))
    assert stattests.sagemaker_robust_distance(0.2, 1_000, 100_000) == pytest.approx(0.2 - penalty)
    assert stattests.sagemaker_robust_distance(0.01, 1_000, 100_000) == 0.0


def test_psi_and_wasserstein_scale_with_shift() -> None:
    rng = np.random.default_rng(5)
    base = kll(rng.normal(size=50_000))
    shifted = kll(rng.normal(1.0, 1.0, size=50_000))
    # W1 between N(0,1) and N(1,1) is 1; the standard normal IQR is 1.349
    assert stattests.wasserstein_distance(shifted, base) == pytest.approx(1.0, abs=0.05)
    assert stattests.normalized_wasserstein(shifted, base) == pytest.approx(1 / 1.349, abs=0.05)
    assert stattests.psi(shifted, base) > 0.5
    with pytest.raises(EvaluationError):
        stattests.psi(shifted, base, bins=1)


def _kll_bound(k: int) -> float:
    """datasketches' single-sided KLL bound: fit to the 99th percentile of the max error over all ranks."""
    return float(2.296 / k**0.9723)


@pytest.mark.parametrize("k", [200, 1_000, 4_096])
def test_exact_mode_has_no_rank_error_until_the_first_compaction(k: int) -> None:
    rng = np.random.default_rng(k)
    values = rng.normal(size=k + 1)
    assert stattests.effective_rank_error(kll(values[:k], k)) == 0.0
    compacted = kll(values, k)
    eps = stattests.effective_rank_error(compacted)
    # the all-ranks (CDF / KS) bound, not the larger PMF one
    assert eps == pytest.approx(_kll_bound(k), rel=1e-9)
    assert eps == compacted.rank_error(False) < compacted.rank_error(True)


def test_step_cdf_equals_the_sketch_cdf_with_ties() -> None:
    rng = np.random.default_rng(6)
    sketch = kll(rng.poisson(4.0, size=30_000).astype(np.float64))  # compacted, many duplicate items
    step = stattests.step_cdf(sketch)
    assert step.n == 30_000 and step.rank_error == pytest.approx(EPS, abs=1e-4)
    points = np.arange(-1.0, 25.0, 0.5)
    np.testing.assert_allclose(step.at(points), sketch.cdf(points)[:-1], rtol=0, atol=1e-12)
    with pytest.raises(EvaluationError):
        stattests.step_cdf(KllSketch.empty())


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_mixed_k_distance_within_the_sum_of_both_bounds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base, window = rng.normal(size=100_000), rng.normal(0.1, 1.0, size=20_000)
    sb, sw = kll(base, 4_096), kll(window, 1_000)
    res = stattests.calibrated_ks(sw, stattests.step_cdf(sb))
    assert res.rank_error == pytest.approx(_kll_bound(1_000) + _kll_bound(4_096), rel=1e-9)
    assert abs(res.distance - stats.ks_2samp(window, base).statistic) <= res.rank_error
    assert res == stattests.calibrated_ks(sw, sb)  # a prepared step CDF gives the same result


def test_window_in_exact_mode_adds_only_the_baseline_bound() -> None:
    rng = np.random.default_rng(10)
    base, window = rng.normal(size=100_000), rng.normal(size=1_000)
    res = stattests.calibrated_ks(kll(window, 1_000), kll(base, 4_096))
    assert res.rank_error == pytest.approx(_kll_bound(4_096), rel=1e-9)
    assert abs(res.distance - stats.ks_2samp(window, base).statistic) <= res.rank_error
    crit = stattests.calibrated_threshold(0.01, 1_000, 100_000, res.rank_error)
    assert float(crit) == pytest.approx(float(stattests.ks_critical_value(0.01, 1_000, 100_000)) + res.rank_error)
