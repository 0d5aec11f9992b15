"""Categorical drift for any cardinality (issue 20): a 54-value and a 5,000-value categorical are tested (full
cells for the first, the baseline's top categories plus "other" for the second, whose sketches are not exact),
raise on a 10% move to one state, a 5-point share move of one mid-ranked product and a move into unseen
values, and stay silent on unchanged windows; identifier-like columns alone are skipped, saying why."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from numpy.typing import NDArray

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.columns.typeinference import FeatureType
from streamdrift.monitors.data_quality import categorical
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig, WindowEvaluation, evaluate, prepare
from streamdrift.profile.profiles import DatasetProfile, ProfileParams

STATES = np.asarray([f"S{i:02d}" for i in range(54)], dtype=object)
PRODUCTS = np.asarray([f"p{i:04d}" for i in range(5000)], dtype=object)
MID_PRODUCT = PRODUCTS[60]
WINDOW = 20_000


def _zipf(k: int, s: float) -> NDArray[np.float64]:
    p = np.arange(1, k + 1, dtype=np.float64) ** -s
    out: NDArray[np.float64] = p / p.sum()
    return out


def _table(n: int, rng: np.random.Generator, *, state_to: str | None = None, product_points: float = 0.0,
           unseen: float = 0.0, new_states: float = 0.0) -> pa.Table:
    state = rng.choice(STATES, n, p=_zipf(54, 1.1))
    if new_states:  # rows spread over five states the baseline never had
        new = np.asarray([f"N{i}" for i in rng.integers(0, 5, n)], dtype=object)
        state = np.where(rng.random(n) < new_states, new, state).astype(object)
    product = rng.choice(PRODUCTS, n, p=_zipf(5000, 1.0))
    if state_to is not None:
        state = np.where(rng.random(n) < 0.10, state_to, state).astype(object)
    if product_points:
        product = np.where(rng.random(n) < product_points, MID_PRODUCT, product).astype(object)
    if unseen:
        new = np.asarray([f"new{i}" for i in rng.integers(0, 5, n)], dtype=object)
        product = np.where(rng.random(n) < unseen, new, product).astype(object)
    ids = np.asarray([f"{v:032x}" for v in rng.integers(0, 2**62, n)], dtype=object)
    return pa.table({"state": state.astype(str), "product": product.astype(str), "order_id": ids.astype(str),
                     "amount": rng.lognormal(3.0, 1.0, n)})


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_arrow(_table(200_000, np.random.default_rng(7)))], "shop")


def _evaluate(baseline: Baseline, table: pa.Table) -> WindowEvaluation:
    profile = DatasetProfile.empty(ProfileParams(kll_k=1000), schema={"state": FeatureType.STRING, "product": FeatureType.STRING})
    profile.update(columns_from_arrow(table))
    return evaluate(profile, prepare(baseline), EvaluationConfig())


def test_the_two_modes_of_the_test(baseline: Baseline) -> None:
    window = _evaluate(baseline, _table(WINDOW, np.random.default_rng(1)))
    state, product = window.result_for("state"), window.result_for("product")
    assert state is not None and product is not None
    assert state.secondary["categories"] == 54 and state.secondary["sketch_error"] == 0.0  # exact: every state
    assert 5 <= product.secondary["categories"] <= 100 and product.secondary["sketch_error"] > 0  # top + heavy
    assert "order_id" in window.skipped and window.skipped["order_id"].startswith("identifier-like: ")
    assert "state" not in window.skipped and "product" not in window.skipped


def test_unchanged_windows_stay_silent(baseline: Baseline) -> None:
    for seed in range(12):
        ev = _evaluate(baseline, _table(WINDOW, np.random.default_rng(100 + seed)))
        assert not [v for v in ev.violations if v.check == "baseline_drift_check"], (seed, ev.violations)


@pytest.mark.parametrize(("shift", "feature"), [
    ({"state_to": "S30"}, "state"),  # 10% of the rows moved to one mid-ranked state
    ({"product_points": 0.05}, "product"),  # a 5-point share move of one mid-ranked product
    ({"unseen": 0.10}, "product"),  # 10% of the rows into five products the baseline never had
    ({"new_states": 0.10}, "state"),  # the same for the 54-value state (tested in full)
])
def test_shifts_are_caught(baseline: Baseline, shift: dict[str, object], feature: str) -> None:
    for seed in range(3):
        ev = _evaluate(baseline, _table(WINDOW, np.random.default_rng(200 + seed), **shift))  # type: ignore[arg-type]
        drifted = {r.feature for r in ev.drifted}
        assert drifted == {feature}, (seed, shift, [r for r in ev.results if r.feature in drifted | {feature}])


def test_top_mode_equals_the_full_test_when_the_sketches_are_exact() -> None:
    rng = np.random.default_rng(3)
    a, b = DatasetProfile.empty(ProfileParams()), DatasetProfile.empty(ProfileParams())
    a.update(columns_from_arrow(pa.table({"c": rng.choice(STATES, 5000).astype(str)})))
    b.update(columns_from_arrow(pa.table({"c": rng.choice(STATES[:40], 3000).astype(str)})))
    full = categorical.compare(b.features["c"].categorical, a.features["c"].categorical, max_categories=1000,
                               top_k=100)
    top = categorical.compare(b.features["c"].categorical, a.features["c"].categorical, max_categories=10,
                              top_k=100)
    assert (full.mode, top.mode) == ("full", "top")
    assert top.linf == pytest.approx(full.linf) and top.chi.p_value == pytest.approx(full.chi.p_value, rel=1e-6)
