"""`streamdrift check` with the estimated-performance and multivariate monitors, end to end on a CSV without
labels: four windows of 5,000 records (record windows): normal, normal, a covariate shift that lowers the
accuracy 3 points (the estimate raises it), a broken correlation of two other features (multivariate raises it,
every per-feature test stays silent). Events, summary.json and the clearing events are read back from the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from estimation import DROP_SCALE, classifier_data, correlated_data

from streamdrift.baseline.baseline import MonitorOptions, build_baseline
from streamdrift.batch.check import CheckOptions, run_check
from streamdrift.columns.chunks import RoleColumns
from streamdrift.events.events import DriftEvent
from streamdrift.ingest.files import iter_chunks

N = 5000


def _table(n: int, rng: np.random.Generator, scale: float = 1.0, rho: float = 0.8, label: bool = False
           ) -> dict[str, np.ndarray]:
    features, score, labels = classifier_data(n, rng, scale)
    pair = correlated_data(n, rng, rho)
    out = {**features, "c0": pair["x0"], "c1": pair["x1"], "score": score}
    if label:
        out["label"] = labels
    return out


def test_check_raises_estimated_performance_and_multivariate_drift_without_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pacsv.write_csv(pa.table(_table(40_000, rng, label=True)), tmp_path / "train.csv")
    baseline = build_baseline(
        iter_chunks(tmp_path / "train.csv", roles=RoleColumns(target="label", score="score")), "m",
        target="label", score="score", monitors=MonitorOptions(estimated_performance=True, multivariate=True))
    parts = [_table(N, rng), _table(N, rng), _table(N, rng, scale=DROP_SCALE), _table(N, rng, rho=0.0)]
    pacsv.write_csv(pa.concat_tables([pa.table(p) for p in parts]), tmp_path / "in.csv")
    report = run_check(tmp_path / "in.csv", baseline, tmp_path / "out", CheckOptions(window_records=N))
    assert report.n_rows == 4 * N
    assert {"estimated_performance", "multivariate"} <= set(report.monitors)
    checks = [{(v.monitor, v.check, v.subject) for v in w.evaluation.violations} for w in report.windows]
    estimated = [{s for m, c, s in w if c == "estimated_performance_check"} for w in checks]
    multivariate = [{s for m, c, s in w if c == "multivariate_drift_check"} for w in checks]
    per_feature = [{s for m, c, s in w if c == "baseline_drift_check"} for w in checks]
    assert not estimated[0] and not estimated[1] and "accuracy" in estimated[2]
    assert multivariate == [set(), set(), multivariate[2], {"reconstruction_error"}]
    assert not per_feature[3]  # the correlation broke, no marginal moved
    events = [DriftEvent.from_json(line) for line in (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()]
    raised = [(e.monitor, e.check, e.metric, e.feature) for e in events if e.status == "raised"]
    assert ("model_quality", "estimated_performance_check", "accuracy", None) in raised
    assert ("data_quality", "multivariate_drift_check", "reconstruction_error", None) in raised
    cleared = {(e.check, e.metric) for e in events if e.status == "cleared"}
    assert ("estimated_performance_check", "accuracy") in cleared  # window 3 is back to the baseline's accuracy
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    window = summary["windows"][2]["monitors"]["estimated_performance"]
    assert window["metrics"]["accuracy"] < window["baseline_metrics"]["accuracy"]
    assert summary["windows"][3]["monitors"]["multivariate"]["drifted"] is True


def test_check_with_labels_shows_the_estimate_beside_the_realised_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pacsv.write_csv(pa.table(_table(40_000, rng, label=True)), tmp_path / "train.csv")
    baseline = build_baseline(
        iter_chunks(tmp_path / "train.csv", roles=RoleColumns(target="label", score="score")), "m",
        target="label", score="score", monitors=MonitorOptions(estimated_performance=True))
    parts = [_table(N, rng, scale=s, label=True) for s in (1.0, 0.8, DROP_SCALE)]
    pacsv.write_csv(pa.concat_tables([pa.table(p) for p in parts]), tmp_path / "in.csv")
    run_check(tmp_path / "in.csv", baseline, tmp_path / "out", CheckOptions(window_records=N))
    windows = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())["windows"]
    assert len(windows) == 3
    for window, part in zip(windows, parts, strict=True):
        accuracy = window["estimated_vs_realised"]["accuracy"]
        realised = float(((part["score"] >= 0.5) == (part["label"] == 1.0)).mean())
        assert accuracy["realised"] == pytest.approx(realised)
        assert accuracy["estimated"] == window["monitors"]["estimated_performance"]["metrics"]["accuracy"]
        # SE about 0.0035 at n=5000: the estimate is within 4 SE of the realised value
        assert abs(accuracy["error"]) < 4 * accuracy["standard_error"]
