"""Summaries and baselines of stored windows: a baseline from a span of windows is the baseline of their rows
(exact below the KLL k), marked with its source; summaries carry the features' statistics."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from history import MINUTE_MS, flat, ready_window, rows_of

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.baseline.document import feature_summary
from streamdrift.batch.history import baseline_from_windows, summary_line
from streamdrift.columns.columns import columns_from_rows
from streamdrift.errors import BaselineError
from streamdrift.profile.profiles import ProfileParams


def test_a_baseline_from_windows_equals_the_baseline_of_their_rows(tmp_path: Path) -> None:
    chunks = [rows_of(150, seed) for seed in range(5)]
    windows = [ready_window("m", i * MINUTE_MS, rows) for i, rows in enumerate(chunks)]
    made = baseline_from_windows([*windows, windows[1]], "m", {"kind": "history", "from": "a", "to": "b"})
    made.save(tmp_path / "b.json")
    loaded = Baseline.load(tmp_path / "b.json")
    from_file = build_baseline([columns_from_rows([r for rows in chunks for r in rows])], "m",
                               params=ProfileParams(kll_k=1000))
    assert loaded.extra["source"] == {"kind": "history", "from": "a", "to": "b", "windows": 5,
                                      "partial_windows": False, "n_records": 750,
                                      "first_window_start": "1970-01-01T00:00:00.000Z",
                                      "last_window_end": "1970-01-01T00:05:00.000Z"}
    assert loaded.profile.n_records == from_file.profile.n_records == 750
    for name, fp in from_file.profile.features.items():
        assert flat(feature_summary(loaded.profile.features[name])) == pytest.approx(flat(feature_summary(fp))), name
    assert loaded.constraints.to_dict()["features"] == from_file.constraints.to_dict()["features"]


def test_no_window_no_baseline() -> None:
    with pytest.raises(BaselineError):
        baseline_from_windows([ready_window("other", 0, rows_of(10, 1))], "m", {})


def test_a_summary_line_is_json_with_each_feature() -> None:
    window = ready_window("m", 0, rows_of(80, 3))
    line = orjson.loads(summary_line(window, 4))
    assert (line["windows"], line["n_records"], line["stage"], line["window_end"]) == (
        4, 80, "data", "1970-01-01T00:01:00.000Z")
    assert line["features"]["income"]["numeric"]["count"] == 80
    assert {t["value"] for t in line["features"]["region"]["categorical"]["top"]} <= {"north", "south", "east",
                                                                                       "west", "central"}
