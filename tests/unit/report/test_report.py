"""The HTML drift report: content, self-containment, and a real render in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from browser import drawn_share, dump_dom, needs_chromium, screenshot

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.dev.synthetic import CATEGORICAL, NUMERIC, Scenario, generate
from streamdrift.monitors.data_quality.evaluation import evaluate
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.report.html import ReportWindow, render_report


def _table(n: int, seed: int, scenario: Scenario = Scenario.NORMAL) -> pa.Table:
    batch = generate(n, np.random.default_rng(seed), scenario)
    return pa.table({name: batch.features[name] for name in (*NUMERIC, *CATEGORICAL)})


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_arrow(_table(20_000, 1))], "credit-risk")


def _window(baseline: Baseline, seed: int, scenario: Scenario, label: str) -> ReportWindow:
    profile = DatasetProfile.empty(baseline.profile.params)
    profile.update(columns_from_arrow(_table(4_000, seed, scenario)))
    return ReportWindow(label, profile, evaluate(profile, baseline), {"accuracy": 0.75})


@pytest.fixture(scope="module")
def html(baseline: Baseline) -> str:
    windows = [_window(baseline, 2, Scenario.SHIFTED_INCOME, "w-shifted"), _window(baseline, 3, Scenario.NORMAL, "w-clean")]
    return render_report(baseline, windows)


def test_report_lists_every_feature_with_statistic_and_verdict(html: str, baseline: Baseline) -> None:
    for name in (*NUMERIC, *CATEGORICAL):
        assert f'id="f-{name}"' in html
    # the shifted window shows income as drifted, first in its table (sorted by drift)
    shifted = html.split("w-clean")[0]
    first_row = re.search(r'<tbody><tr class="(\w*)"><td><a href="#f-(\w+)"', shifted)
    assert first_row is not None and first_row.groups() == ("drift", "income")
    assert "DRIFT" in shifted and "threshold" in shifted and "p-value" in html
    assert "accuracy" in html and baseline.baseline_id in html


def test_report_is_self_contained(html: str) -> None:
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from the network"
    assert html.count("<svg") >= 2 * len(NUMERIC) + len(CATEGORICAL)


@needs_chromium
def test_report_renders_in_headless_chromium(html: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    console = screenshot(page, shot, tmp_path / "profile")
    assert console == [], console
    drawn = drawn_share(shot.read_bytes())
    assert drawn > 0.01, f"screenshot looks blank ({drawn:.4f} of sampled bytes drawn)"
    dom = dump_dom(page, tmp_path / "profile")
    assert "income" in dom and "DRIFT" in dom
