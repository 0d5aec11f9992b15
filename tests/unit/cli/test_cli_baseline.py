"""Tests of the ``baseline`` and ``sagemaker`` CLI groups (click's CliRunner, no subprocess)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

from streamdrift.baseline.baseline import Baseline
from streamdrift.cli import main
from streamdrift.cli.baseline import parse_facet, parse_scalar
from streamdrift.dev.synthetic import NUMERIC, generate
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import BiasBaseline, FacetSpec
from streamdrift.monitors.model_quality import ModelQualityBaseline

DQ = Path(__file__).resolve().parents[2] / "fixtures" / "sagemaker" / "data_quality"


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
    # an excluded column is not a feature row, only listed with its role
    assert [line for line in shown.output.splitlines() if "_c5" in line] == [
        next(line for line in shown.output.splitlines() if "_c5" in line and "declared with --exclude" in line)]


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
        (["baseline", "build", "--input", str(DQ / "baseline_dataset.csv"), "--model-id", "m", "--output",
          "o.json", "--prediction", "_c4", "--facet", "_c0"], "expected COL=VALUE"),
        (["baseline", "build", "--input", str(DQ / "baseline_dataset.csv"), "--model-id", "m", "--output",
          "o.json", "--prediction", "_c4", "--facet", "_c0>=x"], "threshold must be a number"),
        (["baseline", "build", "--input", str(DQ / "baseline_dataset.csv"), "--model-id", "m", "--output",
          "o.json", "--clarify-analysis", "/nonexistent.json"], "cannot read"),
        (["sagemaker", "import", "--statistics", str(DQ / "statistics.json"), "--model-id", "m", "--output",
          "o.json", "--model-quality-constraints", str(DQ / "constraints.json")], "need the model-quality statistics"),
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


def test_parse_facet_and_scalar() -> None:
    assert parse_facet("gender=female") == FacetSpec("gender", values=("female",))
    assert parse_facet("grade = 1, 2") == FacetSpec("grade", values=(1, 2))
    assert parse_facet("age>=60") == FacetSpec("age", threshold=60.0)
    assert [parse_scalar(v) for v in ("1", "2.5", "yes", "TRUE", "false")] == [1, 2.5, "yes", True, False]


def test_build_monitor_sections_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    n = 2000
    batch = generate(n, np.random.default_rng(21))
    table = pa.table({**batch.features, "score": batch.score, "prediction": batch.prediction, "label": batch.label})
    pacsv.write_csv(table, tmp_path / "train.csv")
    pacsv.write_csv(pa.table(batch.attributions), tmp_path / "shap.csv")
    out = tmp_path / "b.json"
    result = runner.invoke(main, [
        "baseline", "build", "--input", str(tmp_path / "train.csv"), "--model-id", "credit", "--output", str(out),
        "--target", "label", "--prediction", "prediction", "--score", "score", "--facet", "gender=female",
        "--facet", "age>=60", "--positive-label", "1", "--attributions", str(tmp_path / "shap.csv"),
    ])
    assert result.exit_code == 0, result.output
    assert "model_quality, bias, attribution" in result.output
    built = Baseline.load(out)
    assert set(built.profile.features) == set(batch.features)
    quality = ModelQualityBaseline.from_dict(built.model_quality or {})
    assert quality.metrics["accuracy"].value == pytest.approx(float((batch.prediction == batch.label).mean()))
    female = batch.features["gender"] == "female"
    dppl = float(batch.prediction[~female].mean() - batch.prediction[female].mean())
    gender = BiasBaseline.from_dict(built.bias or {}).find(FacetSpec("gender", values=("female",)))
    assert gender is not None and gender.metrics["DPPL"].value == pytest.approx(dppl, abs=1e-12)
    attribution = AttributionBaseline.from_dict(built.attribution or {}).as_mapping()
    assert attribution == pytest.approx({k: float(np.abs(batch.attributions[k]).mean()) for k in NUMERIC})

    sm = tmp_path / "sm"
    exported = runner.invoke(main, ["sagemaker", "export", str(out), "--output-dir", str(sm)])
    assert exported.exit_code == 0, exported.output
    assert "analysis.json" in exported.output and "model_quality" in exported.output
    imported_path = tmp_path / "imp.json"
    imported = runner.invoke(main, [
        "sagemaker", "import", "--statistics", str(sm / "statistics.json"), "--constraints",
        str(sm / "constraints.json"), "--model-quality-statistics", str(sm / "model_quality" / "statistics.json"),
        "--model-quality-constraints", str(sm / "model_quality" / "constraints.json"),
        "--clarify-analysis", str(sm / "analysis.json"), "--model-id", "credit", "--output", str(imported_path),
    ])
    assert imported.exit_code == 0, imported.output
    back = Baseline.load(imported_path)
    assert ModelQualityBaseline.from_dict(back.model_quality or {}).metrics["accuracy"].value == pytest.approx(
        quality.metrics["accuracy"].value)
    back_gender = BiasBaseline.from_dict(back.bias or {}).find(FacetSpec("gender", values=("female",)))
    assert back_gender is not None and back_gender.metrics["DPPL"].value == pytest.approx(dppl, abs=1e-12)
    assert AttributionBaseline.from_dict(back.attribution or {}).as_mapping() == pytest.approx(attribution)

    rebuilt = tmp_path / "c.json"  # --clarify-analysis at build time takes the Clarify sections
    result = runner.invoke(main, ["baseline", "build", "--input", str(tmp_path / "train.csv"), "--model-id", "c",
                                  "--output", str(rebuilt), "--clarify-analysis", str(sm / "analysis.json")])
    assert result.exit_code == 0, result.output
    clarified = Baseline.load(rebuilt)
    assert clarified.model_quality is None and clarified.bias is not None
    assert AttributionBaseline.from_dict(clarified.attribution or {}).as_mapping() == pytest.approx(attribution)


@pytest.fixture()
def houses_csv(tmp_path: Path) -> Path:
    from houses import house_table

    path = tmp_path / "houses.csv"
    pacsv.write_csv(house_table(3000, seed=2), path)
    return path


def test_build_detects_roles_and_show_says_why(runner: CliRunner, houses_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    result = runner.invoke(main, ["baseline", "build", "--input", str(houses_csv), "--model-id", "h",
                                  "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "column 'event_time': timestamp" in result.output and "column 'id': id" in result.output
    built = Baseline.load(out)
    assert built.timestamp_column == "event_time" and "event_time" not in built.profile.features
    shown = runner.invoke(main, ["baseline", "show", str(out)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    id_row = next(line for line in lines if line.startswith("│ id ") and "identifier-like" in line)
    assert "UUIDs" in id_row and "3,000 rows" in id_row
    assert any("event_time" in line and "timestamp" in line and "ISO-8601" in line for line in lines)
    state_row = next(line for line in lines if line.startswith("│ state "))
    assert "no domain" in state_row and "not drift-tested" not in state_row


def test_build_role_overrides(runner: CliRunner, houses_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    result = runner.invoke(main, ["baseline", "build", "--input", str(houses_csv), "--model-id", "h", "--output",
                                  str(out), "--feature", "event_time", "--id-column", "id", "--exclude", "product"])
    assert result.exit_code == 0, result.output
    built = Baseline.load(out)
    assert "event_time" in built.profile.features and not {"id", "product"} & set(built.profile.features)
    assert {n: r.role for n, r in built.column_roles.items()} == {"event_time": "feature", "id": "id",
                                                                   "product": "excluded"}
    shown = runner.invoke(main, ["baseline", "show", str(out)])
    assert "declared with --exclude" in shown.output and "declared with --feature" in shown.output
    clash = runner.invoke(main, ["baseline", "build", "--input", str(houses_csv), "--model-id", "h", "--output",
                                 str(out), "--feature", "id", "--exclude", "id"])
    assert clash.exit_code == 2 and "error:" in clash.output and "Traceback" not in clash.output
