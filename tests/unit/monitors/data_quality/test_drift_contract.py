"""One contract for every drift statistic: ~0 on identical inputs, symmetric where defined so, monotone in the
size of a shift, bounded, and defined (or a clear error) on tiny and empty inputs."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from streamdrift.errors import EvaluationError
from streamdrift.monitors.data_quality import stattests
from streamdrift.profile.sketches import KllSketch

EPS = 0.0133  # KLL k=200 single-sided normalized rank error (99%)


def kll(values: np.ndarray) -> KllSketch:
    sketch = KllSketch.empty(k=200)
    sketch.update(np.asarray(values, dtype=np.float64))
    return sketch


@dataclass(frozen=True)
class NumericStat:
    name: str
    fn: Callable[[KllSketch, KllSketch], float]
    symmetric: bool
    upper: float  # upper bound of the range (inf when unbounded)
    zero_tol: float  # value allowed on two samples of one distribution (sketch + sampling noise)


# KS is bounded by the sketches' rank errors plus sampling noise. The binned statistics have no such bound, and
# KLL's compaction is random and cannot be seeded, so their tolerances are the measured noise floor of these
# exact samples with margin. Over 300 rebuilds of both sketches, "same" vs "base" reached at most: psi 0.0066,
# JS 0.054, normalized Wasserstein 0.040, W1 0.054. The smallest shift (0.25 sigma) never fell below 0.05 /
# 0.098 / 0.157 / 0.212. (A 0.05 bound on JS and W1 failed about 2% of the time.)
NUMERIC = [
    NumericStat("ks_linf", stattests.ks_distance, True, 1.0, 2 * EPS + 0.02),
    NumericStat("psi", lambda a, b: stattests.psi(a, b), False, np.inf, 0.02),
    NumericStat("js", lambda a, b: stattests.js_distance(a, b), True, 1.0, 0.075),
    NumericStat("wasserstein", lambda a, b: stattests.normalized_wasserstein(a, b), False, np.inf, 0.06),
    NumericStat("w1_raw", lambda a, b: stattests.wasserstein_distance(a, b), True, np.inf, 0.08),
]
IDS = [s.name for s in NUMERIC]


@pytest.fixture(scope="module")
def samples() -> dict[str, KllSketch]:
    rng = np.random.default_rng(20)
    out = {"base": kll(rng.normal(size=40_000)), "same": kll(rng.normal(size=10_000))}
    for shift in (0.25, 0.5, 1.0, 2.0):
        out[f"shift{shift}"] = kll(rng.normal(shift, 1.0, size=10_000))
    return out


@pytest.mark.parametrize("stat", NUMERIC, ids=IDS)
def test_identical_distribution_is_near_zero(stat: NumericStat, samples: dict[str, KllSketch]) -> None:
    assert 0.0 <= stat.fn(samples["same"], samples["base"]) <= stat.zero_tol
    assert stat.fn(samples["base"], samples["base"]) <= stat.zero_tol


@pytest.mark.parametrize("stat", NUMERIC, ids=IDS)
def test_symmetric_where_defined(stat: NumericStat, samples: dict[str, KllSketch]) -> None:
    ab = stat.fn(samples["shift0.5"], samples["base"])
    ba = stat.fn(samples["base"], samples["shift0.5"])
    if stat.symmetric:
        assert ab == pytest.approx(ba, abs=1e-9)
    else:
        assert ab > 0 and ba > 0


@pytest.mark.parametrize("stat", NUMERIC, ids=IDS)
def test_monotone_in_shift_and_bounded(stat: NumericStat, samples: dict[str, KllSketch]) -> None:
    values = [stat.fn(samples[k], samples["base"]) for k in ("same", "shift0.25", "shift0.5", "shift1.0", "shift2.0")]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert all(0.0 <= v <= stat.upper for v in values)


@pytest.mark.parametrize("stat", NUMERIC, ids=IDS)
def test_tiny_and_empty_sketches(stat: NumericStat) -> None:
    one, two = kll(np.array([1.0])), kll(np.array([1.0, 5.0]))
    value = stat.fn(one, two)
    assert np.isfinite(value) and value >= 0
    with pytest.raises(EvaluationError, match="empty"):
        stat.fn(KllSketch.empty(k=200), one)
    with pytest.raises(EvaluationError, match="empty"):
        stat.fn(one, KllSketch.empty(k=200))


def test_disjoint_supports_reach_the_upper_bound() -> None:
    a, b = kll(np.arange(100.0)), kll(np.arange(1000.0, 1100.0))
    assert stattests.ks_distance(a, b) == 1.0
    assert stattests.js_distance(a, b) == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------------------------------- categorical

CATEGORICAL: list[tuple[str, Callable[[dict[str, float], dict[str, float]], float], bool, float]] = [
    ("cat_linf", stattests.categorical_linf, True, 1.0),
    ("cat_js", stattests.categorical_js, True, 1.0),
    ("chi2_stat", lambda a, b: stattests.chi_square_homogeneity(a, b).statistic, True, np.inf),
]
BASE = {"a": 5_000.0, "b": 3_000.0, "c": 2_000.0}


def _mixture(share_new: float, n: float = 2_000.0) -> dict[str, float]:
    out = {k: v / 10_000 * n * (1 - share_new) for k, v in BASE.items()}
    out["new"] = share_new * n
    return out


@pytest.mark.parametrize(("name", "fn", "symmetric", "upper"), CATEGORICAL, ids=[c[0] for c in CATEGORICAL])
def test_categorical_contract(name: str, fn: Callable[[dict[str, float], dict[str, float]], float],
                              symmetric: bool, upper: float) -> None:
    assert fn(_mixture(0.0), BASE) == pytest.approx(0.0, abs=1e-9)
    values = [fn(_mixture(s), BASE) for s in (0.0, 0.02, 0.05, 0.2, 0.5)]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert all(0.0 <= v <= upper for v in values)
    if symmetric:
        assert fn(_mixture(0.2), BASE) == pytest.approx(fn(BASE, _mixture(0.2)))
    assert np.isfinite(fn({"a": 1.0}, {"a": 1.0}))
    with pytest.raises(EvaluationError):
        fn({}, BASE)


def test_chi_square_pvalue_calibrated_under_null() -> None:
    rng = np.random.default_rng(21)
    probs = np.array([0.5, 0.3, 0.15, 0.04, 0.01])
    keys = ["a", "b", "c", "d", "e"]
    base = dict(zip(keys, (rng.multinomial(100_000, probs)).astype(float), strict=True))
    windows = rng.multinomial(1_000, probs, size=2_000)
    p = np.array([stattests.chi_square_homogeneity(dict(zip(keys, w.astype(float), strict=True)), base).p_value
                  for w in windows])
    # p-values are ~uniform: 1% and 5% tails within 3 binomial standard errors
    for level in (0.01, 0.05):
        assert abs(np.mean(p <= level) - level) <= 3 * np.sqrt(level * (1 - level) / p.size) + 0.002
