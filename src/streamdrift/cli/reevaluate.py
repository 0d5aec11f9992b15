"""``streamdrift reevaluate``: a model's stored windows judged again against a baseline (another one, or other
rules), written like ``streamdrift check`` (events.jsonl, constraint_violations, summary.json); published to
``alerts`` only with ``--publish`` (docs/history.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from streamdrift.cli.baseline import exit_on_error
from streamdrift.cli.historysource import history_source_options, load_settings_for, parse_time_ms


@click.command(name="reevaluate")
@history_source_options
@click.option("--model", "model", required=True, help="Model id.")
@click.option("--baseline", "baseline_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="Baseline JSON to judge the stored windows against.")
@click.option("--output", "output_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for events.jsonl, per-window constraint_violations.json and summary.json.")
@click.option("--raise-after", type=click.IntRange(1), default=None, help="Default: the settings' (1).")
@click.option("--clear-after", type=click.IntRange(1), default=None, help="Default: the settings' (2).")
@click.option("--publish", is_flag=True, help="Also produce the events to the alerts topic.")
@exit_on_error
def reevaluate(config_file: Path | None, bootstrap: str | None, kafka_options: tuple[str, ...],
               from_time: str | None, to_time: str | None, model: str, baseline_path: Path, output_dir: Path,
               raise_after: int | None, clear_after: int | None, publish: bool) -> None:
    """Judge MODEL's stored windows from the profiles topic against BASELINE with the worker's rules (--config)."""
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.batch.check import events_of
    from streamdrift.batch.reevaluate import reevaluate as run
    from streamdrift.worker.history import ReadStats, publish_events, read_windows

    settings = load_settings_for(config_file, bootstrap, kafka_options)
    baseline = Baseline.load(baseline_path)
    started = time.perf_counter()
    stats = ReadStats()
    windows = read_windows(settings, model, parse_time_ms(from_time), parse_time_ms(to_time), stats=stats)
    report = run(windows, baseline, output_dir, config=settings.monitor_config(),  # the worker's rules
                 raise_after=raise_after or settings.evaluation.raise_after,
                 clear_after=clear_after or settings.evaluation.clear_after, model_id=model,
                 references=settings.history.reference_config())
    elapsed = time.perf_counter() - started
    events = events_of(report)
    click.echo(f"{len(report.windows)} windows judged ({stats.windows} stored stages read) in {elapsed:.2f} s: "
               f"{report.n_violations} violations, {len(events)} events -> {report.events_path}", err=True)
    if publish:
        sent = publish_events(settings, events)
        click.echo(f"published {sent} events to {settings.topics.alerts}", err=True)
