"""``streamdrift demo``: a local broker, a worker, a simulated inference service and injected drifts."""

from __future__ import annotations

import sys

import click

from streamdrift.errors import StreamdriftError


@click.command("demo")
@click.option("--bootstrap", default=None, help="Use this Kafka instead of starting a local broker.")
@click.option("--duration", type=click.FloatRange(min=1), default=None,
              help="Stop after this many seconds (default: run until Ctrl-C).")
@click.option("--window", "window_seconds", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="Window length in seconds.")
@click.option("--phase-windows", type=click.IntRange(1), default=2, show_default=True,
              help="Windows per phase (normal, then each incident).")
@click.option("--rate", type=click.IntRange(10), default=400, show_default=True, help="Predictions per second.")
@click.option("--web-port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port of the worker's /metrics, /health and /status.")
@click.option("--live/--no-live", default=None, help="Live terminal view (default: when stdout is a terminal).")
def demo(bootstrap: str | None, duration: float | None, window_seconds: float, phase_windows: int, rate: int,
         web_port: int, live: bool | None) -> None:
    """Run the whole product locally and inject drifts one after another."""
    from streamdrift.dev.demo import DemoOptions, describe, run_demo

    options = DemoOptions(bootstrap=bootstrap, duration=duration, window_seconds=window_seconds,
                          phase_windows=phase_windows, rate=rate, web_port=web_port)
    use_live = sys.stdout.isatty() if live is None else live
    try:
        state = run_demo(options, live=use_live, on_event=None if use_live else lambda e: click.echo(describe(e)))
    except StreamdriftError as exc:
        raise click.ClickException(str(exc)) from exc
    raised = ", ".join(f"{monitor}: {n}" for monitor, n in sorted(state.raised.items())) or "none"
    click.echo(f"demo finished: {state.sent:,} predictions, {state.labels:,} labels, alerts raised: {raised}")
