"""``streamdrift report``: a self-contained HTML page of windows against a baseline, from a file or, with
``--from-history``, from a model's stored windows (the profiles topic), judged again like ``reevaluate``: the
drift over time of every window of the span (:mod:`streamdrift.report.timecharts`) and the last windows in
detail."""

from __future__ import annotations

import tempfile
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streamdrift.cli.baseline import exit_on_error
from streamdrift.cli.historysource import history_source_options, load_settings_for, parse_time_ms
from streamdrift.cli.options import input_format_choice, text_input_options
from streamdrift.errors import ConfigError

if TYPE_CHECKING:
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.batch.check import WindowReport
    from streamdrift.events.judge import JudgedWindow
    from streamdrift.report.html import ReportWindow
    from streamdrift.report.timeseries import WindowSummary

_LABEL_FREE = ("estimated_performance", "multivariate", "segments")  # monitors the report draws


@click.command("report")
@click.option("--baseline", "baseline_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="Baseline JSON (streamdrift baseline build / sagemaker import).")
@click.option("--input", "input_path", default=None, type=click.Path(path_type=Path, exists=True),
              help="CSV, JSON Lines (our capture records or flat), SageMaker data capture or Parquet file.")
@click.option("--from-history", is_flag=True, help="The model's stored windows (profiles topic) instead of --input: "
              "with --bootstrap (or --config), --model, --from, --to.")
@history_source_options
@click.option("--model", "model", default=None, help="Model id (--from-history; default: the baseline's).")
@click.option("--format", "fmt", type=input_format_choice(), default=None)
@click.option("--no-header", is_flag=True, help="CSV has no header row (columns become _c0, _c1, ...).")
@click.option("--timestamp-column", default=None,
              help="Event-time column (default with --window: the baseline's timestamp column, declared or detected "
                   "at build; 'timestamp' for JSON Lines).")
@click.option("--window", default=None, help="Event-time tumbling window, e.g. 15m, 1h (default: one window "
              "for the whole file).")
@click.option("--window-records", type=click.IntRange(1), default=None, help="Windows of N records instead.")
@click.option("--max-windows", type=click.IntRange(1), default=48, show_default=True,
              help="Show at most the last N windows in detail.")
@click.option("--max-chart-windows", type=click.IntRange(2), default=50_000, show_default=True,
              help="Chart the drift over time of at most the last N windows.")
@click.option("--output", "output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The HTML file to write.")
@text_input_options
@exit_on_error
def report(baseline_path: Path, input_path: Path | None, from_history: bool, config_file: Path | None,
           bootstrap: str | None, kafka_options: tuple[str, ...], from_time: str | None, to_time: str | None,
           model: str | None, fmt: str | None, no_header: bool, timestamp_column: str | None, window: str | None,
           window_records: int | None, max_windows: int, max_chart_windows: int, output: Path,
           encoding: str | None, max_line_bytes: int) -> None:
    """Render baseline vs window distributions, statistics and verdicts per feature, and their drift over time,
    as one HTML page."""
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.report.html import render_report

    if from_history == (input_path is not None):
        raise ConfigError("give either --input FILE or --from-history (with --bootstrap, --from, --to)")
    if input_path is not None and any((config_file, bootstrap, kafka_options, from_time, to_time, model)):
        raise ConfigError("--config, --bootstrap, --kafka-option, --from, --to and --model go with --from-history")
    baseline = Baseline.load(baseline_path)
    windows: deque[ReportWindow] = deque(maxlen=max_windows)
    summaries: deque[WindowSummary] = deque(maxlen=max_chart_windows)
    if input_path is not None:
        _from_file(baseline, input_path, fmt, no_header, timestamp_column, window, window_records, encoding,
                   max_line_bytes, windows, summaries)
    else:
        _from_history(baseline, config_file, bootstrap, kafka_options, from_time, to_time, model, windows,
                      summaries)
    ordered = list(reversed(windows))  # newest first
    output.write_text(render_report(baseline, ordered, over_time=list(summaries)), encoding="utf-8")
    drifted = sum(len(w.evaluation.drifted) for w in ordered)
    click.echo(f"wrote {output}: {len(ordered)} window(s), {drifted} drifted feature-window(s); drift over time of "
               f"{len(summaries)} window(s)")


def _from_file(baseline: Baseline, input_path: Path, fmt: str | None, no_header: bool, timestamp_column: str | None,
               window: str | None, window_records: int | None, encoding: str | None, max_line_bytes: int,
               windows: deque[ReportWindow], summaries: deque[WindowSummary]) -> None:
    from streamdrift.batch.check import WHOLE_FILE_RECORDS, CheckOptions, parse_duration_ms, run_check
    from streamdrift.report.html import ReportWindow
    from streamdrift.report.timeseries import summarize

    if window is not None and timestamp_column is None:
        timestamp_column = baseline.timestamp_column  # declared or detected at baseline build
    if window is None and window_records is None:
        window_records = WHOLE_FILE_RECORDS
    options = CheckOptions(window_ms=parse_duration_ms(window) if window is not None else None,
                           window_records=window_records, timestamp_column=timestamp_column, fmt=fmt,
                           has_header=False if no_header else None, encoding=encoding,
                           max_line_bytes=max_line_bytes)

    def keep(w: WindowReport) -> None:
        label_free = {k: m.summary for k, m in w.monitors.items() if k in _LABEL_FREE}
        quality = w.monitors.get("model_quality")
        realised = _metrics(quality.summary if quality is not None else None)
        windows.append(ReportWindow(label=w.start.isoformat(), profile=w.profile, evaluation=w.evaluation,
                                    model_quality=realised, label_free=label_free))
        summaries.append(summarize(round(w.start.timestamp() * 1000), round(w.end.timestamp() * 1000),
                                   w.start.isoformat(), w.n_records, w.evaluation, w.events, label_free, realised))

    with tempfile.TemporaryDirectory(prefix="streamdrift-report-") as scratch:
        run_check(input_path, baseline, scratch, options, on_window=keep)


def _metrics(summary: dict[str, object] | None) -> dict[str, float]:
    metrics = (summary or {}).get("metrics")
    if not isinstance(metrics, dict):
        return {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _from_history(baseline: Baseline, config_file: Path | None, bootstrap: str | None,
                  kafka_options: tuple[str, ...], from_time: str | None, to_time: str | None, model: str | None,
                  windows: deque[ReportWindow], summaries: deque[WindowSummary]) -> None:
    """The stored windows of the span judged against ``baseline`` with the worker's rules (``--config``), as
    ``reevaluate`` judges them (same events)."""
    from streamdrift.batch.reevaluate import reevaluate
    from streamdrift.events.events import rfc3339
    from streamdrift.events.judge import ms_to_datetime
    from streamdrift.monitors.base import DATA
    from streamdrift.report.html import ReportWindow
    from streamdrift.report.timeseries import summarize, with_realised
    from streamdrift.worker.history import read_windows

    settings = load_settings_for(config_file, bootstrap, kafka_options)
    model_id = model or baseline.model_id
    stored = read_windows(settings, model_id, parse_time_ms(from_time), parse_time_ms(to_time))

    def keep(judged: JudgedWindow) -> None:
        w = judged.window
        if w.stage != DATA:  # the labels stage: realised quality of a window summarized already
            realised = _metrics(judged.results["model_quality"].summary if "model_quality" in judged.results else None)
            for i in range(len(summaries) - 1, -1, -1):
                if summaries[i].start_ms == w.window_start_ms:
                    summaries[i] = with_realised(summaries[i], realised)
                    break
            for i, rw in enumerate(windows):
                if rw.label.startswith(rfc3339(ms_to_datetime(w.window_start_ms))):
                    windows[i] = ReportWindow(rw.label, rw.profile, rw.evaluation, realised, rw.label_free)
            return
        evaluation = judged.evaluation
        if evaluation is None:
            return
        label = rfc3339(ms_to_datetime(w.window_start_ms))
        label_free = {k: r.summary for k, r in judged.results.items() if k in _LABEL_FREE}
        windows.append(ReportWindow(f"{label} ({w.n_records} records)", w.profile, evaluation, {}, label_free))
        summaries.append(summarize(w.window_start_ms, w.window_end_ms, label, w.n_records, evaluation,
                                   judged.events, label_free, partial=w.partial))

    with tempfile.TemporaryDirectory(prefix="streamdrift-report-") as scratch:
        reevaluate(stored, baseline, scratch, config=settings.monitor_config(),
                   raise_after=settings.evaluation.raise_after, clear_after=settings.evaluation.clear_after,
                   model_id=model_id, on_window=keep, references=settings.history.reference_config())
