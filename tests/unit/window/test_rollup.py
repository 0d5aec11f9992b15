"""Roll-ups of stored windows: the merge of a day of windows is the profile of the day's rows (exact below the
KLL k), a window given twice counts once, stages and days stay apart."""

from __future__ import annotations

import numpy as np
import pytest
from history import MINUTE_MS, ready_window, rows_of

from streamdrift.columns.columns import columns_from_rows
from streamdrift.errors import MergeError
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.rollup import RollUp

DAY_MS = 86_400_000


def _labels(window: ReadyWindow) -> ReadyWindow:
    return ReadyWindow(model_id=window.model_id, model_version=None, window_start_ms=window.window_start_ms,
                       window_end_ms=window.window_end_ms, profile=DatasetProfile.empty(window.profile.params),
                       n_records=0, partial=False, partitions_closed=frozenset({0}), first_seen_ms=0,
                       stage="labels")


def test_a_day_of_windows_merges_into_the_profile_of_its_rows() -> None:
    day = 20_000 * DAY_MS
    all_rows: list[dict[str, object]] = []
    windows = []
    for i in range(6):
        rows = rows_of(40 + i, seed=i)
        all_rows += rows
        windows.append(ready_window("m", day + i * 4 * 3_600_000, rows))
    windows.append(ready_window("m", day + DAY_MS + MINUTE_MS, rows_of(30, seed=99)))  # the next day
    rolled = RollUp(DAY_MS).add_all([*windows, windows[2], windows[2]])
    assert rolled.duplicates == 2
    result = rolled.result()
    assert [(w.window_start_ms, w.window_end_ms, n, w.stage) for w, n in result] == [
        (day, day + DAY_MS, 6, "data"), (day + DAY_MS, day + 2 * DAY_MS, 1, "data")]
    merged = result[0][0]
    expected = DatasetProfile.empty(ProfileParams(kll_k=1000))
    expected.update(columns_from_rows(all_rows))
    assert merged.n_records == len(all_rows)
    assert sorted(merged.profile.features) == sorted(expected.features)
    for name, fp in expected.features.items():
        got = merged.profile.features[name]
        assert (got.n_present, got.n_missing) == (fp.n_present, fp.n_missing), name
        if fp.numeric.count:
            assert got.numeric.count == fp.numeric.count
            assert got.numeric.mean == pytest.approx(fp.numeric.mean, rel=1e-12)
            qs = np.array([0.1, 0.5, 0.9])  # under the k of 1,000 values both sketches hold every value
            assert np.array_equal(got.numeric.kll.quantiles(qs), fp.numeric.kll.quantiles(qs)), name
        if fp.categorical.count:
            assert got.categorical.frequencies() == fp.categorical.frequencies(), name


def test_stages_roll_up_apart_and_the_whole_span_is_one_window() -> None:
    a = ready_window("m", 10 * MINUTE_MS, rows_of(20, 1))
    b = ready_window("m", 11 * MINUTE_MS, rows_of(25, 2), partial=True)
    rolled = RollUp(None).add_all([a, _labels(a), b, _labels(b)])
    [(data, n_data), (labels, n_labels)] = rolled.result()
    assert (data.stage, n_data, data.n_records, data.partial) == ("data", 2, 45, True)
    assert (data.window_start_ms, data.window_end_ms) == (10 * MINUTE_MS, 12 * MINUTE_MS)
    assert (labels.stage, n_labels, labels.n_records) == ("labels", 2, 0)


def test_another_model_or_other_sketch_parameters_do_not_merge() -> None:
    rolled = RollUp(None)
    rolled.add(ready_window("m", 0, rows_of(10, 1)))
    with pytest.raises(MergeError):
        rolled.add(ready_window("other", MINUTE_MS, rows_of(10, 2)))
    with pytest.raises(MergeError):
        rolled.add(ready_window("m", MINUTE_MS, rows_of(10, 3), kll_k=200))
    with pytest.raises(MergeError):
        RollUp(0)
