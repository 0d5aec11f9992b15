"""Roll-up windows in the stream (window/rollupwindows.py): released base windows merged into hour / day windows
in a store, released when the watermark passed their end, each base window counted once across replays and
restarts, the open ones bounded."""

from __future__ import annotations

import dataclasses

import pytest
from history import MINUTE_MS, ready_window, rows_of

from streamdrift.errors import ConfigError
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.rollupwindows import RollupWindows

FIVE_MS = 5 * MINUTE_MS
T0 = 30_000 * FIVE_MS  # aligned to five minutes


def _windows(n: int, first: int = T0) -> list[ReadyWindow]:
    return [ready_window("m", first + i * MINUTE_MS, rows_of(10 + i, seed=i)) for i in range(n)]


def _labels(window: ReadyWindow) -> ReadyWindow:
    return dataclasses.replace(window, profile=DatasetProfile.empty(window.profile.params), n_records=3,
                               stage="labels")


def test_base_windows_merge_into_their_rollup_which_is_released_when_the_watermark_passes_its_end() -> None:
    store: dict[str, bytes] = {}
    rollups = RollupWindows(store, [FIVE_MS])
    windows = _windows(5)
    for window in windows:
        assert rollups.add(window) == []
    assert rollups.open_windows() == 1
    assert rollups.due(lambda stage: T0 + FIVE_MS - 1) == []
    assert rollups.due(lambda stage: None) == []  # a partition without a watermark yet holds them
    [first] = rollups.due(lambda stage: T0 + FIVE_MS if stage == "data" else None)
    assert (first.window_start_ms, first.window_end_ms, first.stage) == (T0, T0 + FIVE_MS, "data")
    assert first.n_records == sum(w.n_records for w in windows) == 60
    assert first.profile.features["income"].numeric.count == 60
    assert not first.partial and first.model_version == "v1"
    assert rollups.open_windows() == 0 and f"r|{FIVE_MS}|data|m|{T0}" in store  # until forget(): a crash replays it
    rollups.forget(first)
    assert not any(key.startswith("r|") for key in store)


def test_a_base_window_past_its_end_releases_a_rollup_however_releases_are_batched() -> None:
    """check releases a whole file's windows at one marker: the watermark is past every roll-up only after all of
    them were added, yet each roll-up holds its own windows, as in the worker."""
    rollups = RollupWindows({}, [FIVE_MS], max_open=1)
    windows = _windows(12)
    out = [rolled for window in windows for rolled in rollups.add(window)]
    assert [(w.window_start_ms, w.n_records, w.partial) for w in out] == [
        (T0, sum(w.n_records for w in windows[:5]), False), (T0 + FIVE_MS, sum(w.n_records for w in windows[5:10]),
                                                              False)]
    assert rollups.forced == 0 and rollups.open_windows() == 1


def test_a_base_window_given_again_counts_once_before_and_after_its_rollup_was_released() -> None:
    rollups = RollupWindows({}, [FIVE_MS])
    windows = _windows(5)
    for window in [*windows, windows[1], windows[3]]:  # a replay of the control plane releases a window again
        rollups.add(window)
    [rolled] = rollups.due(lambda stage: T0 + FIVE_MS)
    assert rolled.n_records == sum(w.n_records for w in windows)
    rollups.forget(rolled)
    assert rollups.add(windows[2]) == [] and rollups.late == 1  # never reopened
    assert rollups.open_windows() == 0


def test_the_state_lives_in_the_store_a_restart_goes_on_from_it() -> None:
    store: dict[str, bytes] = {}
    windows = _windows(5)
    first = RollupWindows(store, [FIVE_MS])
    for window in windows[:3]:
        first.add(window)
    restarted = RollupWindows(store, [FIVE_MS])  # the control plane's table recovered from its changelog
    for window in windows[1:]:  # the replay gives windows 1 and 2 again
        restarted.add(window)
    [rolled] = restarted.due(lambda stage: T0 + FIVE_MS)
    assert rolled.n_records == sum(w.n_records for w in windows)
    restarted.forget(rolled)
    again = RollupWindows(store, [FIVE_MS])  # released before the restart: the marker keeps it closed
    assert again.add(windows[0]) == [] and again.late == 1


def test_sizes_and_stages_roll_up_apart_and_a_partial_base_window_makes_a_partial_rollup() -> None:
    rollups = RollupWindows({}, [FIVE_MS, 2 * FIVE_MS])
    windows = _windows(10)
    windows[7] = dataclasses.replace(windows[7], partial=True)
    released = []
    for window in windows:
        released += rollups.add(window)  # window 5 is past the first five minutes: their roll-up goes out
        released += rollups.add(_labels(window))

    def described(released: list[ReadyWindow]) -> list[tuple[int, int, str, int, bool]]:
        return [(w.window_end_ms - w.window_start_ms, w.window_start_ms, w.stage, w.n_records, w.partial)
                for w in released]

    assert described(released) == [(FIVE_MS, T0, "data", sum(w.n_records for w in windows[:5]), False),
                                   (FIVE_MS, T0, "labels", 15, False)]
    assert described(rollups.due(lambda stage: T0 + 2 * FIVE_MS if stage == "data" else T0 + FIVE_MS)) == [
        (FIVE_MS, T0 + FIVE_MS, "data", sum(w.n_records for w in windows[5:]), True),
        (2 * FIVE_MS, T0, "data", sum(w.n_records for w in windows), True),
    ]
    assert described(rollups.flush()) == [(FIVE_MS, T0 + FIVE_MS, "labels", 15, True),
                                          (2 * FIVE_MS, T0, "labels", 30, True)]


def test_open_rollups_are_bounded_the_oldest_goes_out_partial() -> None:
    """Base windows released newest first (a partition cut off, its windows timed out one by one): each opens a
    roll-up window before the last; beyond max_open the oldest goes out, partial, and stays closed."""
    rollups = RollupWindows({}, [FIVE_MS], max_open=2)
    out = []
    for k in (2, 1, 0):
        out += rollups.add(_windows(1, first=T0 + k * FIVE_MS)[0])
    assert [(w.window_start_ms, w.n_records, w.partial) for w in out] == [(T0, 10, True)]
    assert rollups.forced == 1 and rollups.open_windows() == 2
    for window in out:
        rollups.forget(window)
    assert rollups.add(_windows(2)[1]) == [] and rollups.late == 1


def test_a_rollup_that_would_outgrow_the_store_value_limit_goes_out_at_once() -> None:
    store: dict[str, bytes] = {}
    windows = _windows(2)
    rollups = RollupWindows(store, [FIVE_MS], max_bytes=1 << 10)
    [out] = rollups.add(windows[0])
    assert (out.n_records, out.partial, rollups.forced) == (10, True, 1)
    assert not any(key.startswith("r|") for key in store)


def test_only_the_models_asked_for_roll_up() -> None:
    rollups = RollupWindows({}, [FIVE_MS], models=frozenset({"other"}))
    for window in _windows(6):
        assert rollups.add(window) == []
    assert rollups.open_windows() == 0


def test_rollup_sizes_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        RollupWindows({}, [0])
