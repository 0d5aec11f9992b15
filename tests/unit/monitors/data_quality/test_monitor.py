"""The data-quality monitor's window state is bounded: a producer inventing feature names fills a window up to
``max_features`` names (the baseline's features always count) and the rest are dropped and counted."""

from __future__ import annotations

import numpy as np

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.ingest.records import encode_capture_record, parse_capture
from streamdrift.monitors.base import Rows
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig
from streamdrift.monitors.data_quality.monitor import DataQualityMonitor
from streamdrift.profile.profiles import ProfileParams


def _rows(names: list[str]) -> Rows:
    values = [encode_capture_record("m", features={n: 1.0 for n in names}, prediction=1.0, inference_id=None,
                                    timestamp_ms=1_718_000_000_000)]
    [batch], _ = parse_capture(values)
    return Rows(batch)


def test_a_window_holds_at_most_max_features_names() -> None:
    monitor = DataQualityMonitor(None, EvaluationConfig(), ProfileParams(), max_features=5)
    state = monitor.new_state()
    monitor.update(state, _rows([f"a{i}" for i in range(3)]))
    monitor.update(state, _rows([f"b{i}" for i in range(4)]))  # 2 fit, 2 dropped
    monitor.update(state, _rows(["a0", "a1", "c0"]))  # the known ones still count, c0 is dropped
    assert sorted(state.features) == ["a0", "a1", "a2", "b0", "b1"]
    assert monitor.dropped_features == 3
    assert state.n_records == 3 and state.features["a0"].n_present == 2


def test_the_baselines_features_are_always_taken() -> None:
    rows = [{f"f{i}": float(v) for i in range(8)} for v in np.arange(50)]
    baseline = build_baseline([columns_from_rows(rows)], "m")
    monitor = DataQualityMonitor(baseline, EvaluationConfig(), ProfileParams(), max_features=3)
    assert monitor.max_features == 8  # never below the baseline's own
    state = monitor.new_state()
    monitor.update(state, _rows([f"f{i}" for i in range(8)] + ["new"]))
    assert sorted(state.features) == [f"f{i}" for i in range(8)] and monitor.dropped_features == 1
