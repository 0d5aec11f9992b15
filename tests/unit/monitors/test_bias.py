"""Bias state, Clarify metrics from counts, the drift rule."""

from __future__ import annotations

import math
import struct

import numpy as np
import orjson
import pytest
from numpy.typing import NDArray

from streamdrift.errors import (
    ConfigError,
    CorruptBlobError,
    EvaluationError,
    MergeError,
    ParameterMismatchError,
    VersionMismatchError,
)
from streamdrift.monitors.bias import (
    ALL_METRICS,
    BiasBaseline,
    BiasConfig,
    BiasDriftConfig,
    BiasState,
    FacetSpec,
    OutcomeSpec,
    evaluate_bias,
    metrics_from_counts,
)

CONFIG = BiasConfig(
    facets=(FacetSpec("sex", values=("F",)), FacetSpec("age", threshold=40.0)),
    predicted=OutcomeSpec(threshold=0.5),
    label=OutcomeSpec(values=(1,)),
)


def _batch(rng: np.random.Generator, n: int) -> tuple[dict[str, NDArray[np.object_] | NDArray[np.float64]],
                                                      NDArray[np.float64], NDArray[np.float64]]:
    sex = np.where(rng.random(n) < 0.4, "F", "M").astype(object)
    sex[rng.random(n) < 0.01] = None
    age = rng.uniform(18, 80, n)
    age[rng.random(n) < 0.01] = np.nan
    score = rng.random(n)
    labels = (rng.random(n) < score).astype(np.float64)
    labels[rng.random(n) < 0.2] = np.nan
    return {"sex": sex, "age": age}, score, labels


def test_update_counts_each_cell_by_hand() -> None:
    cfg = BiasConfig((FacetSpec("g", values=("x",)),), OutcomeSpec(threshold=0.5), OutcomeSpec(values=(1,)))
    state = BiasState.empty(cfg)
    g = np.array(["x", "x", "x", "x", "x", "y", "y", None], dtype=object)
    score = np.array([0.9, 0.9, 0.1, 0.1, 0.7, 0.2, 0.6, 0.9])
    label = np.array([1.0, 0.0, 0.0, 1.0, np.nan, np.nan, 1.0, 1.0])
    state.update({"g": g}, score, label)
    # group d (= "x"): TP, FP, TN, FN, UP; group a (= "y"): UN, TP; the None row is excluded
    assert state.counts[0, 1].tolist() == [1, 1, 1, 1, 1, 0]
    assert state.counts[0, 0].tolist() == [1, 0, 0, 0, 0, 1]
    assert state.excluded.tolist() == [1]


def test_threshold_facet_and_numeric_values() -> None:
    spec = FacetSpec("age", threshold=40.0)
    is_d, present = spec.groups(np.array([39.9, 40.0, 55.0, np.nan]))
    assert is_d.tolist() == [False, True, True, False]
    assert present.tolist() == [True, True, True, False]
    numeric = FacetSpec("code", values=(2, 3))
    assert numeric.groups(np.array([1, 2, 3, 4]))[0].tolist() == [False, True, True, False]
    assert numeric.value_or_threshold == "2,3"
    boolean = FacetSpec("flag", values=(True,))
    assert boolean.groups(np.array(["true", "false"], dtype=object))[0].tolist() == [True, False]


def test_merge_equals_sequential_update() -> None:
    rng = np.random.default_rng(1)
    whole = BiasState.empty(CONFIG)
    parts = [BiasState.empty(CONFIG) for _ in range(3)]
    for part in parts:
        facets, score, labels = _batch(rng, 1000)
        part.update(facets, score, labels)
        whole.update(facets, score, labels)
    merged = BiasState.empty(CONFIG)
    for part in parts:
        merged.merge(part)
    assert np.array_equal(merged.counts, whole.counts)
    assert np.array_equal(merged.excluded, whole.excluded)
    assert int(whole.counts.sum() + whole.excluded.sum()) == 2 * 3000


def test_round_trip_and_bad_blobs() -> None:
    state = BiasState.empty(CONFIG)
    state.update(*_batch(np.random.default_rng(2), 500))
    blob = state.to_bytes()
    back = BiasState.from_bytes(blob, expected=CONFIG)
    assert back.config == CONFIG
    assert np.array_equal(back.counts, state.counts) and np.array_equal(back.excluded, state.excluded)
    with pytest.raises(CorruptBlobError):
        BiasState.from_bytes(blob[:5])
    with pytest.raises(CorruptBlobError):
        BiasState.from_bytes(b"XXXX" + blob[4:])
    with pytest.raises(CorruptBlobError):
        BiasState.from_bytes(blob[:-3])
    with pytest.raises(CorruptBlobError):
        BiasState.from_bytes(blob[:20])
    with pytest.raises(VersionMismatchError):
        BiasState.from_bytes(blob[:4] + struct.pack("<H", 99) + blob[6:])
    other = BiasConfig(CONFIG.facets[:1], CONFIG.predicted, CONFIG.label)
    with pytest.raises(ParameterMismatchError):
        BiasState.from_bytes(blob, expected=other)
    with pytest.raises(MergeError):
        BiasState.empty(other).merge(state)


def test_bad_input_raises() -> None:
    state = BiasState.empty(CONFIG)
    facets, score, labels = _batch(np.random.default_rng(3), 10)
    with pytest.raises(EvaluationError):
        state.update({"sex": facets["sex"]}, score, labels)
    with pytest.raises(EvaluationError):
        state.update(facets, score, labels[:5])
    with pytest.raises(ConfigError):
        FacetSpec("x")
    with pytest.raises(ConfigError):
        OutcomeSpec(values=(1,), threshold=0.5)
    with pytest.raises(ConfigError):
        BiasDriftConfig(metrics=("XYZ",))


def test_every_metric_matches_a_hand_computation() -> None:
    # cells: TP, FP, TN, FN, UP (unlabelled predicted positive), UN; group 0 = a, 1 = d (sensitive facet)
    counts = np.array([[30, 10, 40, 20, 5, 15], [10, 5, 50, 15, 2, 8]])
    m = {k: float(v) for k, v in metrics_from_counts(counts).items()}
    expected = {
        "DPPL": 45 / 120 - 17 / 90,
        "DI": (17 / 90) / (45 / 120),
        "DCA": 50 / 40 - 25 / 15,
        "DCR": 55 / 65 - 50 / 60,
        "DAR": 30 / 40 - 10 / 15,
        "DRR": 50 / 65 - 40 / 60,
        "AD": 70 / 100 - 60 / 80,
        "RD": 30 / 50 - 10 / 25,
        "SD": 50 / 55 - 40 / 50,
        "TE": 15 / 5 - 20 / 10,
        "CI": (120 - 90) / 210,
        "DPL": 50 / 100 - 25 / 80,
    }
    assert set(m) == set(ALL_METRICS)
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-12), name


def test_clarify_division_rules() -> None:
    # no false positives in d: tau_d = FN/0 = inf -> TE = inf; both groups none: inf - inf -> 0
    one_inf = np.array([[10, 5, 10, 5, 0, 0], [10, 0, 10, 5, 0, 0]])
    assert metrics_from_counts(one_inf)["TE"] == math.inf
    both_inf = np.array([[10, 0, 10, 5, 0, 0], [10, 0, 10, 5, 0, 0]])
    assert metrics_from_counts(both_inf)["TE"] == 0.0
    nothing = np.array([[0, 0, 10, 0, 0, 0], [0, 0, 10, 0, 0, 0]])
    assert metrics_from_counts(nothing)["DAR"] == 0.0  # 0/0 = 0 in both groups


def _probabilities(p_d: float, q_a: float, q_d: float) -> NDArray[np.float64]:
    """Cell probabilities (2 x 6) with fully labelled rows, 60 % accuracy-ish confusion."""
    def group(q: float) -> list[float]:
        return [0.7 * q, 0.3 * q, 0.7 * (1 - q), 0.3 * (1 - q), 0.0, 0.0]
    return np.array([[(1 - p_d) * x for x in group(q_a)], [p_d * x for x in group(q_d)]])


def _window(rng: np.random.Generator, probs: NDArray[np.float64], n: int) -> BiasState:
    cfg = BiasConfig((FacetSpec("g", values=("d",)),), OutcomeSpec(threshold=0.5), OutcomeSpec(values=(1,)))
    state = BiasState.empty(cfg)
    state.counts[0] = rng.multinomial(n, probs.reshape(-1)).reshape(2, 6)
    return state


def test_drift_rule_false_alarms_and_power() -> None:
    rng = np.random.default_rng(7)
    probs = _probabilities(0.5, 0.5, 0.4)
    drift = BiasDriftConfig(metrics=("DPPL",), n_bootstrap=200)
    baseline = BiasBaseline.from_state(_window(rng, probs, 200_000), drift)
    shifted = _probabilities(0.5, 0.55, 0.35)  # DPPL 0.1 -> 0.2
    quiet = [evaluate_bias(_window(rng, probs, 2000), baseline, drift)[0] for _ in range(300)]
    loud = [evaluate_bias(_window(rng, shifted, 2000), baseline, drift)[0] for _ in range(100)]
    # analytic: sigma(DPPL) ~ 0.022; 99 % interval -> threshold ~ 2.6 sigma: ~1 % two-sided, power ~97 %
    assert sum(r.drifted for r in quiet) / len(quiet) <= 0.03
    assert sum(r.drifted for r in loud) / len(loud) >= 0.9
    assert all(r.status == "ok" for r in quiet)
    r = loud[0]
    assert r.allowed_range is not None and r.interval is not None
    assert r.allowed_range[0] < 0.1 < r.allowed_range[1]
    assert r.interval[0] <= r.value <= r.interval[1]


def test_direction_away_from_fair_ignores_improvement() -> None:
    rng = np.random.default_rng(8)
    baseline = BiasBaseline.from_state(_window(rng, _probabilities(0.5, 0.5, 0.4), 200_000))
    fairer = _window(rng, _probabilities(0.5, 0.45, 0.45), 5000)  # DPPL 0.1 -> 0
    both = evaluate_bias(fairer, baseline, BiasDriftConfig(metrics=("DPPL",)))[0]
    away = evaluate_bias(fairer, baseline, BiasDriftConfig(metrics=("DPPL",), direction="away_from_fair"))[0]
    assert both.drifted and not away.drifted


def test_small_groups_are_not_judged() -> None:
    rng = np.random.default_rng(9)
    probs = _probabilities(0.01, 0.5, 0.0)
    baseline = BiasBaseline.from_state(_window(rng, _probabilities(0.5, 0.5, 0.4), 10_000))
    result = evaluate_bias(_window(rng, probs, 1000), baseline, BiasDriftConfig(min_group_count=50))
    small = [r for r in result if r.n_d < 50]
    assert small and all(r.status == "insufficient_data" and not r.drifted for r in small)


def test_default_judges_demographic_parity_only() -> None:
    rng = np.random.default_rng(12)
    baseline = BiasBaseline.from_state(_window(rng, _probabilities(0.5, 0.5, 0.4), 20_000))
    judged = {r.metric for r in evaluate_bias(_window(rng, _probabilities(0.5, 0.5, 0.4), 2000), baseline)}
    assert judged == {"DPPL", "DI"}


def test_prediction_only_windows_judge_prediction_metrics() -> None:
    rng = np.random.default_rng(10)
    baseline = BiasBaseline.from_state(_window(rng, _probabilities(0.5, 0.5, 0.4), 20_000))
    state = BiasState.empty(CONFIG)
    facets, score, _ = _batch(rng, 2000)
    state.update(facets, score, None)
    assert state.counts[:, :, :4].sum() == 0
    judged = BiasDriftConfig(metrics=ALL_METRICS)
    by_metric = {r.metric: r for r in evaluate_bias(state, baseline, judged) if r.facet == "sex"}
    assert by_metric["DPPL"].status == "no_baseline"  # baseline facet "g" differs from "sex"
    assert by_metric["AD"].status == "insufficient_data"


def test_baseline_dict_round_trip_with_infinities() -> None:
    rng = np.random.default_rng(11)
    state = _window(rng, _probabilities(0.5, 0.5, 0.4), 5000)
    state.counts[0, 1, 1] = 0  # no false positives in d: TE is infinite
    baseline = BiasBaseline.from_state(state)
    assert baseline.facets[0].metrics["TE"].value == math.inf
    back = BiasBaseline.from_dict(orjson.loads(orjson.dumps(baseline.to_dict())))
    assert back.config == baseline.config
    assert back.facets[0].metrics == baseline.facets[0].metrics
    assert np.array_equal(back.facets[0].counts, baseline.facets[0].counts)  # type: ignore[arg-type]
    with pytest.raises(VersionMismatchError):
        BiasBaseline.from_dict({"version": 2})
