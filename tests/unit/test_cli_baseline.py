"""Tests of the ``baseline`` and ``sagemaker`` CLI groups (click's CliRunner, no subprocess)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streamdrift.baseline import Baseline
from streamdrift.cli import main

DQ = Path(__file__).resolve().parents[1] / "fixtures" / "sagemaker" / "data_quality"


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200"})


def _build(runner: CliRunner, out: Path, *extra: str) -> Baseline:
    result = runner.invoke(main, ["baseline", "build", "--input", str(DQ / "baseline_dataset.csv"),
                                  "--model-id", "dq", "--output", str(out), *extra])
    assert result.exit_code == 0, result.output
    return Baseline.load(out)


def test_build_and_show(runner: CliRunner, tmp_path: Path) -> None:
    baseline = _build(runner, tmp_path / "b.json", "--exclude", "_c5", "--target", "_c4", "--kll-k", "128")
    assert sorted(baseline.profile.features) == ["_c0", "_c1", "_c2", "_c3"]
    assert baseline.target == "_c4" and baseline.profile.params.kll_k == 128
    shown = runner.invoke(main, ["baseline", "show", str(tmp_path / "b.json")])
    assert shown.exit_code == 0, shown.output
    assert "_c3" in shown.output and "Fractional" in shown.output and baseline.baseline_id in shown.output
    assert "_c5" not in shown.output


def test_build_no_header_treats_first_row_as_data(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,b\nx,1\ny,2\n")
    out = tmp_path / "b.json"
    assert runner.invoke(main, ["baseline", "build", "--input", str(data), "--model-id", "m", "--output",
                                str(out), "--no-header"]).exit_code == 0
    assert Baseline.load(out).profile.n_records == 3
    assert runner.invoke(main, ["baseline", "build", "--input", str(data), "--model-id", "m", "--output",
                                str(out)]).exit_code == 0
    assert Baseline.load(out).profile.n_records == 2


def test_sagemaker_export_and_import(runner: CliRunner, tmp_path: Path) -> None:
    _build(runner, tmp_path / "b.json")
    out_dir = tmp_path / "sm"
    result = runner.invoke(main, ["sagemaker", "export", str(tmp_path / "b.json"), "--output-dir", str(out_dir)])
    assert result.exit_code == 0, result.output
    assert orjson.loads((out_dir / "constraints.json").read_bytes()) == orjson.loads(
        (DQ / "constraints.json").read_bytes())
    stats = orjson.loads((out_dir / "statistics.json").read_bytes())
    assert stats["dataset"]["item_count"] == 100
    result = runner.invoke(main, ["sagemaker", "import", "--statistics", str(DQ / "statistics.json"),
                                  "--constraints", str(DQ / "constraints.json"), "--model-id", "imp",
                                  "--output", str(tmp_path / "imp.json")])
    assert result.exit_code == 0, result.output
    imported = Baseline.load(tmp_path / "imp.json")
    assert imported.model_id == "imp" and imported.constraints.source == "sagemaker"
    assert imported.profile.n_records == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["baseline", "build", "--input", "/nonexistent.csv", "--model-id", "m", "--output", "o.json"], "not found"),
        (["baseline", "show", "/nonexistent.json"], "cannot read baseline"),
        (["baseline", "build", "--input", str(DQ / "baseline_dataset.csv"), "--model-id", "m", "--output",
          "o.json", "--target", "label"], "label"),
        (["sagemaker", "import", "--statistics", str(DQ / "constraint_violations.json"), "--model-id", "m",
          "--output", "o.json"], "statistics.json"),
        (["sagemaker", "export", "/nonexistent.json", "--output-dir", "x"], "cannot read baseline"),
    ],
)
def test_errors_exit_2_without_traceback(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_group_lists_lazy_subcommands(runner: CliRunner) -> None:
    result = runner.invoke(main, ["baseline", "--help"])
    assert result.exit_code == 0
    assert "build" in result.output and "show" in result.output
    has_publish = importlib.util.find_spec("streamdrift.cli.baseline_publish") is not None
    assert ("publish" in result.output) is has_publish
