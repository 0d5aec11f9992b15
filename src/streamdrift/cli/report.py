"""``streamdrift report``: a self-contained HTML page of a file's windows against a baseline."""

from __future__ import annotations

import tempfile
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streamdrift.cli.baseline import exit_on_error
from streamdrift.cli.options import input_format_choice, text_input_options

if TYPE_CHECKING:
    from streamdrift.batch.check import WindowReport
    from streamdrift.report.html import ReportWindow


@click.command("report")
@click.option("--baseline", "baseline_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="Baseline JSON (streamdrift baseline build / sagemaker import).")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="CSV, JSON Lines (our capture records or flat), SageMaker data capture or Parquet file.")
@click.option("--format", "fmt", type=input_format_choice(), default=None)
@click.option("--no-header", is_flag=True, help="CSV has no header row (columns become _c0, _c1, ...).")
@click.option("--timestamp-column", default=None,
              help="Event-time column (default with --window: the baseline's timestamp column, declared or detected "
                   "at build; 'timestamp' for JSON Lines).")
@click.option("--window", default=None, help="Event-time tumbling window, e.g. 15m, 1h (default: one window "
              "for the whole file).")
@click.option("--window-records", type=click.IntRange(1), default=None, help="Windows of N records instead.")
@click.option("--max-windows", type=click.IntRange(1), default=48, show_default=True,
              help="Show at most the last N windows.")
@click.option("--output", "output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The HTML file to write.")
@text_input_options
@exit_on_error
def report(baseline_path: Path, input_path: Path, fmt: str | None, no_header: bool, timestamp_column: str | None,
           window: str | None, window_records: int | None, max_windows: int, output: Path, encoding: str | None,
           max_line_bytes: int) -> None:
    """Render baseline vs window distributions, statistics and verdicts per feature as one HTML page."""
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.batch.check import WHOLE_FILE_RECORDS, CheckOptions, parse_duration_ms, run_check
    from streamdrift.report.html import ReportWindow, render_report

    baseline = Baseline.load(baseline_path)
    if window is not None and timestamp_column is None:
        timestamp_column = baseline.timestamp_column  # declared or detected at baseline build
    if window is None and window_records is None:
        window_records = WHOLE_FILE_RECORDS
    options = CheckOptions(window_ms=parse_duration_ms(window) if window is not None else None,
                           window_records=window_records, timestamp_column=timestamp_column, fmt=fmt,
                           has_header=False if no_header else None, encoding=encoding,
                           max_line_bytes=max_line_bytes)
    windows: deque[ReportWindow] = deque(maxlen=max_windows)

    def keep(w: WindowReport) -> None:
        shown = ("estimated_performance", "multivariate", "segments")
        label_free = {k: m.summary for k, m in w.monitors.items() if k in shown}
        windows.append(ReportWindow(label=w.start.isoformat(), profile=w.profile, evaluation=w.evaluation,
                                    label_free=label_free))

    with tempfile.TemporaryDirectory(prefix="streamdrift-report-") as scratch:
        run_check(input_path, baseline, scratch, options, on_window=keep)
    ordered = list(reversed(windows))  # newest first
    output.write_text(render_report(baseline, ordered), encoding="utf-8")
    drifted = sum(len(w.evaluation.drifted) for w in ordered)
    click.echo(f"wrote {output}: {len(ordered)} window(s), {drifted} drifted feature-window(s)")
