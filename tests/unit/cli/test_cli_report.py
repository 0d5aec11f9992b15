"""``streamdrift report`` on house-like CSV files (click's CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
from click.testing import CliRunner, Result
from houses import house_table

from streamdrift.cli import main


def _report(tmp_path: Path, *window_options: str) -> tuple[Result, Path]:
    """A baseline of 4,000 house rows, then the report of 3,000 rows with a price shift."""
    runner = CliRunner()
    base, window = tmp_path / "base.csv", tmp_path / "window.csv"
    pacsv.write_csv(house_table(4000, seed=1), base)
    pacsv.write_csv(house_table(3000, seed=2, shift="price"), window)
    built = runner.invoke(main, ["baseline", "build", "--input", str(base), "--model-id", "h",
                                 "--output", str(tmp_path / "b.json")])
    assert built.exit_code == 0, built.output
    out = tmp_path / "report.html"
    return runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--input", str(window),
                                *window_options, "--output", str(out)]), out


def test_report_uses_the_baselines_detected_time_column_for_time_windows(tmp_path: Path) -> None:
    result, out = _report(tmp_path, "--window", "720h")
    assert result.exit_code == 0, result.output
    assert "4 window(s)" in result.output  # 90 days of event times in 30-day windows
    html = out.read_text(encoding="utf-8")
    assert "extra_column_check" not in html  # event_time was read as the timestamp, not as a column
    assert 'data-chart="quantile-bins"' in html and 'data-axis="log"' in html


def test_report_without_a_window_shows_the_whole_file_as_one_window(tmp_path: Path) -> None:
    result, out = _report(tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 window(s)" in result.output
    assert "3000 records" in out.read_text(encoding="utf-8")  # the one window holds every row
