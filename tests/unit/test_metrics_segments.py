"""The segment drift series: a ``segment`` label under a cap per model (the rest under ``_other``, the maximum)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streamdrift.metrics import OTHER_FEATURE, Metrics


def test_segment_label_is_capped_per_model() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, max_features_per_model=10, max_segments_per_model=2)
    m.set_segment_drift("m1", "eu", "age", "linf", 0.2, True)
    m.set_segment_drift("m1", "us", "age", "linf", 0.1, False)
    m.set_segment_drift("m1", "apac", "age", "linf", 0.05, False)
    m.set_segment_drift("m1", "latam", "age", "linf", 0.3, True)
    stat = "streamdrift_segment_drift_statistic"
    state = "streamdrift_segment_drift_state"
    assert reg.get_sample_value(stat, {"model": "m1", "segment": "eu", "feature": "age", "statistic": "linf"}) == 0.2
    other = {"model": "m1", "segment": OTHER_FEATURE, "feature": "age"}
    assert reg.get_sample_value(stat, {**other, "statistic": "linf"}) == 0.3  # the max of apac and latam
    assert reg.get_sample_value(state, other) == 1.0
    segments = {s.labels["segment"] for metric in reg.collect() for s in metric.samples if s.name == stat}
    assert segments == {"eu", "us", OTHER_FEATURE}
    m.remove_model("m1")
    assert reg.get_sample_value(stat, {"model": "m1", "segment": "eu", "feature": "age", "statistic": "linf"}) is None
