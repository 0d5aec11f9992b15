"""The segments monitor: per-segment window states (capped), judged per segment with the alpha split, events
with their segment and hysteresis per (segment, check)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from segmented_traffic import FEATURES, segmented

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Columns, column_from_values
from streamdrift.errors import CorruptBlobError, MergeError
from streamdrift.events.events import DriftEvent, Hysteresis, events_from_results
from streamdrift.monitors.base import Rows
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig
from streamdrift.monitors.registry import MonitorConfig, monitors_for, state_reader
from streamdrift.monitors.segments.monitor import SegmentsMonitor, segment_dir
from streamdrift.monitors.segments.section import SegmentProfiler, SegmentsBaseline
from streamdrift.monitors.segments.spec import OTHER, SegmentsConfig, SegmentSpec
from streamdrift.monitors.segments.state import SegmentStates
from streamdrift.monitors.states import merge_state_blobs
from streamdrift.profile.profiles import ProfileParams
from streamdrift.profile.sketches import BlobKind

WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 1, tzinfo=UTC))


def _columns(data: dict[str, np.ndarray]) -> Columns:
    n = len(data["region"])
    return Columns(n, {k: column_from_values(v.tolist()) for k, v in data.items()})


def _batch(data: dict[str, np.ndarray], version: str | None = None) -> CaptureBatch:
    cols = _columns(data)
    n = cols.n_rows
    return CaptureBatch("m", version, np.zeros(n, dtype=np.int64), np.full(n, None, dtype=object), cols, None, None,
                        None, np.arange(n, dtype=np.int64))


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    train = segmented(np.random.default_rng(7), 30_000, 6)
    profiler = SegmentProfiler(SegmentSpec.parse("region"), ProfileParams(kll_k=2048), min_rows=200)
    small = segmented(np.random.default_rng(8), 100, 1)  # region r00 only: stays a small extra segment
    small["region"] = np.full(100, "tiny", dtype=object)
    return build_baseline(iter([_columns(train), _columns(small)]), "m", segments=profiler)


def _monitor(baseline: Baseline, **config: object) -> SegmentsMonitor:
    monitors = monitors_for(baseline, MonitorConfig(segments=SegmentsConfig(**config)))  # type: ignore[arg-type]
    monitor = monitors.get("segments")
    assert isinstance(monitor, SegmentsMonitor)
    return monitor


def _window(monitor: SegmentsMonitor, data: dict[str, np.ndarray]) -> SegmentStates:
    state = monitor.new_state()
    half = len(data["region"]) // 2  # two polls: their rows are profiled together when the state is written
    for part in (slice(0, half), slice(half, None)):
        monitor.update(state, Rows(_batch({k: v[part] for k, v in data.items()})))
    return SegmentStates.from_bytes(monitor.write_state(state))


def test_the_baseline_keeps_segments_with_enough_rows(baseline: Baseline) -> None:
    section = SegmentsBaseline.from_dict(Baseline.from_json(baseline.to_json()).segments or {})
    assert section.spec == SegmentSpec.parse("region")
    assert sorted(n for n, p in section.profiles.items() if p is not None) == [f"r0{i}" for i in range(6)]
    assert section.profiles["tiny"] is None and section.rows["tiny"] == 100
    assert sum(p.n_records for p in section.profiles.values() if p is not None) == 30_000


def test_a_shift_in_one_segment_raises_that_segment_only(baseline: Baseline) -> None:
    monitor = _monitor(baseline)
    data = segmented(np.random.default_rng(11), 12_000, 6, shifted="r03", shift_sd=0.5)
    result = monitor.judge(_window(monitor, data))
    assert {(v.segment, v.feature) for v in result.violations} == {("r03", "x0")}
    assert len(result.checked) == 6 * len(FEATURES)
    assert result.summary["tested"] == 6
    heat = result.summary["heatmap"]
    assert heat["segments"] == [f"r0{i}" for i in range(6)] and heat["features"] == sorted(FEATURES)
    assert heat["drifted"] == {"r03": ["x0"]}
    assert result.files["segments/r03/constraint_violations.json"]["violations"][0]["segment"] == "r03"
    assert result.files["segments/r00/constraint_violations.json"] == {"violations": []}


def test_unchanged_data_raises_nothing(baseline: Baseline) -> None:
    monitor = _monitor(baseline)
    for seed in range(5):
        result = monitor.judge(_window(monitor, segmented(np.random.default_rng(100 + seed), 6_000, 6)))
        assert result.violations == []


def test_the_alpha_is_split_over_the_segments_tested(baseline: Baseline) -> None:
    monitor = _monitor(baseline, whole_alpha_share=0.5)
    data = segmented(np.random.default_rng(3), 6_000, 6)
    data["region"][:20] = "r05x"  # a segment of 20 rows: under min_window_records (30), not tested
    result = monitor.judge(_window(monitor, data))
    assert result.summary["tested"] == 6
    assert result.summary["alpha_per_segment"] == pytest.approx(0.01 * 0.5 / 6)
    entry = next(e for e in result.summary["segments"] if e["segment"] == "r05x")
    assert entry["new"] and entry["reference"] == "whole" and "skipped" in entry
    whole = monitors_for(baseline, MonitorConfig()).get("data_quality")
    assert whole is not None and whole.config.alpha == pytest.approx(0.005)  # type: ignore[attr-defined]
    plain = monitors_for(Baseline.from_dict({**baseline.to_dict(), "segments": None}), MonitorConfig())
    assert plain.get("segments") is None and plain.get("data_quality").config.alpha == 0.01  # type: ignore[union-attr]


def test_a_new_segment_is_compared_with_the_whole(baseline: Baseline) -> None:
    monitor = _monitor(baseline)
    data = segmented(np.random.default_rng(4), 6_000, 6)
    data["region"][data["region"] == "r01"] = "brand-new"
    result = monitor.judge(_window(monitor, data))
    entry = next(e for e in result.summary["segments"] if e["segment"] == "brand-new")
    assert entry["new"] and entry["reference"] == "whole"
    assert result.summary["new"] == ["brand-new"]
    assert not result.violations  # the whole's distribution: no drift


def test_settings_definitions_win_over_the_baseline(baseline: Baseline) -> None:
    spec = SegmentSpec.parse(["x1"], {"x1": [9.0, 11.0]})
    monitor = _monitor(baseline, definitions={"m": spec})
    assert monitor.spec == spec and monitor.section is None
    state = _window(monitor, segmented(np.random.default_rng(5), 3_000, 6))
    assert set(state.named) == {"<9", "[9,11)", ">=11"}
    assert monitors_for(baseline, MonitorConfig(segments=SegmentsConfig(enabled=False))).get("segments") is None


def test_the_cap_pools_further_values_and_counts_them(baseline: Baseline) -> None:
    monitor = _monitor(baseline, max_values=4)
    data = segmented(np.random.default_rng(6), 6_000, 6)
    state = _window(monitor, data)
    assert len(state.named) == 4 and OTHER in state.profiles
    assert state.pooled_rows == int(np.isin(data["region"], ["r04", "r05"]).sum())
    assert sum(p.n_records for p in state.profiles.values()) == 6_000


def test_states_merge_in_any_order_and_round_trip(baseline: Baseline) -> None:
    monitor = _monitor(baseline, max_values=3)
    parts = [_window(monitor, segmented(np.random.default_rng(20 + i), 2_000, 6)) for i in range(3)]
    blobs = [p.to_bytes() for p in parts]
    a = SegmentStates.from_bytes(merge_state_blobs(blobs))
    b = SegmentStates.from_bytes(merge_state_blobs(blobs[::-1]))
    assert a.named == b.named and a.pooled_rows == b.pooled_rows
    assert {n: p.n_records for n, p in a.profiles.items()} == {n: p.n_records for n, p in b.profiles.items()}
    assert sum(p.n_records for p in a.profiles.values()) == 6_000
    assert state_reader(BlobKind.SEGMENTS) == SegmentStates.from_bytes
    with pytest.raises(MergeError):
        SegmentStates(3).merge(SegmentStates(4))
    with pytest.raises(CorruptBlobError):
        SegmentStates.from_bytes(blobs[0][:-5])


def test_events_carry_the_segment_and_hysteresis_is_per_segment(baseline: Baseline) -> None:
    monitor = _monitor(baseline)
    hysteresis = Hysteresis(raise_after=1, clear_after=1)
    shifted = segmented(np.random.default_rng(12), 12_000, 6, shifted="r02", shift_sd=0.5)
    events = events_from_results([monitor.judge(_window(monitor, shifted))], hysteresis, "m", WINDOW, "b")
    assert [(e.status, e.segment, e.feature, e.schema_version) for e in events] == [("raised", "r02", "x0", "1.1")]
    assert DriftEvent.from_json(events[0].to_json()) == events[0]
    calm = segmented(np.random.default_rng(13), 12_000, 6)
    events = events_from_results([monitor.judge(_window(monitor, calm))], hysteresis, "m", WINDOW, "b")
    assert [(e.status, e.segment, e.feature) for e in events] == [("cleared", "r02", "x0")]
    assert "in segment 'r02'" in events[0].description


def test_segment_directories_are_safe() -> None:
    assert segment_dir("eu,gold") == "eu,gold"
    assert segment_dir("a/b c") == "a%2fb%20c"
    assert segment_dir("") == "%"


def test_whole_traffic_evaluation_config_unchanged_without_segments() -> None:
    assert EvaluationConfig().alpha == 0.01
