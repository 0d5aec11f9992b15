"""The report on data shaped like a real table (tests/support/houses.py): each feature gets the chart that shows
it (log / linear / discrete axes, baseline-quantile bins with overflow, top categories plus "other", gaps), the
untested columns say why, and the page loads in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from browser import drawn_share, dump_dom, needs_chromium, screenshot
from houses import SHIFTED_PRODUCT, SHIFTED_STATE, house_table

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.monitors.data_quality.evaluation import evaluate
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.report.chartdata import N_BINS, TOP_CATEGORIES
from streamdrift.report.html import ReportWindow, render_report


def _profile(table: pa.Table) -> DatasetProfile:
    profile = DatasetProfile.empty(ProfileParams(kll_k=1000))
    profile.update(columns_from_arrow(table))
    return profile


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_arrow(house_table(12_000, seed=1))], "houses")


@pytest.fixture(scope="module")
def pages(baseline: Baseline) -> dict[str, str]:
    """One single-window report per shift."""
    out = {}
    for shift, seed in (("price", 2), ("state", 3), ("product", 4)):
        window = _profile(house_table(8000, seed=seed, shift=shift))
        out[shift] = render_report(baseline, [ReportWindow(f"w-{shift}", window, evaluate(window, baseline))])
    return out


def _section(html: str, feature: str) -> str:
    match = re.search(rf'<section class="feature[^"]*" id="f-{feature}">(.*?)</section>', html, re.S)
    assert match is not None, f"no section for {feature}"
    return match.group(1)


def _svgs(section: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(data-[\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<svg [^>]*>", section)]


def _chart(section: str, kind: str) -> dict[str, str]:
    found = [s for s in _svgs(section) if s.get("data-chart") == kind]
    assert len(found) == 1, (kind, _svgs(section))
    return found[0]


@pytest.mark.parametrize(("feature", "axis"), [("price", "log"), ("lot_acres", "log"), ("sqft", "linear"),
                                               ("year_built", "linear")])
def test_continuous_features_get_quantile_bins_with_overflow_on_the_chosen_axis(
        pages: dict[str, str], feature: str, axis: str) -> None:
    section = _section(pages["price"], feature)
    assert _chart(section, "cdf")["data-axis"] == axis
    bins = _chart(section, "quantile-bins")
    assert bins["data-axis"] == axis and bins["data-bins"] == str(N_BINS) and bins["data-overflow"] == "2"
    assert section.count('class="overflow"') == 2 and "below" in section and "above" in section
    assert f"{axis} axis" in section


def test_shifted_price_shows_its_gaps(pages: dict[str, str]) -> None:
    section = _section(pages["price"], "price")
    assert "DRIFT" in section
    bins = _chart(section, "quantile-bins")
    assert int(bins["data-gaps"]) >= 2 and bins["data-emphasis"] == "drift"
    assert _chart(section, "cdf")["data-emphasis"] == "drift"
    assert 'class="gap-label"' in section and "largest gap" in section
    unchanged = _section(pages["state"], "price")
    assert "DRIFT" not in unchanged
    assert {_chart(unchanged, kind)["data-emphasis"] for kind in ("cdf", "quantile-bins")} == {"none"}


def test_discrete_and_constant_features_get_one_bar_per_value(pages: dict[str, str]) -> None:
    bedrooms = _section(pages["price"], "bedrooms")
    assert [s["data-chart"] for s in _svgs(bedrooms)] == ["discrete"]
    assert 8 <= int(_chart(bedrooms, "discrete")["data-values"]) <= 13
    constant = _section(pages["price"], "constant")
    assert _chart(constant, "discrete")["data-values"] == "1" and "constant in the baseline: 1" in constant


@pytest.mark.parametrize(("feature", "shift", "moved"), [("state", "state", SHIFTED_STATE),
                                                         ("product", "product", SHIFTED_PRODUCT)])
def test_categoricals_show_top_values_plus_other_and_the_moved_one(
        pages: dict[str, str], feature: str, shift: str, moved: str) -> None:
    section = _section(pages[shift], feature)
    chart = _chart(section, "categories")
    assert chart["data-rows"] == str(TOP_CATEGORIES + 1) and chart["data-other"] == "yes"
    assert re.search(r'class="row other[^"]*"[^>]*>other \([\d,]+ values\)', section)
    row = re.search(rf'<text [^>]*class="row([^"]*)"[^>]*>{moved}<', section)
    assert row is not None and "gap" in row.group(1), f"{moved} is not shown as a gap"


def test_untested_columns_say_why(pages: dict[str, str], baseline: Baseline) -> None:
    html = pages["price"]
    identifier = _section(html, "id")
    assert "identifier-like" in identifier and "<svg" not in identifier  # no chart of a UUID column
    assert "event_time (timestamp): ISO-8601" in html  # the baseline's unprofiled time column
    assert baseline.constraints.features["id"].skip_drift is not None


@needs_chromium
def test_house_report_loads_in_headless_chromium(pages: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(pages["product"], encoding="utf-8")
    shot = tmp_path / "shot.png"
    assert screenshot(page, shot, tmp_path / "profile", size="1280,3000") == []
    assert drawn_share(shot.read_bytes()) > 0.01
    dom = dump_dom(page, tmp_path / "profile")
    assert dom.count("<svg") == pages["product"].count("<svg") > 10
    assert 'data-chart="categories"' in dom and 'data-axis="log"' in dom


def test_every_chart_is_well_formed_xml_with_escaped_labels(pages: dict[str, str]) -> None:
    import xml.etree.ElementTree as ET

    import numpy as np

    from streamdrift.report.chartdata import BarsView
    from streamdrift.report.charts import category_bars_chart

    svgs = re.findall(r"<svg .*?</svg>", pages["product"], re.S)
    assert len(svgs) > 10
    for svg in svgs:
        ET.fromstring(svg)  # raises on malformed markup
    nasty = BarsView(('<script>alert("x")</script>', "a&b"), np.array([0.5, 0.5]), np.array([0.4, 0.6]), (0, 1),
                     "2 values")
    chart = category_bars_chart(nasty, 'title "quoted" <tag>')
    ET.fromstring(chart)
    assert "<script>" not in chart and "&lt;script&gt;" in chart and "a&amp;b" in chart
