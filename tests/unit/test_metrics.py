from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streamdrift.errors import ConfigError
from streamdrift.metrics import OTHER_FEATURE, Metrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _series(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    return [
        dict(s.labels) for metric in registry.collect() for s in metric.samples if s.name == name
    ]


def test_contract_names_are_exposed() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg)
    m.record_consumed("m1", 10)
    m.record_processed("m1", 9)
    m.record_late("m1", "drop", 1)
    m.record_deadlettered("not_json", 2)
    m.window_closed("m1")
    m.window_evaluated("m1", partial=True)
    m.set_drift("m1", "age", "ks", 0.2, 0.1)
    m.set_drift_state("m1", "data_quality", "age", True)
    m.alert("m1", "data_quality", "distribution_distance", "violation")
    m.set_last_window_end("m1", 1_700_000_000_000)
    m.set_baseline_age("m1", 3600)
    m.set_consumer_lag("cap", 3, 42)
    m.observe_merge_wait(0.3)
    m.observe_alert_latency(1.5)
    m.set_watermark_lag(3, 2.0)
    m.set_watermark_lag(3, 7.0, "team-oip")
    m.set_model_quality("m1", "accuracy", 0.9)
    m.label_joined("m1", "joined", 5)
    m.set_bias("m1", "sex=f", "DPPL", 0.05)
    m.set_attribution_ndcg("m1", 0.97)
    m.capture_dropped("queue_full", 3)
    m.set_estimated_performance("m1", "accuracy", 0.91)
    m.set_reconstruction_error("m1", "0.9", 2.5)

    assert _value(reg, "streamdrift_records_consumed_total", model="m1") == 10
    assert _value(reg, "streamdrift_records_processed_total", model="m1") == 9
    assert _value(reg, "streamdrift_records_late_total", model="m1", policy="drop") == 1
    assert _value(reg, "streamdrift_records_deadlettered_total", reason="not_json") == 2
    assert _value(reg, "streamdrift_windows_closed_total", model="m1") == 1
    assert _value(reg, "streamdrift_windows_evaluated_total", model="m1", partial="true") == 1
    assert _value(reg, "streamdrift_drift_statistic", model="m1", feature="age", statistic="ks") == 0.2
    assert _value(reg, "streamdrift_drift_threshold", model="m1", feature="age", statistic="ks") == 0.1
    assert _value(reg, "streamdrift_drift_state", model="m1", monitor="data_quality", feature="age") == 1
    assert (
        _value(
            reg, "streamdrift_alerts_total", model="m1", monitor="data_quality", check="distribution_distance",
            status="violation",
        )
        == 1
    )
    assert _value(reg, "streamdrift_last_window_end_timestamp_seconds", model="m1") == 1_700_000_000
    assert _value(reg, "streamdrift_baseline_age_seconds", model="m1") == 3600
    assert _value(reg, "streamdrift_consumer_lag", topic="cap", partition="3") == 42
    assert _value(reg, "streamdrift_partial_merge_wait_seconds_count") == 1
    assert _value(reg, "streamdrift_alert_latency_seconds_sum") == 1.5
    assert _value(reg, "streamdrift_watermark_lag_seconds", source="_capture", partition="3") == 2.0
    assert _value(reg, "streamdrift_watermark_lag_seconds", source="team-oip", partition="3") == 7.0
    assert _value(reg, "streamdrift_model_quality_metric", model="m1", metric="accuracy") == 0.9
    assert _value(reg, "streamdrift_label_join_total", model="m1", outcome="joined") == 5
    assert _value(reg, "streamdrift_bias_metric", model="m1", facet="sex=f", metric="DPPL") == 0.05
    assert _value(reg, "streamdrift_attribution_ndcg", model="m1") == 0.97
    assert _value(reg, "streamdrift_capture_dropped_total", reason="queue_full") == 3
    assert _value(reg, "streamdrift_estimated_performance", model="m1", metric="accuracy") == 0.91
    assert _value(reg, "streamdrift_reconstruction_error", model="m1", quantile="0.9") == 2.5
    text = generate_latest(reg).decode()
    assert "streamdrift_records_deadlettered_total{reason=\"not_json\"} 2.0" in text


def test_feature_label_cap_aggregates_overflow_under_other() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, max_features_per_model=3)
    for i in range(3):
        m.set_drift_state("m", "data_quality", f"f{i}", False)
    m.set_drift_state("m", "data_quality", "f3", True)
    m.set_drift_state("m", "data_quality", "f4", False)
    m.set_drift_state("m", "data_quality", "f0", True)  # admitted features stay themselves
    features = {s["feature"] for s in _series(reg, "streamdrift_drift_state")}
    assert features == {"f0", "f1", "f2", OTHER_FEATURE}
    # f3 is drifting: the _other series shows the max over overflow features
    assert _value(reg, "streamdrift_drift_state", model="m", monitor="data_quality", feature=OTHER_FEATURE) == 1
    m.set_drift_state("m", "data_quality", "f3", False)
    assert _value(reg, "streamdrift_drift_state", model="m", monitor="data_quality", feature=OTHER_FEATURE) == 0
    # each overflow feature is counted once, however often it is set
    m.set_drift("m", "f4", "ks", 0.3, 0.1)
    assert _value(reg, "streamdrift_metric_features_capped_total", model="m") == 2
    # the cap is per model
    m.set_drift_state("other", "data_quality", "f9", True)
    assert _value(reg, "streamdrift_drift_state", model="other", monitor="data_quality", feature="f9") == 1


def test_remove_model_drops_only_its_series() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, max_features_per_model=1)
    for model in ("a", "b"):
        m.record_consumed(model, 1)
        m.set_drift("a" if model == "a" else "b", "x", "ks", 0.1, 0.2)
        m.set_drift("a" if model == "a" else "b", "y", "ks", 0.1, 0.2)
    m.record_deadlettered("too_large")
    m.remove_model("a")
    assert _value(reg, "streamdrift_records_consumed_total", model="a") is None
    assert _value(reg, "streamdrift_drift_statistic", model="a", feature="x", statistic="ks") is None
    assert _value(reg, "streamdrift_metric_features_capped_total", model="a") is None
    assert _value(reg, "streamdrift_records_consumed_total", model="b") == 1
    assert _value(reg, "streamdrift_drift_statistic", model="b", feature=OTHER_FEATURE, statistic="ks") == 0.1
    assert _value(reg, "streamdrift_records_deadlettered_total", reason="too_large") == 1
    # after removal the model starts afresh (the cap admits its features again)
    m.set_drift("a", "y", "ks", 0.5, 0.2)
    assert _value(reg, "streamdrift_drift_statistic", model="a", feature="y", statistic="ks") == 0.5


def test_two_instances_need_two_registries() -> None:
    Metrics(CollectorRegistry())
    Metrics(CollectorRegistry())
    reg = CollectorRegistry()
    Metrics(reg)
    with pytest.raises(ValueError):
        Metrics(reg)


def test_invalid_cap() -> None:
    with pytest.raises(ConfigError):
        Metrics(CollectorRegistry(), max_features_per_model=0)
