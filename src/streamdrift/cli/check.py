"""``streamdrift check``: judge a file window by window against a baseline (see :mod:`streamdrift.batch.check`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streamdrift.cli.baseline import exit_on_error
from streamdrift.cli.options import input_format_choice, text_input_options

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


def _pairs(values: tuple[str, ...], what: str) -> dict[str, float]:
    from streamdrift.errors import ConfigError

    out: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"{what} wants NAME=NUMBER, got {value!r}")
    return out


def _statistics() -> list[str]:
    from streamdrift.monitors.data_quality.statistics import STATISTICS

    return list(STATISTICS)


@click.command(name="check")
@click.option("--baseline", "baseline_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="Baseline JSON (streamdrift baseline build / sagemaker import).")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="CSV, JSON Lines (our capture records or flat), SageMaker data capture or Parquet file.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A worker settings file (YAML / TOML): its window, evaluation, labels and monitors rules are "
                   "this check's defaults, so it judges as that worker would. Flags given here win.")
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
@click.option("--lateness", default=None, help="How long a time window stays open for late rows (default: one "
              "window; with --config: the worker's window.lateness).")
@click.option("--output", "output_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for events.jsonl, per-window constraint_violations.json and summary.json.")
@click.option("--fail-on-violation", is_flag=True, help="Exit with status 1 when any violation was found.")
@click.option("--method", type=click.Choice(["calibrated", "simple", "robust"]), default=None,
              help="Drift rule (default: calibrated; a SageMaker baseline's own comparison_method).")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=None,
              help="Family-wise significance level per window (calibrated method; default 0.01).")
@click.option("--correction", type=click.Choice(["holm", "bh", "none"]), default=None, help="Default holm.")
@click.option("--statistic", type=click.Choice(_statistics()), default=None,
              help="Numeric drift statistic (the effect size; default linf).")
@click.option("--effect-size-floor", type=click.FloatRange(0.0), default=None,
              help="Minimum L-inf distance for a drift violation (calibrated method; default 0.05).")
@click.option("--threshold", "thresholds", multiple=True, metavar="STATISTIC=VALUE",
              help="Threshold of a drift statistic, e.g. psi=0.25 (repeatable).")
@click.option("--feature-threshold", "feature_thresholds", multiple=True, metavar="FEATURE=VALUE",
              help="Threshold of one feature's drift statistic, e.g. income=0.1 (repeatable).")
@click.option("--raise-after", type=click.IntRange(1), default=None,
              help="Consecutive violating windows before an event is raised (default 1).")
@click.option("--clear-after", type=click.IntRange(1), default=None,
              help="Consecutive clean windows before an event is cleared (default 1).")
@click.option("--rollup", "rollups", multiple=True, metavar="DURATION",
              help="Also judge roll-up windows of this size merged from the windows, e.g. 1h or 1d (repeatable; a "
              "multiple of --window; default with --config: the worker's window.rollups). Their events carry "
              "window_seconds.")
@click.option("--quiet", is_flag=True, help="No summary table.")
@text_input_options
@exit_on_error
def check(baseline_path: Path, input_path: Path, config_path: Path | None, labels: Path | None,
          labels_fmt: str | None, fmt: str | None, no_header: bool, timestamp_column: str | None,
          id_column: str | None, exclude: tuple[str, ...], window: str | None, window_records: int | None,
          lateness: str | None, output_dir: Path, fail_on_violation: bool, method: str | None, alpha: float | None,
          correction: str | None, statistic: str | None, effect_size_floor: float | None,
          thresholds: tuple[str, ...], feature_thresholds: tuple[str, ...], raise_after: int | None,
          clear_after: int | None, rollups: tuple[str, ...], quiet: bool, encoding: str | None,
          max_line_bytes: int) -> None:
    """Cut INPUT into windows, evaluate each against the baseline and write events and violations."""
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.batch.check import run_check
    from streamdrift.batch.options import check_options

    options = check_options(
        config_path=config_path, window=window, window_records=window_records, lateness=lateness, labels=labels,
        method=method, alpha=alpha, correction=correction, statistic=statistic,
        effect_size_floor=effect_size_floor, thresholds=_pairs(thresholds, "--threshold"),
        feature_thresholds=_pairs(feature_thresholds, "--feature-threshold"), raise_after=raise_after,
        clear_after=clear_after, timestamp_column=timestamp_column, id_column=id_column, exclude=exclude,
        fmt=fmt, labels_fmt=labels_fmt, has_header=False if no_header else None, encoding=encoding,
        max_line_bytes=max_line_bytes, rollups=rollups)
    report = run_check(input_path, Baseline.load(baseline_path), output_dir, options)
    if not quiet:
        _print_summary(report)
    if fail_on_violation and report.n_violations:
        sys.exit(EXIT_VIOLATIONS)
