"""Estimated performance (CBPE): the estimates from a state, their intervals, the monitor's rule and events, the
baseline build and the registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from estimation import (
    DROP_SCALE,
    capture_rows,
    classifier_baseline,
    classifier_data,
    judge,
    multiclass_data,
    numeric_columns,
    realised_accuracy,
)

from streamdrift.baseline.baseline import Baseline, MonitorOptions, build_baseline
from streamdrift.errors import InputFileError
from streamdrift.monitors.estimated_performance.estimate import estimate_metrics, float_auc
from streamdrift.monitors.estimated_performance.monitor import CHECK
from streamdrift.monitors.estimated_performance.state import EstimatedPerformanceState
from streamdrift.monitors.model_quality.metrics import binned_auc
from streamdrift.monitors.registry import MonitorConfig, monitors_for

KIND = "estimated_performance"


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return Baseline.from_json(classifier_baseline(50_000, 1).to_json())


def test_estimates_are_the_expected_confusion_matrix() -> None:
    rng = np.random.default_rng(2)
    score, p = rng.random(1000), rng.random(1000)
    state = EstimatedPerformanceState.empty(0.4)
    state.update(score, p)
    metrics = estimate_metrics(state).metrics
    pos = score >= 0.4
    tp, fp, fn, tn = p[pos].sum(), (1 - p[pos]).sum(), p[~pos].sum(), (1 - p[~pos]).sum()
    # sums in fixed point (2**-20): exact to about 1e-6 of a record
    assert metrics["accuracy"].value == pytest.approx((tp + tn) / 1000, abs=1e-6)
    assert metrics["precision"].value == pytest.approx(tp / (tp + fp), abs=1e-6)
    assert metrics["recall"].value == pytest.approx(tp / (tp + fn), abs=1e-6)
    assert metrics["f1"].value == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-6)
    assert metrics["accuracy"].standard_error == pytest.approx(np.sqrt((p * (1 - p)).sum()) / 1000, rel=1e-5)
    assert metrics["precision"].standard_error == pytest.approx(np.sqrt((p[pos] * (1 - p[pos])).sum()) / pos.sum(),
                                                                rel=1e-5)


def test_states_merge_to_the_same_bits_in_any_order() -> None:
    """Integer sums: the partitions' states merge to identical blobs whatever the order (batch / stream parity)."""
    rng = np.random.default_rng(6)
    parts = []
    for _ in range(5):
        state = EstimatedPerformanceState.empty()
        score = rng.random(333)
        state.update(score, rng.random(333))
        parts.append(state.to_bytes())
    blobs = set()
    for order in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1], [3, 1, 4, 0, 2]):
        merged = EstimatedPerformanceState.empty()
        for i in order:
            merged.merge(EstimatedPerformanceState.from_bytes(parts[i]))
        blobs.add(merged.to_bytes())
    assert len(blobs) == 1


def test_float_auc_equals_the_binned_auc_on_integer_weights() -> None:
    rng = np.random.default_rng(4)
    pos, neg = rng.integers(0, 9, 64), rng.integers(0, 9, 64)
    assert float_auc(pos.astype(float), neg.astype(float)) == pytest.approx(binned_auc(pos, neg))


def test_realised_accuracy_falls_inside_the_interval() -> None:
    """Calibrated data, 40 windows of 2,000 under covariate shifts: the realised accuracy is inside the 95%
    interval in about 95% of windows; >= 34 of 40 leaves three binomial SDs (1.4 windows) of room."""
    base = Baseline.from_json(classifier_baseline(50_000, 1).to_json())
    monitors = monitors_for(base, MonitorConfig())
    rng = np.random.default_rng(8)
    inside, errors = 0, []
    for _ in range(40):
        features, score, label = classifier_data(2000, rng, rng.uniform(0.6, 1.3))
        summary = judge(monitors, capture_rows(features, score), KIND)[KIND].summary
        estimate, se = summary["metrics"]["accuracy"], summary["standard_errors"]["accuracy"]
        realised = realised_accuracy(score, label)
        errors.append(abs(estimate - realised))
        inside += abs(estimate - realised) <= 1.96 * se
    assert inside >= 34
    assert np.mean(errors) < 0.01


def test_accuracy_drop_is_raised_without_labels_and_unchanged_windows_are_not(baseline: Baseline) -> None:
    monitors = monitors_for(baseline, MonitorConfig())
    assert KIND in monitors.names
    rng = np.random.default_rng(9)
    features, score, label = classifier_data(5000, rng, DROP_SCALE)
    assert realised_accuracy(score, label) < baseline.estimated_performance["metrics"]["accuracy"]["value"] - 0.02  # type: ignore[index]
    result = judge(monitors, capture_rows(features, score), KIND)[KIND]
    assert result.violations and {v.check for v in result.violations} == {CHECK}
    violation = next(v for v in result.violations if v.metric == "accuracy")
    assert violation.monitor == "model_quality" and violation.feature is None and violation.p_value is not None
    assert violation.value is not None and violation.threshold is not None and violation.value < violation.threshold
    assert ("model_quality", CHECK, "accuracy") in result.checked
    for seed in range(10, 16):
        features, score, _ = classifier_data(5000, np.random.default_rng(seed))
        clean = judge(monitors, capture_rows(features, score), KIND)[KIND]
        assert not clean.violations and clean.checked  # ran, clean: clears a raised alert


def test_too_few_records_and_no_scores_judge_nothing(baseline: Baseline) -> None:
    monitors = monitors_for(baseline, MonitorConfig())
    features, score, _ = classifier_data(150, np.random.default_rng(3), DROP_SCALE * 0.5)
    few = judge(monitors, capture_rows(features, score), KIND)[KIND]
    assert few.summary["status"] == "insufficient_records" and not few.violations and not few.checked
    unscored = judge(monitors, capture_rows(features, None), KIND)[KIND]
    assert unscored.summary["status"] == "no_scores" and unscored.summary["n_skipped"] == 150


def test_old_baselines_without_the_section_do_not_run_it(baseline: Baseline) -> None:
    old = baseline.to_dict()
    del old["estimated_performance"]
    loaded = Baseline.from_dict(old)
    assert loaded.estimated_performance is None
    assert KIND not in monitors_for(loaded, MonitorConfig()).names


def test_unusable_section_is_reported_and_the_others_run(baseline: Baseline) -> None:
    broken = dataclasses.replace(baseline, estimated_performance={"version": 7})
    monitors = monitors_for(broken, MonitorConfig())
    assert KIND in monitors.errors and "data_quality" in monitors.names


def test_build_needs_a_target_and_score() -> None:
    features, score, _ = classifier_data(500, np.random.default_rng(1))
    with pytest.raises(InputFileError, match="target and score"):
        build_baseline([numeric_columns({**features, "score": score})], "m", score="score",
                       monitors=MonitorOptions(estimated_performance=True))


def _multiclass_baseline() -> Baseline:
    from streamdrift.columns.columns import Column, Columns, Kind

    features, predicted, score, label = multiclass_data(40_000, np.random.default_rng(20))
    cols = numeric_columns({**features, "score": score})
    text = {name: Column(np.full(values.size, np.nan), np.full(values.size, Kind.STRING, dtype=np.uint8), values)
            for name, values in (("prediction", predicted), ("label", label))}
    return build_baseline([Columns(cols.n_rows, {**cols.columns, **text})], "m", target="label",
                          prediction="prediction", score="score", monitors=MonitorOptions(estimated_performance=True))


def test_multiclass_accuracy_is_estimated_from_the_predicted_class_score() -> None:
    baseline = Baseline.from_json(_multiclass_baseline().to_json())
    section = baseline.estimated_performance
    assert section is not None and section["problem_type"] == "multiclass_classification"
    monitors = monitors_for(baseline, MonitorConfig())
    rng = np.random.default_rng(21)
    inside = 0
    for _ in range(20):
        features, predicted, score, label = multiclass_data(3000, rng, rng.uniform(0.6, 1.2))
        result = judge(monitors, capture_rows(features, score), KIND)[KIND]
        assert set(result.summary["metrics"]) == {"accuracy"}
        estimate, se = result.summary["metrics"]["accuracy"], result.summary["standard_errors"]["accuracy"]
        inside += abs(estimate - float((predicted == label).mean())) <= 1.96 * se
    assert inside >= 16  # about 19 of 20 expected; 16 leaves two binomial SDs (1 window) and more of room
    features, predicted, score, label = multiclass_data(5000, rng, 0.5)
    assert float((predicted == label).mean()) < section["metrics"]["accuracy"]["value"] - 0.05
    dropped = judge(monitors, capture_rows(features, score), KIND)[KIND]
    assert [(v.check, v.metric) for v in dropped.violations] == [(CHECK, "accuracy")]
    features, _, score, _ = multiclass_data(5000, rng)
    assert not judge(monitors, capture_rows(features, score), KIND)[KIND].violations
