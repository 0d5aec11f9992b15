"""The API's results equal the CLI's on the same data: ``Baseline.build`` on a DataFrame vs ``streamdrift baseline
build`` on its CSV, and ``check`` on a pandas / polars DataFrame, a pyarrow Table, a RecordBatchReader, an
iterator of frames and the path vs ``streamdrift check`` on the CSV.

Sketches are exact here (baseline rows below the baseline KLL k of 2,048, windows below the window k of 1,000;
the frequent-items and distinct-count sketches are exact at these sizes), so the figures must agree exactly,
not within a tolerance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from frames import credit_hours, credit_table

import streamdrift as sd
from streamdrift.cli import main
from streamdrift.dev.synthetic import Scenario

HOURS = (Scenario.NORMAL, Scenario.SHIFTED_INCOME, Scenario.LABEL_FLIP, Scenario.NORMAL)
ROWS_PER_HOUR = 400
VOLATILE_BASELINE = ("baseline_id", "created_at")
VOLATILE_EVENT = ("detected_at",)


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output


def _document(baseline: sd.Baseline) -> dict[str, Any]:
    doc = baseline.to_dict()
    return {k: v for k, v in doc.items() if k not in VOLATILE_BASELINE}


def _events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in VOLATILE_EVENT} for e in rows]


def _same(api: object, cli: object, where: str = "") -> None:
    """Equal, floats to 1e-12 relative: a sum over rows (log loss) rounds differently when the rows come in
    chunks of another size (333-row record batches vs the CSV reader's 50,000)."""
    if isinstance(cli, dict):
        assert isinstance(api, dict) and api.keys() == cli.keys(), where
        for key in cli:
            _same(api[key], cli[key], f"{where}.{key}")
    elif isinstance(cli, list):
        assert isinstance(api, list) and len(api) == len(cli), where
        for i, (a, c) in enumerate(zip(api, cli, strict=True)):
            _same(a, c, f"{where}[{i}]")
    elif isinstance(cli, float) and isinstance(api, float):
        assert api == pytest.approx(cli, rel=1e-12, abs=1e-15), where
    else:
        assert api == cli, where


def _windows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for w in summary["windows"]:
        evaluation = {k: v for k, v in w["evaluation"].items() if k != "elapsed_seconds"}
        out.append({**{k: v for k, v in w.items() if k not in ("events", "evaluation")}, "evaluation": evaluation})
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("parity")
    reference = credit_table(2000, seed=11)
    current = credit_hours(HOURS, ROWS_PER_HOUR, seed=21)
    paths = {"reference": tmp / "reference.csv", "current": tmp / "current.csv", "baseline": tmp / "cli.json",
             "out": tmp / "cli-check"}
    reference.to_pandas().to_csv(paths["reference"], index=False)
    current.to_pandas().to_csv(paths["current"], index=False)
    _cli("baseline", "build", "--input", str(paths["reference"]), "--model-id", "credit", "--target", "label",
         "--prediction", "prediction", "--score", "score", "--id-column", "id", "--facet", "gender=female",
         "--output", str(paths["baseline"]))
    _cli("check", "--baseline", str(paths["baseline"]), "--input", str(paths["current"]), "--window", "1h",
         "--id-column", "id", "--output", str(paths["out"]), "--quiet")
    return paths


def _built(data: object) -> sd.Baseline:
    return sd.Baseline.build(data, model_id="credit", target="label", prediction="prediction", score="score",
                             id_column="id", facets={"gender": "female"})


@pytest.mark.parametrize("kind", ["pandas", "arrow", "path"])
def test_baseline_build_equals_the_cli(files: dict[str, Path], kind: str, tmp_path: Path) -> None:
    """The documents written to disk are equal but for the baseline id and creation time (a loaded sketch
    serializes differently from a fresh one, so both sides go through a file)."""
    cli = sd.Baseline.load(files["baseline"])
    frame = pd.read_csv(files["reference"])
    data = {"pandas": frame, "arrow": pa.Table.from_pandas(frame), "path": files["reference"]}[kind]
    api = sd.Baseline.load(_built(data).save(tmp_path / "api.json"))
    assert cli.document.model_quality is not None and cli.document.bias is not None
    assert _document(api) == _document(cli)


def _current(files: dict[str, Path], kind: str) -> object:
    frame = pd.read_csv(files["current"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    hours = [frame.iloc[i: i + 250] for i in range(0, len(frame), 250)]  # frames that do not align with hours
    return {
        "pandas": frame, "polars": pl.from_pandas(frame), "arrow": table,
        "reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=333)),
        "frames": iter(hours), "path": files["current"], "str": str(files["current"]),
    }[kind]


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "reader", "frames", "path", "str"])
def test_check_equals_the_cli(files: dict[str, Path], kind: str) -> None:
    result = sd.check(_current(files, kind), files["baseline"], window="1h", id_column="id")
    cli_summary = orjson.loads((files["out"] / "summary.json").read_bytes())
    cli_events = [orjson.loads(line) for line in (files["out"] / "events.jsonl").read_bytes().splitlines()]
    assert len(cli_summary["windows"]) == len(HOURS)
    assert {e["check"] for e in cli_events} >= {"baseline_drift_check"}
    assert {e["monitor"] for e in cli_events} >= {"data_quality", "model_quality"}
    _same(_events(result.events.to_pylist()), _events(cli_events))
    _same(_windows(result.summary), _windows(cli_summary))
    assert result.summary["labels"] == cli_summary["labels"]
    assert result.passed is (cli_summary["violations"] == 0) is False
