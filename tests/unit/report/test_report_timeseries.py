"""Drift over time in the report: ``streamdrift report --window 1h`` over 12 hours of records where income
shifts for 5 hours and a new region appears for 2; the page, rendered in headless Chromium, charts every
feature's statistic and threshold per window with the alerts marked, longest drifted first."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from browser import drawn_share, dump_dom, needs_chromium, screenshot
from click.testing import CliRunner

from streamdrift.cli import main
from streamdrift.dev.synthetic import CATEGORICAL, NUMERIC, Scenario, generate
from streamdrift.report.timecharts import drift_over_time_section
from streamdrift.report.timeseries import FeaturePoint, QualityPoint, WindowSummary, feature_order

HOUR_MS = 3_600_000
START_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z
PLAN = [Scenario.NORMAL] * 3 + [Scenario.SHIFTED_INCOME] * 5 + [Scenario.NEW_REGION] * 2 + [Scenario.NORMAL] * 2
SCREENS = Path(os.environ.get("STREAMDRIFT_SCREENS", "/work/notes/screens"))


def _table(n: int, seed: int, scenario: Scenario, start_ms: int) -> pa.Table:
    batch = generate(n, np.random.default_rng(seed), scenario)
    times = start_ms + np.sort(np.random.default_rng(seed + 1000).integers(0, HOUR_MS, n))
    columns = {name: batch.features[name] for name in (*NUMERIC, *CATEGORICAL)}
    return pa.table({"timestamp": pa.array(times.astype("datetime64[ms]")), **columns})


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("over-time")
    base, data = tmp / "base.csv", tmp / "windows.csv"
    pacsv.write_csv(_table(20_000, 1, Scenario.NORMAL, START_MS - 24 * HOUR_MS), base)
    pacsv.write_csv(pa.concat_tables([_table(3000, 10 + i, s, START_MS + i * HOUR_MS) for i, s in enumerate(PLAN)]),
                    data)
    runner = CliRunner()
    built = runner.invoke(main, ["baseline", "build", "--input", str(base), "--model-id", "credit",
                                 "--timestamp-column", "timestamp", "--output", str(tmp / "b.json")])
    assert built.exit_code == 0, built.output
    out = tmp / "report.html"
    result = runner.invoke(main, ["report", "--baseline", str(tmp / "b.json"), "--input", str(data), "--window", "1h",
                                  "--max-windows", "3", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 window(s)" in result.output and "drift over time of 12 window(s)" in result.output
    return out


def _charts(html: str) -> dict[str, str]:
    """feature -> its time-series <svg> element, in page order."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<svg[^>]*data-chart="timeseries"[^>]*data-feature="([^"]+)"'
                                                         r".*?</svg>", html, re.S)}


def test_report_from_a_file_charts_drift_over_time(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    charts = _charts(html)
    assert set(charts) == {*NUMERIC, *CATEGORICAL}
    order = list(charts)
    assert order[:2] == ["income", "region"], order  # 5 hours drifted, then 2 hours
    income = charts["income"]
    assert 'data-points="12"' in income and 'data-drifted="5"' in income
    assert 'data-alerts="1"' in income and 'data-cleared="1"' in income  # raised at hour 3, cleared at hour 8
    assert 'data-points="12"' in charts["region"] and 'data-drifted="2"' in charts["region"]


@needs_chromium
def test_drift_over_time_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    dom = dump_dom(page, tmp_path / "profile")
    charts = _charts(dom)
    assert list(charts)[:2] == ["income", "region"]
    income = charts["income"]
    # what the browser built from the page: 12 points, 5 of them drifted, one alert raised and one cleared
    assert len(re.findall(r'<circle[^>]*class="point', income)) == 12
    assert len(re.findall(r'<circle[^>]*class="point drift"', income)) == 5
    assert len(re.findall(r'<polygon[^>]*class="alert raised baseline_drift_check"', income)) == 1
    assert len(re.findall(r'<polygon[^>]*class="alert cleared baseline_drift_check"', income)) == 1
    assert re.search(r'class="threshold"', income) and "drifted in 5 of 12 windows (5 h)" in income
    assert "Drift over time" in dom and "Features, longest drifted first" in dom
    shot = tmp_path / "report-over-time.png"
    console = screenshot(page, shot, tmp_path / "profile", size="1100,1400")
    assert console == [], console
    assert drawn_share(shot.read_bytes()) > 0.01
    if SCREENS.is_dir():
        shutil.copy(shot, SCREENS / "report-file-over-time.png")


def _summary(i: int, drifted: dict[str, bool], quality: QualityPoint | None = None) -> WindowSummary:
    features = {n: FeaturePoint("psi", 0.3 if d else 0.05, 0.2, d) for n, d in drifted.items()}
    return WindowSummary(START_MS + i * HOUR_MS, START_MS + (i + 1) * HOUR_MS, f"w{i}", 100, features,
                         quality={"accuracy": quality} if quality else {})


def test_features_sort_by_how_long_they_drifted_and_long_spans_share_points() -> None:
    summaries = [_summary(i, {"a": i % 10 == 0, "b": i % 2 == 0, "c": False}) for i in range(1000)]
    assert feature_order(summaries) == ["b", "a", "c"]
    html = drift_over_time_section(summaries, max_points=100)
    b = _charts(html)["b"]
    assert 'data-points="100"' in b and 'data-windows="1000"' in b and 'data-drifted="500"' in b
    assert "10 windows per point" in html


def test_quality_chart_shows_the_estimate_and_the_realised_values() -> None:
    summaries = [_summary(i, {"a": False}, QualityPoint(0.8 - 0.01 * i, 0.01, 0.79 - 0.01 * i if i < 6 else None))
                 for i in range(8)]
    html = drift_over_time_section(summaries)
    quality = re.search(r'<svg[^>]*data-chart="quality-timeseries".*?</svg>', html, re.S)
    assert quality is not None
    assert 'data-metric="accuracy"' in quality.group(0) and 'data-estimated="8"' in quality.group(0)
    assert 'data-realised="6"' in quality.group(0) and 'class="band"' in quality.group(0)
    assert drift_over_time_section(summaries[:1]) == ""  # one window: nothing over time


def test_report_takes_a_file_or_the_history_not_both(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("{}")
    runner = CliRunner()
    both = runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--input", str(tmp_path / "b.json"),
                                "--from-history", "--output", str(tmp_path / "r.html")])
    neither = runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--output", str(tmp_path / "r.html")])
    stray = runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--input", str(tmp_path / "b.json"),
                                 "--from", "2026-01-01", "--output", str(tmp_path / "r.html")])
    for result in (both, neither):
        assert result.exit_code != 0 and "either --input FILE or --from-history" in result.output
    assert stray.exit_code != 0 and "go with --from-history" in stray.output
