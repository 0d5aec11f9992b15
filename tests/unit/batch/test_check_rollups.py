"""``check --rollup`` (and ``window.rollups`` of ``--config``): roll-up windows merged from the windows, judged
like the worker judges them. A slow drift, under the threshold in every one-minute window, raises in the
ten-minute roll-up, whose events carry ``window_seconds``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.batch.check import CheckOptions, events_of, run_check
from streamdrift.cli import main
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.errors import ConfigError

T0 = 1_772_323_200_000  # 2026-03-01T00:00Z
MINUTE_MS = 60_000
WINDOWS = 10
PER_WINDOW = 60  # below the window KLL k: exact sketches, so the figures are deterministic


def _features(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"income": rng.lognormal(10.0 + shift, 0.5, n), "age": rng.normal(40.0, 10.0, n).round(1),
            "segment": np.array(["retail", "sme", "corp"])[rng.choice(3, n, p=[0.6, 0.3, 0.1])]}


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_arrow(pa.table(_features(np.random.default_rng(7), 20_000)))], "credit")


def _slow_drift(path: Path) -> Path:
    """Ten one-minute windows whose log-income creeps up from 0.16 to 0.23 standard deviations."""
    rng = np.random.default_rng(6)
    lines = ["ts,income,age,segment"]
    for w in range(WINDOWS):
        f = _features(rng, PER_WINDOW, 0.08 + 0.004 * w)
        stamps = T0 + w * MINUTE_MS + np.sort(rng.integers(0, MINUTE_MS - 1000, PER_WINDOW))
        lines += [f"{stamps[i]},{float(f['income'][i])!r},{float(f['age'][i])!r},{f['segment'][i]}"
                  for i in range(PER_WINDOW)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_slow_drift_under_the_threshold_per_window_raises_in_the_rollup(baseline: Baseline, tmp_path: Path) -> None:
    source = _slow_drift(tmp_path / "in.csv")
    report = run_check(source, baseline, tmp_path / "out", CheckOptions(
        window_ms=MINUTE_MS, timestamp_column="ts", rollups_ms=(10 * MINUTE_MS,)))
    assert len(report.windows) == WINDOWS
    income = [next(r for r in w.evaluation.results if r.feature == "income") for w in report.windows]
    assert all(r.value < r.threshold for r in income)  # no window sees it
    assert not any(e for w in report.windows for e in w.events)
    [rolled] = report.rollups
    assert (rolled.window_seconds, rolled.n_records, rolled.partial, rolled.stage) == (600, 600, False, "data")
    assert rolled.drifted_features == ["income"]
    [event] = rolled.events
    assert (event.check, event.feature, event.status, event.window_seconds, event.schema_version) == (
        "baseline_drift_check", "income", "raised", 600, "1.2")
    assert event.value is not None and event.threshold is not None and event.value > 1.2 * event.threshold
    assert events_of(report) == [event]
    written = [orjson.loads(line) for line in report.events_path.read_bytes().splitlines()]
    assert [e["event_id"] for e in written] == [event.event_id]
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert summary["rollups"] == [{"window_seconds": 600, "start": "2026-03-01T00:00:00+00:00",
                                   "end": "2026-03-01T00:10:00+00:00", "stage": "data", "records": 600,
                                   "partial": False, "drifted_features": ["income"], "events": [event.event_id]}]


def test_the_cli_flag_and_the_settings_file_give_the_same_rollups(baseline: Baseline, tmp_path: Path) -> None:
    source = _slow_drift(tmp_path / "in.csv")
    (tmp_path / "b.json").write_bytes(baseline.to_json())
    common = ["check", "--baseline", str(tmp_path / "b.json"), "--input", str(source), "--timestamp-column", "ts",
              "--quiet"]
    flag = CliRunner().invoke(main, [*common, "--window", "1m", "--rollup", "10m", "--output", str(tmp_path / "a")])
    assert flag.exit_code == 0, flag.output
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump({"window": {"size": "1m", "lateness": "1m", "rollups": ["10m"]}}))
    configured = CliRunner().invoke(main, [*common, "--config", str(config), "--output", str(tmp_path / "b")])
    assert configured.exit_code == 0, configured.output
    a, b = ((tmp_path / d / "events.jsonl").read_bytes().splitlines() for d in ("a", "b"))
    assert [orjson.loads(x)["event_id"] for x in a] == [orjson.loads(x)["event_id"] for x in b] != []
    bad = CliRunner().invoke(main, [*common, "--window", "1m", "--rollup", "90s", "--output", str(tmp_path / "c")])
    assert bad.exit_code != 0 and "multiple" in bad.output


def test_rollups_need_time_windows() -> None:
    with pytest.raises(ConfigError):
        CheckOptions(window_records=100, rollups_ms=(600_000,))
    with pytest.raises(ConfigError):
        CheckOptions(window_ms=MINUTE_MS, rollups_ms=(MINUTE_MS,))
