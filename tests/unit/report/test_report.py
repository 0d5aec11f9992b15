"""The HTML drift report: content, self-containment, and a real render in headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

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


def _png_pixels(png: bytes) -> bytes:
    """The decompressed image data of a PNG (filter bytes included): enough to tell blank from drawn."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (bin/system-deps installs it)")
def test_report_renders_in_headless_chromium(html: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
             "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--window-size=1280,2400"]
    result = subprocess.run(["chromium", *flags, f"--screenshot={shot}", page.as_uri()],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    pixels = _png_pixels(shot.read_bytes())
    drawn = sum(1 for b in pixels[::7] if b not in (0, 255)) / len(pixels[::7])
    assert drawn > 0.01, f"screenshot looks blank ({drawn:.4f} of sampled bytes drawn)"
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=False)
    assert "income" in dom.stdout and "DRIFT" in dom.stdout
