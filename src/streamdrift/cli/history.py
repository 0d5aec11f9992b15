"""``streamdrift history``: a model's stored windows read back from the profiles topic, rolled up (``--every``)
and printed as JSON Lines summaries or written as baseline files (docs/history.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from streamdrift.cli.baseline import exit_on_error
from streamdrift.cli.historysource import (
    baseline_from_history,
    history_source_options,
    load_settings_for,
    parse_time_ms,
)


def _report_time(started: float, what: str) -> None:
    click.echo(f"{what} in {time.perf_counter() - started:.2f} s", err=True)


@click.command(name="history")
@history_source_options
@click.option("--model", "model", required=True, help="Model id.")
@click.option("--every", default=None, help="Roll windows up into windows of this size (e.g. 1h, 1d); without it, "
              "every stored window as it is (with --output: the whole span as one).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write profiles as baseline files instead of printing summaries: without --every one file of "
                   "the span, with --every a directory with one file per roll-up window.")
@exit_on_error
def history(config_file: Path | None, bootstrap: str | None, kafka_options: tuple[str, ...], from_time: str | None,
            to_time: str | None, model: str, every: str | None, output: Path | None) -> None:
    """Read MODEL's windows from the profiles topic: JSON Lines summaries on stdout (one per window, or per
    roll-up window with --every), or baseline files (--output)."""
    from streamdrift.batch.check import parse_duration_ms
    from streamdrift.batch.history import baseline_from_windows, summary_line
    from streamdrift.window.rollup import RollUp
    from streamdrift.worker.history import ReadStats, read_windows

    settings = load_settings_for(config_file, bootstrap, kafka_options)
    started = time.perf_counter()
    every_ms = parse_duration_ms(every) if every is not None else None
    lo, hi = parse_time_ms(from_time), parse_time_ms(to_time)
    stats = ReadStats()
    stored = read_windows(settings, model, lo, hi, stats=stats)
    out = sys.stdout.buffer
    if output is not None and every_ms is None:
        result = baseline_from_history(settings, model, from_time, to_time)
        result.save(output)
        click.echo(f"wrote {output}: {result.profile.n_records} records of {result.extra['source']['windows']} "
                   f"windows", err=True)
        _report_time(started, "history")
        return
    if every_ms is None:
        seen: set[tuple[str, int, str]] = set()
        for s in stored:
            if s.key not in seen:
                seen.add(s.key)
                out.write(summary_line(s.window, 1))
        out.flush()
        click.echo(f"{len(seen)} windows ({stats.windows - len(seen)} repeated, {stats.unreadable} unreadable) of "
                   f"{stats.messages} messages, {stats.bytes} bytes", err=True)
        _report_time(started, "history")
        return
    rolled = RollUp(every_ms).add_all(s.window for s in stored)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
    for window, n in rolled.result():
        if output is None:
            out.write(summary_line(window, n))
        elif window.stage == "data" and window.n_records:
            source = {"kind": "history", "topic": settings.history.topic, "model_id": model, "every": every}
            path = output / f"{window.window_start_ms}.json"
            baseline_from_windows([window], model, source).save(path)
    out.flush()
    click.echo(f"{stats.windows} windows ({rolled.duplicates} repeated, {stats.unreadable} unreadable) into "
               f"{len(rolled.result())} roll-up windows, {stats.bytes} bytes", err=True)
    _report_time(started, "history")
