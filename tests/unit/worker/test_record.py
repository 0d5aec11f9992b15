"""The control plane's judge and recorder over the two stages of a window: data quality at the data close, model
quality at the labels close (late ground truth), one hysteresis for both, neither stage clearing the other's
alerts; the status entries and the report cache."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamdrift.baseline.baseline import Baseline, MonitorOptions, build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.synthetic import Batch, Scenario, generate
from streamdrift.events.events import DriftEvent, Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.metrics import Metrics
from streamdrift.monitors.estimated_performance.calibration import EstimatedPerformanceBaseline
from streamdrift.monitors.estimated_performance.state import EstimatedPerformanceState
from streamdrift.monitors.model_quality import BinaryQualityState
from streamdrift.monitors.registry import monitors_for
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import EvaluationSettings, LabelSettings, Settings
from streamdrift.window.merger import ReadyWindow
from streamdrift.worker.record import WindowRecorder
from streamdrift.worker.status import StatusStore

MODEL = "credit"
T0 = 1_800_000_000_000
SIZE = 60_000


def _rows(batch: Batch, *, labelled: bool) -> list[dict[str, object]]:
    rows = batch.rows()
    if labelled:
        for i, row in enumerate(rows):
            row.update(label=int(batch.label[i]), prediction=int(batch.prediction[i]), score=float(batch.score[i]))
    return rows


def _baseline() -> Baseline:
    batch = generate(6000, np.random.default_rng(5))
    return build_baseline([columns_from_rows(_rows(batch, labelled=True))], MODEL, target="label",
                          prediction="prediction", score="score")


def _data_window(start: int, scenario: Scenario) -> ReadyWindow:
    batch = generate(3000, np.random.default_rng(start // SIZE), scenario)
    profile = DatasetProfile.empty(ProfileParams(kll_k=1000))
    profile.update(columns_from_rows(_rows(batch, labelled=False)))
    return ReadyWindow(MODEL, None, start, start + SIZE, profile, batch.n, False, frozenset({0}), start)


def _labels_window(start: int, scenario: Scenario) -> ReadyWindow:
    batch = generate(3000, np.random.default_rng(start // SIZE + 100), scenario)
    state = BinaryQualityState.empty()
    state.update(batch.label.astype(float), batch.prediction.astype(float), batch.score)
    return ReadyWindow(MODEL, None, start, start + SIZE, DatasetProfile.empty(ProfileParams()), 0, False,
                       frozenset({0}), start, {"model_quality": [state.to_bytes()]}, stage="labels")


class _ControlPlane:
    """What the control plane does with a released window: judge it with the model's monitors, record it."""

    def __init__(self, status: StatusStore) -> None:
        self.settings = Settings(evaluation=EvaluationSettings(raise_after=1, clear_after=1),
                                 labels=LabelSettings(min_labelled=200))
        self.judge = WindowJudge(Hysteresis(1, 1))
        self.recorder = WindowRecorder(self.judge, Metrics(CollectorRegistry()), status, clock=lambda: T0 / 1000)
        self.last_report = self.recorder.last_report

    def run(self, window: ReadyWindow, baseline: Baseline,
            state: dict[str, bytes] | None = None) -> list[DriftEvent]:
        monitors = monitors_for(baseline, self.settings.monitor_config())
        judged = self.judge.judge(window, monitors, state)
        self.recorder.record(judged, monitors)
        return judged.events

    def remember(self, model_id: str, state: dict[str, bytes]) -> None:
        self.judge.remember(model_id, state)

    def forget(self) -> None:
        self.judge.forget()


def _judge() -> tuple[_ControlPlane, StatusStore]:
    status = StatusStore(label_sample_rate=0.25)
    return _ControlPlane(status), status


def test_each_stage_raises_its_own_monitor_and_clears_nothing_of_the_other() -> None:
    (judge, store), baseline = _judge(), _baseline()
    data = judge.run(_data_window(T0, Scenario.SHIFTED_INCOME), baseline)
    assert data and {e.monitor for e in data} == {"data_quality"} and all(e.status == "raised" for e in data)
    quality = judge.run(_labels_window(T0, Scenario.LABEL_FLIP), baseline)
    assert quality and {(e.monitor, e.check, e.status) for e in quality} == {
        ("model_quality", "model_quality_check", "raised")}
    # the labels stage of a clean window clears model quality only; data quality stays raised
    cleared = judge.run(_labels_window(T0 + SIZE, Scenario.NORMAL), baseline)
    assert {(e.monitor, e.status) for e in cleared} == {("model_quality", "cleared")}
    status = store.get(MODEL)
    assert status is not None and status["state"] == "drifting"
    assert {r["monitor"] for r in status["alerts_raised"]} == {"data_quality"}


def test_labels_stage_fills_the_status_entry_of_its_window() -> None:
    (judge, store), baseline = _judge(), _baseline()
    judge.run(_data_window(T0, Scenario.NORMAL), baseline)
    judge.run(_labels_window(T0, Scenario.NORMAL), baseline)
    judge.run(_labels_window(T0 + SIZE, Scenario.NORMAL), baseline)  # its data stage was never seen here
    status = store.get(MODEL)
    assert status is not None
    [first] = status["windows"]
    assert first["evaluated"] and first["n_records"] == 3000 and first["model_quality"]["n_labelled"] == 3000
    [second] = status["model_quality_windows"]  # no data-stage entry to join: listed apart, not among windows
    assert second["window_start"] > first["window_start"] and second["model_quality"]["evaluated"]
    assert status["label_join_sample_rate"] == 0.25  # model quality is measured on the join sample
    assert judge.last_report[MODEL][1].model_quality["accuracy"] > 0.5


def _judged(judge: _ControlPlane, window: ReadyWindow, baseline: Baseline, state: dict[str, bytes]) -> list[Any]:
    """As the control plane does: judge with the table's state, send the events, then remember the state."""
    events = judge.run(window, baseline, state)
    judge.remember(window.model_id, state)
    return events


def test_a_restarted_judge_goes_on_from_the_persisted_hysteresis() -> None:
    """The control plane keeps each model's hysteresis in its changelogged table (here a dict): a judge that
    starts over (restart, rebalance) neither raises a raised alert again nor misses clearing it, and a streak
    towards raising carries over too. A judge without the state would raise again and never clear."""
    baseline = _baseline()
    state: dict[str, bytes] = {}
    first, _ = _judge()
    raised = _judged(first, _data_window(T0, Scenario.SHIFTED_INCOME), baseline, state)
    assert raised and all(e.status == "raised" for e in raised) and list(state) == [f"h|{MODEL}"]
    second, store = _judge()  # restarted
    assert _judged(second, _data_window(T0 + SIZE, Scenario.SHIFTED_INCOME), baseline, state) == []  # still raised
    assert {r["check"] for r in (store.get(MODEL) or {})["alerts_raised"]} == {e.check for e in raised}
    cleared = _judged(second, _data_window(T0 + 2 * SIZE, Scenario.NORMAL), baseline, state)
    assert {(e.check, e.feature) for e in cleared} == {(e.check, e.feature) for e in raised}
    assert all(e.status == "cleared" for e in cleared) and state == {}  # every key clean: nothing kept
    # without the state, a restarted judge raises the same alert again
    third, _ = _judge()
    again = third.run(_data_window(T0 + SIZE, Scenario.SHIFTED_INCOME), baseline)
    assert {(e.check, e.feature, e.status) for e in again} == {(e.check, e.feature, e.status) for e in raised}


def test_the_judge_reads_the_state_again_after_a_rebalance() -> None:
    """Between forget() calls the judge trusts its memory; after one (partitions reassigned) it reads the
    table, where another control plane may have moved the model on."""
    baseline = _baseline()
    state: dict[str, bytes] = {}
    judge, _ = _judge()
    assert _judged(judge, _data_window(T0, Scenario.SHIFTED_INCOME), baseline, state)
    other, _ = _judge()  # owned the partition meanwhile and saw the model recover
    assert _judged(other, _data_window(T0 + SIZE, Scenario.NORMAL), baseline, state) and state == {}
    judge.forget()
    again = _judged(judge, _data_window(T0 + 2 * SIZE, Scenario.SHIFTED_INCOME), baseline, state)
    assert again and all(e.status == "raised" for e in again)  # from the table's clean state, not its memory
    state[f"h|{MODEL}"] = b"not json"
    judge.forget()
    assert _judged(judge, _data_window(T0 + 3 * SIZE, Scenario.SHIFTED_INCOME), baseline, state)  # unreadable: clean


def test_status_shows_the_estimate_beside_the_realised_metrics_and_publishes_it() -> None:
    """Estimated performance is judged at the data close (no labels); when the labels stage of the same window
    closes, its status entry gets both and how far apart they are."""
    batch = generate(6000, np.random.default_rng(5))
    baseline = build_baseline([columns_from_rows(_rows(batch, labelled=True))], MODEL, target="label",
                              prediction="prediction", score="score",
                              monitors=MonitorOptions(estimated_performance=True))
    section = EstimatedPerformanceBaseline.from_dict(baseline.estimated_performance or {})
    judge, store = _judge()
    data = _data_window(T0, Scenario.NORMAL)
    scores = generate(3000, np.random.default_rng(T0 // SIZE), Scenario.NORMAL).score
    state = EstimatedPerformanceState.empty(section.threshold)
    state.update(scores, section.calibration.apply(scores))
    judge.run(dataclasses.replace(data, extras={"estimated_performance": [state.to_bytes()]}), baseline)
    judge.run(_labels_window(T0, Scenario.NORMAL), baseline)
    status = store.get(MODEL)
    assert status is not None
    [entry] = status["windows"]
    estimated = entry["estimated_performance"]["metrics"]["accuracy"]
    side = entry["estimated_vs_realised"]["accuracy"]
    assert side["estimated"] == estimated and side["realised"] == entry["model_quality"]["metrics"]["accuracy"]
    assert side["error"] == pytest.approx(estimated - side["realised"])
    registry = judge.recorder._metrics.registry
    assert registry.get_sample_value("streamdrift_estimated_performance",
                                     {"model": MODEL, "metric": "accuracy"}) == pytest.approx(estimated)


def test_the_report_keeps_a_bounded_ring_of_window_summaries_for_drift_over_time() -> None:
    """``/report/<model>`` charts the last ``history.report_windows`` windows: the recorder keeps their
    summaries (no profile), the labels stage adds the realised quality to its window's."""
    status = StatusStore(label_sample_rate=1.0)
    plane = _ControlPlane(status)
    plane.recorder = WindowRecorder(plane.judge, Metrics(CollectorRegistry()), status, clock=lambda: T0 / 1000,
                                    keep_windows=3)
    baseline = _baseline()
    for i, scenario in enumerate([Scenario.NORMAL, Scenario.NORMAL, Scenario.SHIFTED_INCOME, Scenario.SHIFTED_INCOME,
                                  Scenario.NORMAL]):
        plane.run(_data_window(T0 + i * SIZE, scenario), baseline)
    plane.run(_labels_window(T0 + 4 * SIZE, Scenario.NORMAL), baseline)
    ring = list(plane.recorder.over_time[MODEL])
    assert [s.start_ms for s in ring] == [T0 + 2 * SIZE, T0 + 3 * SIZE, T0 + 4 * SIZE]
    assert [s.features["income"].drifted for s in ring] == [True, True, False]
    assert [s.alerts.get("income") for s in ring] == [(("baseline_drift_check", "raised"),), None,
                                                      (("baseline_drift_check", "cleared"),)]
    assert ring[-1].quality["accuracy"].realised is not None and ring[0].quality == {}


def test_a_window_judged_again_keeps_the_alerts_of_its_first_judging_in_the_ring() -> None:
    """faust may replay a window after a rebalance: judged again from the recorded hysteresis it sends no event,
    and its ring entry keeps the alerts the first judging sent."""
    status = StatusStore()
    plane = _ControlPlane(status)
    baseline, window = _baseline(), _data_window(T0, Scenario.SHIFTED_INCOME)
    assert plane.run(window, baseline) and plane.run(window, baseline) == []
    [entry] = plane.recorder.over_time[MODEL]
    assert entry.alerts["income"] == (("baseline_drift_check", "raised"),)
