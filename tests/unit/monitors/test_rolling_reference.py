"""References beside the fixed baseline (monitors/reference.py through the one judge): the rolling reference
(last N windows merged) and the previous window raise and clear alerts under their own check names, memory is
N window profiles per model, a window given again (a replay) is kept once."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.synthetic import Scenario, generate
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.monitors.reference import (
    PREVIOUS,
    PREVIOUS_CHECK,
    ROLLING,
    ROLLING_CHECK,
    ReferenceConfig,
    ReferenceWindows,
)
from streamdrift.monitors.registry import MonitorConfig, monitors_for
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import Settings
from streamdrift.window.merger import ReadyWindow

MODEL = "credit"
T0 = 1_800_000_000_000
SIZE = 60_000


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_rows(generate(6000, np.random.default_rng(5)).rows())], MODEL)


def _window(i: int, scenario: Scenario, model: str = MODEL) -> ReadyWindow:
    batch = generate(3000, np.random.default_rng(100 + i), scenario)
    profile = DatasetProfile.empty(ProfileParams(kll_k=1000))
    profile.update(columns_from_rows(batch.rows()))
    start = T0 + i * SIZE
    return ReadyWindow(model, None, start, start + SIZE, profile, batch.n, False, frozenset({0}), start)


def test_each_reference_alerts_under_its_own_check(baseline: Baseline) -> None:
    judge = WindowJudge(Hysteresis(1, 1), ReferenceWindows(ReferenceConfig(rolling_windows=3, previous_window=True)))
    monitors = monitors_for(baseline, MonitorConfig())
    plan = [Scenario.NORMAL] * 3 + [Scenario.SHIFTED_INCOME] * 3 + [Scenario.NORMAL]
    events = []
    rolling_drifted = []
    for i, scenario in enumerate(plan):
        judged = judge.judge(_window(i, scenario), monitors)
        if i == 0:
            assert ROLLING not in judged.results and PREVIOUS not in judged.results  # nothing earlier yet
        else:
            assert judged.results[ROLLING].summary["reference_windows"] == min(i, 3)
            rolling_drifted.append(any(v.feature == "income" for v in judged.results[ROLLING].violations))
        events += [(i, e.check, e.feature, e.status) for e in judged.events if e.feature == "income"]
    # the shift: the baseline's alert stays raised while it lasts; the previous window moved only at its first
    # window (then the shifted window before is the same) and at its end; against the rolling reference (3
    # windows) income differs from the shift's first window on: a part of its windows is normal while the shift
    # lasts, and all of them are shifted when income comes back
    assert (3, "baseline_drift_check", "income", "raised") in events
    assert (6, "baseline_drift_check", "income", "cleared") in events
    assert (3, PREVIOUS_CHECK, "income", "raised") in events and (4, PREVIOUS_CHECK, "income", "cleared") in events
    assert (6, PREVIOUS_CHECK, "income", "raised") in events
    assert (3, ROLLING_CHECK, "income", "raised") in events and (6, ROLLING_CHECK, "income", "raised") not in events
    assert [e for e in events if e[1] == ROLLING_CHECK] == [(3, ROLLING_CHECK, "income", "raised")]
    assert rolling_drifted == [False, False, True, True, True, True]


def test_memory_is_the_last_windows_and_a_replay_is_kept_once(baseline: Baseline) -> None:
    refs = ReferenceWindows(ReferenceConfig(rolling_windows=2, models=frozenset({MODEL})))
    for i in range(5):
        w = _window(i, Scenario.NORMAL)
        refs.add(MODEL, w.window_start_ms, w.profile)
    refs.add(MODEL, T0 + 3 * SIZE, _window(3, Scenario.SHIFTED_INCOME).profile)  # replayed: not after the last
    assert refs.windows(MODEL) == [T0 + 3 * SIZE, T0 + 4 * SIZE]
    other = _window(0, Scenario.NORMAL, model="other")
    refs.add("other", other.window_start_ms, other.profile)
    assert refs.windows("other") == []  # not one of reference_models
    # judged against the windows before its start only (a replayed window is not its own reference)
    results = refs.judge(MODEL, T0 + 4 * SIZE, _window(4, Scenario.NORMAL).profile, baseline,
                         MonitorConfig().evaluation)
    assert results[ROLLING].summary["reference_windows"] == 1 and not results[ROLLING].violations


def test_settings_choose_the_references() -> None:
    s = Settings.model_validate({"history": {"rolling_windows": 60, "previous_window": True,
                                             "reference_models": ["credit"]}})
    config = s.history.reference_config()
    assert config == ReferenceConfig(60, True, frozenset({"credit"})) and config.keep == 60
    assert not Settings().history.reference_config().enabled


def test_the_running_merge_holds_exactly_the_last_n_windows() -> None:
    """The rolling reference's two-stack merge (a few merges per window instead of N) holds the last N windows:
    their record counts and each feature's values, whatever the point of its flip."""
    from streamdrift.monitors.reference import _RollingMerge

    rolling = _RollingMerge(3)
    sizes = []
    for i in range(10):
        profile = DatasetProfile.empty(ProfileParams(kll_k=1000))
        profile.update(columns_from_rows([{"x": float(i)}] * (100 * (i + 1))))
        rolling.append(profile)
        sizes.append(100 * (i + 1))
        merged = rolling.merged()
        assert len(rolling) == min(i + 1, 3)
        assert merged.n_records == sum(sizes[-3:])
        x = merged.features["x"].numeric
        assert (x.kll.min, x.kll.max) == (float(max(0, i - 2)), float(i))


def test_the_same_hour_last_week_is_a_reference_of_its_own(baseline: Baseline) -> None:
    """Windows merged per UTC hour for a week: a window is judged against its hour a week before (alerting as
    ``last_week_drift_check``), hours older than a week are dropped."""
    from streamdrift.monitors.reference import HOUR_MS, LAST_WEEK, LAST_WEEK_CHECK, WEEK_MS

    refs = ReferenceWindows(ReferenceConfig(same_hour_last_week=True))
    hour = T0 - T0 % HOUR_MS
    for i, scenario in enumerate((Scenario.SHIFTED_INCOME, Scenario.SHIFTED_INCOME)):  # two windows of one hour
        refs.add(MODEL, hour + i * SIZE, _window(i, scenario).profile)
    refs.add(MODEL, hour + 5 * HOUR_MS, _window(3, Scenario.NORMAL).profile)
    config = MonitorConfig().evaluation
    now = _window(4, Scenario.NORMAL).profile
    results = refs.judge(MODEL, hour + WEEK_MS + 2 * SIZE, now, baseline, config)
    assert set(results) == {LAST_WEEK}
    assert results[LAST_WEEK].summary["n_reference"] == 6000  # both windows of that hour, merged
    assert {(v.check, v.feature) for v in results[LAST_WEEK].violations} >= {(LAST_WEEK_CHECK, "income")}
    assert refs.judge(MODEL, hour + WEEK_MS + HOUR_MS, now, baseline, config) == {}  # that hour had no window
    refs.add(MODEL, hour + WEEK_MS + 2 * HOUR_MS, now)
    assert refs.hours(MODEL) == [hour + 5 * HOUR_MS, hour + WEEK_MS + 2 * HOUR_MS]  # a week and more: dropped
