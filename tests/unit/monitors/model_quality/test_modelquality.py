"""Model-quality states, metrics, drift rule and SageMaker files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from streamdrift.errors import BaselineError, CorruptBlobError, MergeError, ParameterMismatchError
from streamdrift.monitors.model_quality import (
    BinaryQualityState,
    MetricValue,
    ModelQualityBaseline,
    MulticlassQualityState,
    ProblemType,
    QualityRuleConfig,
    QualityState,
    RegressionQualityState,
    auc_error_bound,
    build_model_quality_baseline,
    build_model_quality_baseline_from_chunks,
    compute_metrics,
    constraint_violations,
    evaluate_window,
    read_model_quality_constraints,
    read_model_quality_statistics,
    state_from_bytes,
    statistics_from_dict,
    statistics_to_dict,
    suggest_constraints,
)

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "sagemaker" / "model_quality"


def _binary_data(seed: int, n: int, acc_shift: float = 0.0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.float64)
    noise = rng.normal(0.0, 0.25 + acc_shift, n)
    score = np.clip(0.3 + 0.4 * y + noise, 0.0, 1.0)
    return y, score


def _same(a: Mapping[str, MetricValue], b: Mapping[str, MetricValue]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_equal((a[k].value, a[k].standard_error), (b[k].value, b[k].standard_error))


# ---------------------------------------------------------------- merge == sequential update


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=0, max_size=60), st.integers(0, 60))
def test_binary_merge_equals_sequential(rows: list[tuple[int, float]], cut: int) -> None:
    y = np.array([r[0] for r in rows], dtype=np.float64)
    s = np.array([r[1] for r in rows], dtype=np.float64)
    whole = BinaryQualityState.empty(0.5, 64)
    whole.update(y, score=s)
    a, b = BinaryQualityState.empty(0.5, 64), BinaryQualityState.empty(0.5, 64)
    a.update(y[:cut], score=s[:cut])
    b.update(y[cut:], score=s[cut:])
    a.merge(b)
    assert (a.tp, a.fp, a.tn, a.fn, a.n_scored) == (whole.tp, whole.fp, whole.tn, whole.fn, whole.n_scored)
    assert np.array_equal(a.pos_hist, whole.pos_hist) and np.array_equal(a.neg_hist, whole.neg_hist)
    assert a.log_loss_sum == pytest.approx(whole.log_loss_sum, rel=1e-12, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("abcdef")), max_size=50), st.integers(0, 50))
def test_multiclass_merge_equals_sequential(rows: list[tuple[str, str]], cut: int) -> None:
    t, p = [r[0] for r in rows], [r[1] for r in rows]
    whole = MulticlassQualityState.empty()
    whole.update(t, p)
    a, b = MulticlassQualityState.empty(), MulticlassQualityState.empty()
    a.update(t[:cut], p[:cut])
    b.update(t[cut:], p[cut:])
    a.merge(b)
    assert compute_metrics(a).confusion_matrix == compute_metrics(whole).confusion_matrix


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=1, max_size=60),
       st.integers(0, 60))
def test_regression_merge_equals_sequential(rows: list[tuple[float, float]], cut: int) -> None:
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    whole = RegressionQualityState.empty()
    whole.update(y, p)
    a, b = RegressionQualityState.empty(), RegressionQualityState.empty()
    a.update(y[:cut], p[:cut])
    b.update(y[cut:], p[cut:])
    a.merge(b)
    assert (a.n, a.n_ape) == (whole.n, whole.n_ape)
    for name in ("sum_abs_err", "sum_sq_err", "mean_y", "m2_y", "m2_pred", "sum_ape"):
        assert getattr(a, name) == pytest.approx(getattr(whole, name), rel=1e-9, abs=1e-6)


# ---------------------------------------------------------------- blobs


def test_round_trips_and_bad_blobs() -> None:
    y, s = _binary_data(1, 500)
    binary, multi, reg = BinaryQualityState.empty(), MulticlassQualityState.empty(), RegressionQualityState.empty()
    binary.update(y, score=s)
    multi.update(["x", "y", "x"], ["x", "x", "z"])
    reg.update(y, s)
    states: list[QualityState] = [binary, multi, reg]
    for state in states:
        blob = state.to_bytes()
        back = state_from_bytes(blob)
        assert type(back) is type(state)
        _same(compute_metrics(back).metrics, compute_metrics(state).metrics)
        with pytest.raises(CorruptBlobError):
            state_from_bytes(blob[:-3])
        with pytest.raises(CorruptBlobError):
            state_from_bytes(b"XXXX" + blob[4:])
    with pytest.raises(ParameterMismatchError):
        RegressionQualityState.from_bytes(binary.to_bytes())
    with pytest.raises(MergeError):
        BinaryQualityState.empty(0.5, 64).merge(BinaryQualityState.empty(0.5, 128))


# ---------------------------------------------------------------- metrics vs numpy references


def test_binary_metrics_match_reference() -> None:
    y, s = _binary_data(2, 4000)
    state = BinaryQualityState.empty(threshold=0.5)
    state.update(y, score=s)
    m = compute_metrics(state).metrics
    pred = s >= 0.5
    tp, fp = np.sum(pred & (y == 1)), np.sum(pred & (y == 0))
    fn, tn = np.sum(~pred & (y == 1)), np.sum(~pred & (y == 0))
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    assert m["accuracy"].value == pytest.approx((tp + tn) / y.size)
    assert m["precision"].value == pytest.approx(prec)
    assert m["recall"].value == pytest.approx(rec)
    assert m["false_positive_rate"].value == pytest.approx(fp / (fp + tn))
    assert m["f1"].value == pytest.approx(2 * prec * rec / (prec + rec))
    assert m["f2"].value == pytest.approx(5 * prec * rec / (4 * prec + rec))
    p = np.clip(s, 1e-15, 1 - 1e-15)
    assert m["log_loss"].value == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    # exact AUC by ranks (Mann-Whitney, ties half) vs the binned estimate, within the stated bound
    pos, neg = s[y == 1], s[y == 0]
    exact = (np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])) / (pos.size * neg.size)
    bound = auc_error_bound(state.pos_hist, state.neg_hist)
    assert abs(m["auc"].value - exact) <= bound + 1e-12
    assert bound < 0.01


def test_multiclass_metrics_match_reference() -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(0, 4, 3000)
    p = np.where(rng.random(3000) < 0.7, t, rng.integers(0, 4, 3000))
    state = MulticlassQualityState.empty()
    state.update(t[:1000], p[:1000])
    state.update(t[1000:].astype(np.float64), p[1000:].astype(np.float64))  # 1.0 and 1 are one class
    m = compute_metrics(state).metrics
    assert sorted(state.classes) == ["0", "1", "2", "3"]
    support = np.array([np.sum(t == c) for c in range(4)])
    prec = np.array([np.sum((p == c) & (t == c)) / np.sum(p == c) for c in range(4)])
    rec = np.array([np.sum((p == c) & (t == c)) / np.sum(t == c) for c in range(4)])
    f1 = 2 * prec * rec / (prec + rec)
    w = support / support.sum()
    assert m["accuracy"].value == pytest.approx(np.mean(t == p))
    assert m["weighted_precision"].value == pytest.approx(np.sum(w * prec))
    assert m["weighted_recall"].value == pytest.approx(np.sum(w * rec))
    assert m["weighted_f1"].value == pytest.approx(np.sum(w * f1))


def test_regression_metrics_and_sagemaker_conformance() -> None:
    data = np.genfromtxt(FIXTURE / "baseline_dataset.csv", delimiter=",", names=True)
    label, pred = data["Label"], data["Prediction"]
    chunks = [(label[i : i + 30], pred[i : i + 30], None) for i in range(0, label.size, 30)]
    ours = build_model_quality_baseline_from_chunks(chunks, problem_type="regression", r2_convention="sagemaker")
    theirs = read_model_quality_statistics(FIXTURE / "statistics.json")
    assert theirs.problem_type is ProblemType.REGRESSION and theirs.n == ours.n == 100
    for name in ("mae", "mse", "rmse", "r2"):
        assert ours.metrics[name].value == pytest.approx(theirs.metrics[name].value, rel=1e-12), name
    standard = build_model_quality_baseline(label, pred, problem_type="regression")
    err = pred - label
    assert standard.metrics["r2"].value == pytest.approx(1 - np.sum(err**2) / np.sum((label - label.mean()) ** 2))
    assert standard.metrics["mape"].value == pytest.approx(np.mean(np.abs(err[label != 0] / label[label != 0])))
    # constraints: SageMaker's file equals what we suggest from its statistics
    constraints = read_model_quality_constraints(FIXTURE / "constraints.json")
    assert constraints == suggest_constraints(theirs)
    worse = {"mae": MetricValue(0.9, 0.01), "r2": MetricValue(-5.0, 0.1), "mse": MetricValue(0.1, 0.01)}
    assert {v["metric_name"] for v in constraint_violations(worse, constraints)} == {"mae", "r2"}
    # statistics round trip in SageMaker's layout (n < 200: deviation written as "NaN")
    doc = statistics_to_dict(ours)
    assert doc["regression_metrics"]["mae"]["standard_deviation"] == "NaN"
    assert statistics_from_dict(doc).metrics["mae"].value == ours.metrics["mae"].value


def test_baseline_section_round_trip_and_errors() -> None:
    y, s = _binary_data(4, 2000)
    base = build_model_quality_baseline(y, s)
    assert base.problem_type is ProblemType.BINARY
    back = ModelQualityBaseline.from_dict(base.to_dict())
    _same(back.metrics, base.metrics)
    assert back.state == base.state
    with pytest.raises(BaselineError):
        ModelQualityBaseline.from_dict({**base.to_dict(), "version": 99})
    with pytest.raises(BaselineError):
        ModelQualityBaseline.from_dict({**base.to_dict(), "state": "bm90IGEgYmxvYg=="})
    with pytest.raises(BaselineError):
        statistics_from_dict({"version": 0.0})


# ---------------------------------------------------------------- drift rule


def _window(seed: int, n: int, shift: float) -> BinaryQualityState:
    y, s = _binary_data(seed, n, shift)
    state = BinaryQualityState.empty()
    state.update(y, score=s)
    return state


def test_rule_false_alarm_rate_under_no_change() -> None:
    """Holm-corrected family alpha 0.01: over 400 windows expect <= 4 alarms; allow 12 (binomial 99.9%)."""
    y, s = _binary_data(100, 200_000)
    base = build_model_quality_baseline(y, s)
    alarms = sum(evaluate_window(_window(1000 + i, 1000, 0.0), base).drifted for i in range(400))
    assert alarms <= 12


def test_rule_power_under_real_drop() -> None:
    y, s = _binary_data(100, 200_000)
    base = build_model_quality_baseline(y, s)
    results = [evaluate_window(_window(2000 + i, 1000, 0.12), base) for i in range(50)]
    assert sum(r.drifted for r in results) >= 45
    r = results[0]
    assert r.enough_records and {c.metric for c in r.checks} == {"accuracy", "precision", "recall", "f1", "auc"}
    acc = next(c for c in r.checks if c.metric == "accuracy")
    assert acc.drifted == (acc.value < acc.threshold)


def test_rule_min_records_and_sagemaker_mode() -> None:
    y, s = _binary_data(100, 50_000)
    base = build_model_quality_baseline(y, s)
    small = evaluate_window(_window(5, 150, 0.3), base)
    assert not small.enough_records and not small.drifted and small.metrics.n == 150
    cfg = QualityRuleConfig(method="sagemaker")
    flagged = [evaluate_window(_window(10 + i, 1000, 0.0), base, cfg).drifted for i in range(40)]
    strict = [evaluate_window(_window(10 + i, 1000, 0.0), base).drifted for i in range(40)]
    assert sum(flagged) >= sum(strict) and sum(flagged) >= 10  # one-SD rule alarms often with no change
