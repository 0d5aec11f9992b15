"""`baseline build --segment-by` and `streamdrift check` with segments, end to end through the CLI: a shift in one
region raises that region's events (schema 1.1, with ``segment``) and each window has per-segment
constraint_violations files."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import numpy as np
import orjson
from click.testing import CliRunner
from segmented_traffic import capture_lines, segmented, write_lines

from streamdrift.baseline.baseline import Baseline
from streamdrift.cli import main

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "drift_event.schema.json"


def test_check_raises_the_segment_and_writes_per_segment_files(tmp_path: Path) -> None:
    runner = CliRunner()
    train = write_lines(tmp_path / "train.jsonl", capture_lines(segmented(np.random.default_rng(1), 20_000, 5),
                                                               "m", 0, "t"))
    built = runner.invoke(main, ["baseline", "build", "--input", str(train), "--model-id", "m", "--output",
                                 str(tmp_path / "b.json"), "--segment-by", "region"])
    assert built.exit_code == 0, built.output
    baseline = Baseline.load(tmp_path / "b.json")
    assert baseline.segments is not None and baseline.segments["by"] == ["region"]
    lines: list[bytes] = []
    for hour in range(3):  # hour 1: region r02 (a fifth of the traffic) moves by half a standard deviation
        data = segmented(np.random.default_rng(10 + hour), 5_000, 5, shifted="r02" if hour == 1 else None,
                         shift_sd=0.5)
        lines += capture_lines(data, "m", hour, "w")
    capture = write_lines(tmp_path / "capture.jsonl", lines)
    out = tmp_path / "out"
    ran = runner.invoke(main, ["check", "--baseline", str(tmp_path / "b.json"), "--input", str(capture),
                               "--output", str(out), "--window", "1h"])
    assert ran.exit_code == 0, ran.output
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    segment_events = [(e["status"], e["segment"], e["feature"], e["window_start"][11:13]) for e in events
                      if "segment" in e]
    assert segment_events == [("raised", "r02", "x0", "01"), ("cleared", "r02", "x0", "02")]
    validator = jsonschema.Draft202012Validator(orjson.loads(SCHEMA.read_bytes()),
                                                format_checker=jsonschema.FormatChecker())
    for event in events:
        validator.validate(event)
        assert event["schema_version"] == ("1.1" if "segment" in event else "1")
    windows = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(windows) == 3
    drifted = orjson.loads((out / windows[1] / "segments" / "r02" / "constraint_violations.json").read_bytes())
    assert [(v["feature_name"], v["segment"]) for v in drifted["violations"]] == [("x0", "r02")]
    calm = orjson.loads((out / windows[1] / "segments" / "r00" / "constraint_violations.json").read_bytes())
    assert calm == {"violations": []}
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert "r02" in orjson.dumps(summary).decode()


def test_segment_buckets_need_segment_by(tmp_path: Path) -> None:
    train = write_lines(tmp_path / "t.jsonl", capture_lines(segmented(np.random.default_rng(1), 50, 2), "m", 0, "t"))
    result = CliRunner().invoke(main, ["baseline", "build", "--input", str(train), "--model-id", "m", "--output",
                                       str(tmp_path / "b.json"), "--segment-buckets", "x0=0,1"])
    assert result.exit_code == 2 and "--segment-by" in result.output
