"""``streamdrift.check`` and its ``CheckResult``: the tables, the gate, the report, labels and output files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from frames import T0, credit_hours, credit_table, labels_of

import streamdrift as sd
from streamdrift.dev.synthetic import Scenario
from streamdrift.errors import ConfigError

HOURS = (Scenario.NORMAL, Scenario.SHIFTED_INCOME, Scenario.LABEL_FLIP)
N = 600
SHIFTED, FLIPPED = 1, 2


@pytest.fixture(scope="module")
def baseline() -> sd.Baseline:
    return sd.Baseline.build(credit_table(4000, seed=3), model_id="credit", target="label",
                             prediction="prediction", score="score", id_column="id")


@pytest.fixture(scope="module")
def current() -> pa.Table:
    return credit_hours(HOURS, N, seed=40)


@pytest.fixture(scope="module")
def result(baseline: sd.Baseline, current: pa.Table) -> sd.CheckResult:
    return sd.check(current.to_pandas(), baseline, window="1h", id_column="id")


def test_windows_table(result: sd.CheckResult) -> None:
    windows = result.windows.to_pandas()
    assert windows["records"].tolist() == [N] * len(HOURS)
    assert windows["start"].tolist() == [pd.Timestamp(T0 + timedelta(hours=h)) for h in range(len(HOURS))]
    assert "income" in windows["drifted_features"][SHIFTED].tolist()
    assert windows["drifted_features"][0].tolist() == []
    assert windows["passed"].tolist() == [True, False, False]
    assert result.passed is False and result.n_rows == N * len(HOURS)


def test_statistics_per_window_and_feature(result: sd.CheckResult, current: pa.Table) -> None:
    stats = result.statistics.to_pandas()
    income = stats[stats["feature"] == "income"].reset_index(drop=True)
    assert len(income) == len(HOURS)
    hours = np.asarray(current.column("income")).reshape(len(HOURS), N)
    assert income["mean"].tolist() == pytest.approx(hours.mean(axis=1).tolist(), rel=1e-9)
    assert income["max"].tolist() == hours.max(axis=1).tolist()
    assert income["drifted"].tolist() == [False, True, False]
    assert (income["value"] > income["threshold"]).tolist() == income["drifted"].tolist()
    features = set(stats["feature"])
    assert {"income", "age", "region"} <= features and "label" not in features and "id" not in features


def test_violations_and_events(result: sd.CheckResult) -> None:
    violations = result.violations.to_pandas()
    assert len(violations) == result.summary["violations"]
    by_window = violations.groupby(violations["window_start"].dt.hour)["monitor"].agg(set).to_dict()
    assert by_window[SHIFTED] == {"data_quality"}
    assert "model_quality" in by_window[FLIPPED]
    events = result.events.to_pandas()
    raised = events[events["status"] == "raised"]
    assert ("data_quality", "income") in set(zip(raised["monitor"], raised["feature"], strict=True))
    assert set(events["event_id"]) == {e.event_id for e in result.drift_events}


def test_the_gate(result: sd.CheckResult, baseline: sd.Baseline) -> None:
    with pytest.raises(sd.DriftDetected, match=r"baseline_drift_check\(income\)") as caught:
        result.raise_for_drift()
    assert caught.value.result is result
    clean = sd.check(credit_table(N, seed=77), baseline, window_records=N)
    assert clean.passed and clean.raise_for_drift() is clean


def test_report_and_notebook_views(result: sd.CheckResult, tmp_path: Path) -> None:
    page = result.report().html
    assert page.startswith("<!DOCTYPE html>") and 'id="f-income"' in page and "<svg" in page
    assert "<script" not in page and 'src="http' not in page and 'href="http' not in page
    saved = result.save_html(tmp_path / "report.html")
    assert saved.read_text(encoding="utf-8") == page
    assert result.report(max_windows=1).html.count('class="window"') == 1
    view = result._repr_html_()
    assert "<iframe" in view and "srcdoc=" in view and "<script" not in view
    assert "drift / violations found" in view


def test_output_dir_keeps_the_cli_files(baseline: sd.Baseline, current: pa.Table, tmp_path: Path) -> None:
    kept = sd.check(current, baseline, window=timedelta(hours=1), id_column="id", output_dir=tmp_path / "out")
    assert kept.output_dir == tmp_path / "out"
    assert orjson.loads((tmp_path / "out" / "summary.json").read_bytes())["windows"] == kept.summary["windows"]
    lines = (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["event_id"] for line in lines] == kept.events.column("event_id").to_pylist()


def test_labels_as_a_table_equal_labels_as_a_file(baseline: sd.Baseline, current: pa.Table,
                                                  tmp_path: Path) -> None:
    unlabelled = current.drop_columns(["label"])
    pq.write_table(labels_of(current), tmp_path / "labels.parquet")
    from_file = sd.check(unlabelled, baseline, window="1h", id_column="id", labels=tmp_path / "labels.parquet")
    from_frame = sd.check(unlabelled.to_pandas(), baseline, window="1h", id_column="id",
                          labels=labels_of(current).to_pandas())
    assert from_frame.summary["labels"] == from_file.summary["labels"]
    assert from_frame.summary["labels"]["matched"] == N * len(HOURS)
    assert from_frame.events.drop_columns(["detected_at"]).equals(from_file.events.drop_columns(["detected_at"]))
    assert "model_quality" in set(from_frame.violations.column("monitor").to_pylist())


def test_bad_window_options(baseline: sd.Baseline, current: pa.Table) -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        sd.check(current, baseline)
    with pytest.raises(ConfigError, match="positive"):
        sd.check(current, baseline, window=timedelta(0))
    with pytest.raises(ConfigError, match="id-column"):
        sd.check(current.drop_columns(["label"]), baseline, window="1h", labels=labels_of(current))


def test_a_datetime_column_is_the_event_time(current: pa.Table) -> None:
    reference = credit_table(3000, seed=9).to_pandas()
    reference["ts"] = pd.to_datetime(reference["ts"], format="ISO8601")
    built = sd.Baseline.build(reference, model_id="credit")
    assert built.document.timestamp_column == "ts" and "ts" not in built.features
    frame = current.to_pandas()
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601")
    windows = sd.check(frame, built, window="1h").windows
    assert windows.column("records").to_pylist() == [N] * len(HOURS)
    assert windows.column("start").to_pylist()[0] == T0
