"""``streamdrift check``: judge a file window by window against a baseline (see :mod:`streamdrift.batch.check`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from streamdrift.cli.baseline import exit_on_error
from streamdrift.cli.options import input_format_choice

if TYPE_CHECKING:
    from rich.console import Console

    from streamdrift.batch.check import CheckReport, WindowReport

EXIT_VIOLATIONS = 1
_MONITOR_TITLES = {"model_quality": "model quality", "bias": "bias", "attribution": "attribution"}


def _data_quality_cell(w: WindowReport) -> str:
    checks: dict[str, int] = {}
    for v in w.evaluation.violations:
        if v.monitor == "data_quality":
            checks[v.check] = checks.get(v.check, 0) + 1
    return ", ".join(f"{c} x{n}" for c, n in sorted(checks.items())) or "-"


def _print_labels(console: Console, report: CheckReport) -> None:
    counts = report.labels
    if counts is None:
        return
    console.print(f"labels: {counts.matched} joined, {counts.embedded} from the input, "
                  f"{counts.records_without_label} records without a label, {counts.unmatched_labels} labels "
                  f"matching no record, {counts.duplicate_labels} duplicate labels")


def _print_summary(report: CheckReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"streamdrift check: {len(report.windows)} windows, {report.n_rows} rows")
    monitors = [m for m in report.monitors if m in _MONITOR_TITLES]
    for column in ("window start", "records", "drifted features", "data-quality violations",
                   *(_MONITOR_TITLES[m] for m in monitors), "events"):
        table.add_column(column, justify="right" if column in ("records", "events") else "left",
                         no_wrap=column == "window start")
    for w in report.windows:
        drifted = ", ".join(r.feature for r in w.evaluation.drifted) or "-"
        verdicts = [w.monitors[m].verdict if m in w.monitors else "-" for m in monitors]
        style = "red" if w.evaluation.violations else None
        table.add_row(w.start.isoformat(), str(w.n_records), drifted, _data_quality_cell(w), *verdicts,
                      str(len(w.events)), style=style)
    console = Console(stderr=False, width=max(200, Console().width))
    console.print(table)
    _print_labels(console, report)
    if report.n_bad:
        console.print(f"[yellow]{report.n_bad} bad rows skipped[/yellow]")
        for bad in report.bad_lines[:10]:
            console.print(f"  line {bad.line_number}: {bad.reason} {bad.detail}")
    console.print(f"events: {report.events_path}  violations: {report.n_violations}")


@click.command(name="check")
@click.option("--baseline", "baseline_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="Baseline JSON (streamdrift baseline build / sagemaker import).")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="CSV, JSON Lines (our capture records or flat), SageMaker data capture or Parquet file.")
@click.option("--labels", type=click.Path(path_type=Path, exists=True), default=None,
              help="Ground-truth labels joined by id: label records (JSON Lines: inference_id, label) or a "
                   "CSV / Parquet / JSON Lines table with the --id-column and the baseline's target column.")
@click.option("--labels-format", "labels_fmt", type=input_format_choice(labels=True), default=None,
              help="Format of --labels (default: from the file name).")
@click.option("--format", "fmt", type=input_format_choice(),
              default=None, help="Input format (default: from the file name).")
@click.option("--no-header", is_flag=True, help="CSV has no header row (columns become _c0, _c1, ...).")
@click.option("--timestamp-column", default=None, help="Event-time column (default 'timestamp' for JSON Lines).")
@click.option("--id-column", default=None, help="Row id column (not a feature).")
@click.option("--exclude", multiple=True, help="Column to leave out (repeatable).")
@click.option("--window", "window", default=None, help="Event-time tumbling window, e.g. 15m, 1h, 1d.")
@click.option("--window-records", type=click.IntRange(1), default=None, help="Windows of N records instead.")
@click.option("--lateness", default=None, help="How long a time window stays open for late rows (default: one window).")
@click.option("--output", "output_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for events.jsonl, per-window constraint_violations.json and summary.json.")
@click.option("--fail-on-violation", is_flag=True, help="Exit with status 1 when any violation was found.")
@click.option("--method", type=click.Choice(["calibrated", "simple", "robust"]), default=None,
              help="Drift rule (default: calibrated; a SageMaker baseline's own comparison_method).")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.01,
              show_default=True, help="Family-wise significance level per window (calibrated method).")
@click.option("--correction", type=click.Choice(["holm", "bh", "none"]), default="holm", show_default=True)
@click.option("--statistic", type=click.Choice(["linf", "psi", "js", "wasserstein"]), default="linf",
              show_default=True, help="Numeric drift statistic.")
@click.option("--effect-size-floor", type=click.FloatRange(0.0), default=0.05, show_default=True,
              help="Minimum L-inf distance for a drift violation (calibrated method).")
@click.option("--raise-after", type=click.IntRange(1), default=1, show_default=True,
              help="Consecutive violating windows before an event is raised.")
@click.option("--clear-after", type=click.IntRange(1), default=1, show_default=True,
              help="Consecutive clean windows before an event is cleared.")
@click.option("--quiet", is_flag=True, help="No summary table.")
@exit_on_error
def check(baseline_path: Path, input_path: Path, labels: Path | None, labels_fmt: str | None, fmt: str | None,
          no_header: bool, timestamp_column: str | None, id_column: str | None, exclude: tuple[str, ...], window: str | None,
          window_records: int | None, lateness: str | None, output_dir: Path, fail_on_violation: bool,
          method: str | None, alpha: float, correction: str, statistic: str, effect_size_floor: float,
          raise_after: int, clear_after: int, quiet: bool) -> None:
    """Cut INPUT into windows, evaluate each against the baseline and write events and violations."""
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.batch.check import CheckOptions, parse_duration_ms, run_check
    from streamdrift.monitors.data_quality.evaluation import EvaluationConfig, Method, NumericStatistic
    from streamdrift.monitors.data_quality.stattests import Correction

    # click.Choice restricts the strings; EvaluationConfig validates them again
    config = EvaluationConfig(
        method=cast("Method | None", method), alpha=alpha, correction=cast("Correction", correction),
        statistic=cast("NumericStatistic", statistic), effect_size_floor=effect_size_floor,
    )
    options = CheckOptions(
        window_ms=parse_duration_ms(window) if window is not None else None, window_records=window_records,
        lateness_ms=parse_duration_ms(lateness) if lateness is not None else None,
        timestamp_column=timestamp_column, id_column=id_column, fmt=fmt,
        has_header=False if no_header else None, exclude=exclude, config=config,
        raise_after=raise_after, clear_after=clear_after, labels=labels, labels_fmt=labels_fmt,
    )
    report = run_check(input_path, Baseline.load(baseline_path), output_dir, options)
    if not quiet:
        _print_summary(report)
    if fail_on_violation and report.n_violations:
        sys.exit(EXIT_VIOLATIONS)
