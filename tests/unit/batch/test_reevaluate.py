"""Re-evaluation of stored windows: the events of the live judge for the same windows, baseline and rules (the
same ids), written like ``check``; a window stored twice or another model's window changes nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
from history import MINUTE_MS, ready_window, rows_of

from streamdrift.baseline.baseline import build_baseline
from streamdrift.batch.check import events_of
from streamdrift.batch.reevaluate import reevaluate
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.synthetic import Scenario
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.monitors.registry import monitors_for
from streamdrift.settings import Settings
from streamdrift.window.stored import decode_stored, encode_stored

SCENARIOS = [Scenario.NORMAL, Scenario.NORMAL, Scenario.SHIFTED_INCOME, Scenario.NEW_REGION, Scenario.NORMAL,
             Scenario.NORMAL, Scenario.NORMAL]
START = 29_000_000 * MINUTE_MS


def _fields(event: bytes) -> dict[str, object]:
    """An event's fields but the wall-clock time it was made."""
    data = orjson.loads(event)
    data.pop("detected_at")
    return dict(data)


def test_reevaluation_gives_the_live_events_and_writes_like_check(tmp_path: Path) -> None:
    baseline = build_baseline([columns_from_rows(rows_of(4000, seed=100))], "credit")
    config = Settings().monitor_config()
    windows = [ready_window("credit", START + i * MINUTE_MS, rows_of(600, seed=i, scenario=s))
               for i, s in enumerate(SCENARIOS)]
    live = WindowJudge(Hysteresis(1, 2))
    monitors = monitors_for(baseline, config)
    live_events = [e for w in windows for e in live.judge(w, monitors).events]
    assert {e.status for e in live_events} == {"raised", "cleared"}, live_events

    stored = [decode_stored(encode_stored(w, baseline.baseline_id), offset=i) for i, w in enumerate(windows)]
    other = decode_stored(encode_stored(ready_window("other", START, rows_of(600, 7, Scenario.SHIFTED_INCOME)), None))
    given = [stored[0], other, *stored[:3], *stored[3:], stored[-1]]  # replays and another model's window
    report = reevaluate(given, baseline, tmp_path / "out", config=config, raise_after=1, clear_after=2)

    expected = [_fields(e.to_json()) for e in live_events]
    assert [_fields(e.to_json()) for e in events_of(report)] == expected
    assert [_fields(line) for line in (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()] == expected
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert len(summary["windows"]) == len(windows) and summary["rows"] == 600 * len(windows)
    for w in summary["windows"]:
        assert (tmp_path / "out" / w["violations_file"]).is_file()
    assert summary["violations"] == sum(len(w.evaluation.violations) for w in report.windows) > 0


def test_another_baseline_judges_the_same_windows_differently(tmp_path: Path) -> None:
    """A baseline of shifted data: the windows that drifted live are the clean ones now, and the other way round."""
    config = Settings().monitor_config()
    windows = [decode_stored(encode_stored(ready_window("credit", START + i * MINUTE_MS, rows_of(600, i, s)), None))
               for i, s in enumerate(SCENARIOS)]
    normal = build_baseline([columns_from_rows(rows_of(4000, seed=100))], "credit")
    shifted = build_baseline([columns_from_rows(rows_of(4000, 101, Scenario.SHIFTED_INCOME))], "credit")
    a = reevaluate(windows, normal, tmp_path / "a", config=config)
    b = reevaluate(windows, shifted, tmp_path / "b", config=config)

    def drifted(report: object) -> list[bool]:
        return [any(r.feature == "income" for r in w.evaluation.drifted) for w in report.windows]  # type: ignore[attr-defined]

    assert drifted(a) == [False, False, True, False, False, False, False]
    assert drifted(b)[2] is False and sum(drifted(b)) >= 5
