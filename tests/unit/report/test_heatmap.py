"""The segment x feature heat map in the HTML report (`streamdrift report` on a baseline with segments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from segmented_traffic import capture_lines, segmented, write_lines

from streamdrift.cli import main
from streamdrift.report.heatmap import segment_heatmap


def test_heatmap_of_a_summary() -> None:
    summary = {"by": ["region"], "new": ["r9"], "pooled_rows": 3,
               "heatmap": {"statistic": "linf", "features": ["a", "b"], "segments": ["eu", "us"],
                           "values": [[0.01, 0.3], [0.02, None]], "drifted": {"eu": ["b"]}}}
    html = segment_heatmap(summary)
    assert html.count('class="drift"') == 1 and "0.300" in html and "r9" in html and "3 rows" in html
    assert segment_heatmap(None) == "" and segment_heatmap({"heatmap": {}}) == ""


def test_report_shows_the_heatmap(tmp_path: Path) -> None:
    runner = CliRunner()
    train = write_lines(tmp_path / "train.jsonl", capture_lines(segmented(np.random.default_rng(1), 6_000, 4),
                                                               "m", 0, "t"))
    assert runner.invoke(main, ["baseline", "build", "--input", str(train), "--model-id", "m", "--output",
                                str(tmp_path / "b.json"), "--segment-by", "region"]).exit_code == 0
    data = segmented(np.random.default_rng(2), 4_000, 4, shifted="r01", shift_sd=1.0)
    capture = write_lines(tmp_path / "c.jsonl", capture_lines(data, "m", 1, "w"))
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--input", str(capture),
                                  "--output", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert 'table class="heatmap"' in html and "Segments by region" in html
    assert html.count('class="drift"') >= 1 and "<th>r01</th>" in html
