from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from click.testing import CliRunner

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.baseline.sagemaker import read_constraint_violations
from streamdrift.batch.check import CheckOptions, parse_duration_ms, run_check, window_dir_name
from streamdrift.cli import main
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.errors import ConfigError
from streamdrift.events.events import DriftEvent, rfc3339

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ROWS_PER_HOUR = 1_500
SHIFTED_HOUR = 2  # of hours 0..3


def _features(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        "income": rng.lognormal(10.0 + shift, 0.5, n),
        "age": rng.normal(40.0, 10.0, n).round(1),
        "score": rng.uniform(0.0, 1.0, n),
        "segment": np.array(["retail", "sme", "corp"])[rng.choice(3, n, p=[0.6, 0.3, 0.1])],
    }


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    rng = np.random.default_rng(7)
    return build_baseline([columns_from_arrow(pa.table(_features(rng, 30_000)))], "credit")


def _hours(seed: int) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Four hours of rows; hour SHIFTED_HOUR has income shifted by 0.5 sigma (log scale)."""
    rng = np.random.default_rng(seed)
    out = []
    for hour in range(4):
        ms = int((T0 + timedelta(hours=hour)).timestamp() * 1000)
        stamps = ms + np.sort(rng.integers(0, 3_600_000, ROWS_PER_HOUR))
        out.append((stamps, _features(rng, ROWS_PER_HOUR, 0.25 if hour == SHIFTED_HOUR else 0.0)))
    return out


def _write_csv(path: Path, seed: int) -> Path:
    lines = ["ts,income,age,score,segment"]
    for stamps, feats in _hours(seed):
        for i in range(stamps.size):
            numbers = ",".join(repr(float(feats[k][i])) for k in ("income", "age", "score"))
            lines.append(f"{stamps[i]},{numbers},{feats['segment'][i]}")
        lines.append("not,a,valid,row")  # wrong cell count is fine for pyarrow: 4 cells vs 5 -> bad row
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_capture(path: Path, seed: int) -> Path:
    with path.open("wb") as fh:
        for stamps, feats in _hours(seed):
            for i in range(stamps.size):
                record = {
                    "model_id": "credit", "inference_id": f"r{stamps[i]}-{i}",
                    "timestamp": rfc3339(datetime.fromtimestamp(stamps[i] / 1000, tz=UTC)),
                    "features": {k: v[i].item() for k, v in feats.items()}, "prediction": 0.5,
                }
                fh.write(orjson.dumps(record) + b"\n")
        fh.write(b"{not json\n")
    return path


def _assert_only_shifted_hour(report_windows: list[tuple[datetime, set[tuple[str, str | None]]]]) -> None:
    assert [start for start, _ in report_windows] == [T0 + timedelta(hours=h) for h in range(4)]
    for hour, (_, checks) in enumerate(report_windows):
        if hour == SHIFTED_HOUR:
            assert ("baseline_drift_check", "income") in checks
        else:
            assert checks == set(), (hour, checks)


def test_check_csv_time_windows(tmp_path: Path, baseline: Baseline) -> None:
    data = _write_csv(tmp_path / "in.csv", seed=11)
    out = tmp_path / "out"
    report = run_check(data, baseline, out, CheckOptions(window_ms=parse_duration_ms("1h"), timestamp_column="ts",
                                                         chunk_rows=1_000))
    _assert_only_shifted_hour([(w.start, {(v.check, v.feature) for v in w.evaluation.violations})
                               for w in report.windows])
    assert report.n_rows == 4 * ROWS_PER_HOUR and report.n_bad == 4
    assert all(b.reason == "wrong_column_count" for b in report.bad_lines)
    events = [DriftEvent.from_json(line) for line in report.events_path.read_bytes().splitlines()]
    assert [(e.feature, e.status) for e in events if e.check == "baseline_drift_check"] == [
        ("income", "raised"), ("income", "cleared")]
    raised = events[0]
    assert raised.window_start == "2026-03-01T02:00:00.000Z" and raised.window_end == "2026-03-01T03:00:00.000Z"
    assert raised.baseline_id == baseline.baseline_id and raised.n_window == ROWS_PER_HOUR
    shifted_dir = out / window_dir_name(T0 + timedelta(hours=SHIFTED_HOUR), 0, False)
    sm = read_constraint_violations(shifted_dir / "constraint_violations.json")
    assert [(v.feature_name, v.constraint_check_type) for v in sm] == [("income", "baseline_drift_check")]
    assert read_constraint_violations(out / window_dir_name(T0, 0, False) / "constraint_violations.json") == []
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["rows"] == 4 * ROWS_PER_HOUR and len(summary["windows"]) == 4


def test_check_capture_jsonl_and_late_rows(tmp_path: Path, baseline: Baseline) -> None:
    data = _write_capture(tmp_path / "capture.jsonl", seed=12)
    late = {"model_id": "credit", "inference_id": "late", "timestamp": T0.isoformat(),
            "features": {"income": 1.0, "age": 1.0, "score": 0.1, "segment": "sme"}, "prediction": 0.1}
    with data.open("ab") as fh:
        fh.write(orjson.dumps(late) + b"\n")
    # the capture's prediction is not a baseline feature here: leave it out (else extra_column_check)
    report = run_check(data, baseline, tmp_path / "out",
                       CheckOptions(window_ms=3_600_000, chunk_rows=500, exclude=("prediction",)))
    _assert_only_shifted_hour([(w.start, {(v.check, v.feature) for v in w.evaluation.violations})
                               for w in report.windows])
    assert sorted(b.reason for b in report.bad_lines) == ["invalid_json", "late"]
    late_line = next(b for b in report.bad_lines if b.reason == "late")
    assert late_line.line_number == 4 * ROWS_PER_HOUR + 2


def test_check_record_windows(tmp_path: Path, baseline: Baseline) -> None:
    data = _write_csv(tmp_path / "in.csv", seed=13)
    report = run_check(data, baseline, tmp_path / "out",
                       CheckOptions(window_records=ROWS_PER_HOUR, timestamp_column="ts", chunk_rows=700))
    assert [w.n_records for w in report.windows] == [ROWS_PER_HOUR] * 4
    drifted = [bool(w.evaluation.drifted) for w in report.windows]
    assert drifted == [h == SHIFTED_HOUR for h in range(4)]
    assert report.windows[0].start >= T0 and report.windows[0].end < T0 + timedelta(hours=1)


def test_cli_check_fails_on_violation(tmp_path: Path, baseline: Baseline) -> None:
    baseline_path = baseline.save(tmp_path / "baseline.json")
    data = _write_csv(tmp_path / "in.csv", seed=14)
    args = ["check", "--baseline", str(baseline_path), "--input", str(data), "--timestamp-column", "ts",
            "--window", "1h", "--output", str(tmp_path / "out")]
    runner = CliRunner()
    ok = runner.invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "streamdrift check: 4 windows" in ok.output and "income" in ok.output
    failed = runner.invoke(main, [*args, "--fail-on-violation", "--quiet"])
    assert failed.exit_code == 1
    bad = runner.invoke(main, [*args[:-2], "--window", "1 fortnight", "--output", str(tmp_path / "o2")])
    assert bad.exit_code == 2 and "invalid duration" in bad.output
    labels = runner.invoke(main, [*args, "--labels", str(data)])  # this baseline has no model_quality section
    assert labels.exit_code == 2 and "model_quality" in labels.output


def test_options_and_durations() -> None:
    assert parse_duration_ms("15m") == 900_000 and parse_duration_ms("1.5h") == 5_400_000
    assert parse_duration_ms("250ms") == 250
    with pytest.raises(ConfigError):
        parse_duration_ms("0s")
    with pytest.raises(ConfigError):
        CheckOptions()
    with pytest.raises(ConfigError):
        CheckOptions(window_ms=1000, window_records=10)
    assert window_dir_name(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), 7, True) == "records-00000007-20260102T030405006Z"
