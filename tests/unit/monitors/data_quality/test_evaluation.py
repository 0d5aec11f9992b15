from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from streamdrift.baseline.baseline import DEFAULT_BASELINE_KLL_K, Baseline, build_baseline
from streamdrift.baseline.constraints import MonitoringConfig
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.errors import EvaluationError
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig, WindowEvaluation, evaluate, prepare
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.profile.sketches import KllSketch

CATS = np.array(["a", "b", "c", "d"])
CAT_P = [0.4, 0.3, 0.2, 0.1]


def _table(rng: np.random.Generator, n: int, *, shift: float = 0.0, new_category: float = 0.0,
           drop: tuple[str, ...] = (), extra: bool = False) -> pa.Table:
    data: dict[str, object] = {
        "x_normal": rng.normal(shift, 1.0, n),
        "x_lognormal": rng.lognormal(0.0, 0.5, n),
        "x_uniform": rng.uniform(0.0, 10.0, n),
        "x_count": rng.poisson(3.0, n).astype(np.int64),
        "cat": CATS[rng.choice(4, n, p=CAT_P)],
        "row_id": np.array([f"id-{v}" for v in rng.integers(0, 10**12, n)]),
    }
    if new_category:
        cat = np.asarray(data["cat"]).astype(object)
        cat[rng.uniform(size=n) < new_category] = "zzz-new"
        data["cat"] = cat.astype(str)
    if extra:
        data["surprise"] = rng.normal(size=n)
    return pa.table({k: v for k, v in data.items() if k not in drop})


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_arrow(_table(np.random.default_rng(100), 50_000))], "model-a")


def _window(table: pa.Table, baseline: Baseline) -> DatasetProfile:
    profile = DatasetProfile.empty(baseline.profile.params)
    profile.update(columns_from_arrow(table))
    return profile


def _run(baseline: Baseline, table: pa.Table, config: EvaluationConfig | None = None) -> WindowEvaluation:
    return evaluate(_window(table, baseline), baseline, config or EvaluationConfig())


def _checks(ev: WindowEvaluation) -> set[tuple[str, str | None]]:
    return {(v.check, v.feature) for v in ev.violations}


def test_clean_window_has_no_violation(baseline: Baseline) -> None:
    ev = _run(baseline, _table(np.random.default_rng(1), 2_000))
    assert ev.method == "calibrated"
    assert ev.violations == []
    assert {r.feature for r in ev.results} == {"x_normal", "x_lognormal", "x_uniform", "x_count", "cat"}
    assert ev.skipped == {"row_id": "identifier-like: 50,000 distinct of 50,000 rows; not drift-tested"}
    normal = ev.result_for("x_normal")
    assert normal is not None and normal.kind == "numeric" and normal.n_window == 2_000
    assert normal.n_baseline == 50_000 and normal.p_value is not None and not normal.drifted
    assert {"linf", "psi", "js", "wasserstein", "ks_critical", "rank_error"} <= set(normal.secondary)
    assert ("data_quality", "baseline_drift_check", "x_normal") in ev.checked


def test_shifted_feature_is_the_only_drift(baseline: Baseline) -> None:
    ev = _run(baseline, _table(np.random.default_rng(2), 2_000, shift=0.5))
    assert _checks(ev) == {("baseline_drift_check", "x_normal")}
    violation = ev.violations[0]
    assert violation.statistic == "linf" and violation.p_value is not None and violation.p_value < 0.01
    assert violation.value is not None and violation.threshold is not None
    assert violation.value > violation.threshold >= 0.05
    assert (violation.n_window, violation.n_baseline) == (2_000, 50_000)


def test_new_category_raises_drift_and_domain_violation(baseline: Baseline) -> None:
    ev = _run(baseline, _table(np.random.default_rng(3), 2_000, new_category=0.2))
    assert _checks(ev) == {("baseline_drift_check", "cat"), ("categorical_values_check", "cat")}
    domain = next(v for v in ev.violations if v.check == "categorical_values_check")
    assert domain.value == pytest.approx(0.8, abs=0.03) and domain.threshold == 1.0
    cat = ev.result_for("cat")
    assert cat is not None and cat.kind == "categorical" and cat.secondary["unseen_share"] == pytest.approx(0.2, abs=0.03)


def test_missing_and_extra_columns(baseline: Baseline) -> None:
    ev = _run(baseline, _table(np.random.default_rng(4), 1_000, drop=("x_uniform",), extra=True))
    assert _checks(ev) == {("missing_column_check", "x_uniform"), ("extra_column_check", "surprise")}
    assert ev.skipped["x_uniform"] == "absent from the window"


def test_completeness_data_type_and_non_negative_checks(baseline: Baseline) -> None:
    rng = np.random.default_rng(5)
    table = _table(rng, 2_000)
    lognormal = table.column("x_lognormal").to_numpy().copy()
    lognormal[:600] = np.nan  # 30% missing
    counts = table.column("x_count").to_numpy().astype(object)
    counts[:200] = "oops"  # 10% strings in an Integral column
    uniform = table.column("x_uniform").to_numpy().copy()
    uniform[:200] = -1.0  # 10% negatives in a non-negative column
    table = table.set_column(table.schema.get_field_index("x_lognormal"), "x_lognormal",
                             pa.array(lognormal, from_pandas=True))
    table = table.set_column(table.schema.get_field_index("x_count"), "x_count",
                             pa.array([str(v) for v in counts]))
    table = table.set_column(table.schema.get_field_index("x_uniform"), "x_uniform", pa.array(uniform))
    checks = _checks(_run(baseline, table))
    assert ("completeness_check", "x_lognormal") in checks
    assert ("data_type_check", "x_count") in checks
    assert ("non_negative_check", "x_uniform") in checks
    assert not any(c == "data_type_check" and f != "x_count" for c, f in checks)


def test_a_few_negatives_need_evidence_only_in_calibrated_mode(baseline: Baseline) -> None:
    table = _table(np.random.default_rng(12), 2_000)
    uniform = table.column("x_uniform").to_numpy().copy()
    uniform[:1] = -1.0
    window = _window(table.set_column(table.schema.get_field_index("x_uniform"), "x_uniform", pa.array(uniform)),
                     baseline)
    assert window.features["x_uniform"].numeric.kll.num_retained == 2_000  # exact mode: negatives counted exactly
    # 1 negative in 2k rows vs none in 50k: p = 2000/52000 = 0.038 > alpha / 4 checks: not significant
    assert ("non_negative_check", "x_uniform") not in _checks(evaluate(window, baseline))
    simple = _checks(evaluate(window, baseline, EvaluationConfig(method="simple")))
    assert ("non_negative_check", "x_uniform") in simple  # SageMaker semantics: any negative value
    uniform[:3] = -1.0
    window = _window(table.set_column(table.schema.get_field_index("x_uniform"), "x_uniform", pa.array(uniform)),
                     baseline)
    # 3 of the 3 negatives fall in the window: p = (2000/52000)^3 = 5.7e-5, significant
    assert ("non_negative_check", "x_uniform") in _checks(evaluate(window, baseline))


def test_effect_size_floor_override_suppresses_drift(baseline: Baseline) -> None:
    lenient = replace(baseline, constraints=baseline.constraints.with_drift_threshold("x_normal", 0.9))
    ev = _run(lenient, _table(np.random.default_rng(6), 2_000, shift=0.5))
    normal = ev.result_for("x_normal")
    assert normal is not None and normal.p_value is not None and normal.p_value < 1e-6
    assert not normal.drifted and normal.threshold == 0.9 and ev.violations == []


def test_sagemaker_baselines_use_their_comparison(baseline: Baseline) -> None:
    sm = replace(baseline, constraints=replace(
        baseline.constraints, source="sagemaker",
        monitoring=MonitoringConfig(comparison_method="Simple", comparison_threshold=0.1)))
    shifted = _window(_table(np.random.default_rng(7), 2_000, shift=0.5), sm)
    ev = evaluate(shifted, sm)
    assert ev.method == "simple"
    normal = ev.result_for("x_normal")
    assert normal is not None and normal.drifted and normal.threshold == 0.1
    assert normal.value == pytest.approx(normal.secondary["linf"])
    robust = evaluate(shifted, sm, EvaluationConfig(method="robust"))
    r_normal = robust.result_for("x_normal")
    assert r_normal is not None
    penalty = 1.8 * np.sqrt((2_000 + 50_000) / (2_000 * 50_000))
    assert r_normal.value == pytest.approx(max(0.0, normal.secondary["linf"] - penalty))


def test_small_windows_skip_drift_but_not_data_quality(baseline: Baseline) -> None:
    ev = _run(baseline, _table(np.random.default_rng(8), 20, drop=("cat",)))
    assert ev.results == [] and "x_normal" in ev.skipped
    assert _checks(ev) == {("missing_column_check", "cat")}


def test_prepared_baseline_gives_the_same_result(baseline: Baseline) -> None:
    window = _window(_table(np.random.default_rng(11), 2_000, shift=0.3), baseline)
    direct, prepared = evaluate(window, baseline), evaluate(window, prepare(baseline))
    assert [(r.feature, r.value, r.p_value, r.drifted) for r in direct.results] == [
        (r.feature, r.value, r.p_value, r.drifted) for r in prepared.results]


def test_other_statistics_are_selectable(baseline: Baseline) -> None:
    ev = _run(baseline, _table(np.random.default_rng(9), 2_000, shift=0.5), EvaluationConfig(statistic="psi"))
    normal = ev.result_for("x_normal")
    assert normal is not None and normal.statistic == "psi" and normal.threshold == 0.2
    assert normal.value == normal.secondary["psi"]
    with pytest.raises(EvaluationError):
        EvaluationConfig(statistic="nope")
    with pytest.raises(EvaluationError):
        EvaluationConfig(alpha=0.0)


def test_false_alarms_and_power_at_small_scale(baseline: Baseline) -> None:
    rng = np.random.default_rng(10)
    null = [bool(_run(baseline, _table(rng, 1_000)).violations) for _ in range(150)]
    # alpha=0.01 family-wise: expect <= 1.5 alarms in 150 windows; 6 or more has probability < 0.001
    assert sum(null) <= 5
    power = [("baseline_drift_check", "x_normal") in _checks(_run(baseline, _table(rng, 1_000, shift=0.5)))
             for _ in range(40)]
    assert sum(power) >= 38  # 0.5 sigma: expected D ~0.2 vs a threshold of ~0.09 at n=1000


@pytest.mark.parametrize(("rows", "window_k"), [(800, 1_000), (5_000, 1_000), (5_000, 200)])
def test_windows_with_their_own_k_are_widened_by_both_bounds(baseline: Baseline, rows: int, window_k: int) -> None:
    assert baseline.profile.params.kll_k == DEFAULT_BASELINE_KLL_K
    window = DatasetProfile.empty(ProfileParams(kll_k=window_k))
    window.update(columns_from_arrow(_table(np.random.default_rng(13), rows)))
    ev = evaluate(window, baseline)
    eps_base = KllSketch(DEFAULT_BASELINE_KLL_K).rank_error(False)
    eps_window = 0.0 if rows <= window_k else KllSketch(window_k).rank_error(False)  # exact mode below k
    numeric = [r for r in ev.results if r.kind == "numeric"]
    assert len(numeric) == 4 and not ev.drifted
    for r in numeric:
        assert r.secondary["rank_error"] == pytest.approx(eps_window + eps_base, rel=1e-9)
        assert r.secondary["linf"] < r.secondary["ks_critical"]
