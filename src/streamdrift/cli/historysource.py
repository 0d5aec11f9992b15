"""What the commands reading the profiles topic share (``history``, ``reevaluate``, ``baseline build
--from-history``): the options choosing the windows, time parsing, the settings, a baseline from history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from streamdrift.errors import ConfigError

if TYPE_CHECKING:
    from streamdrift.baseline.document import Baseline
    from streamdrift.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


def parse_time_ms(text: str | None) -> int | None:
    """Epoch milliseconds from ISO-8601 (``2026-12-01``, ``2026-12-01T06:00:00Z``; naive = UTC) or a number of
    epoch milliseconds; None for None."""
    if text is None:
        return None
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not a time: {text!r} (ISO-8601 such as 2026-12-01T00:00:00Z, or epoch ms)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def history_source_options(func: Callable[P, R]) -> Callable[P, R]:
    """``--config --bootstrap --kafka-option --model --from --to``: which stored windows to read."""
    for option in reversed([
        click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     default=None, help="Worker settings file (topics, history.topic, evaluation rules)."),
        click.option("--bootstrap", default=None, help="Kafka bootstrap servers (host:port,...)."),
        click.option("--kafka-option", "kafka_options", multiple=True, metavar="KEY=VALUE", help="librdkafka option."),
        click.option("--from", "from_time", default=None, help="First window start (ISO-8601 or epoch ms)."),
        click.option("--to", "to_time", default=None, help="Windows starting before this (ISO-8601 or epoch ms)."),
    ]):
        func = option(func)
    return func


def load_settings_for(config_file: Path | None, bootstrap: str | None, kafka_options: tuple[str, ...]) -> Settings:
    from streamdrift.settings import load_cli_settings

    return load_cli_settings(config_file, {"bootstrap_servers": bootstrap}, kafka_options)


def baseline_from_history(settings: Settings, model: str, from_time: str | None, to_time: str | None) -> Baseline:
    """The baseline of ``model``'s stored data-stage windows in the span (``baseline build --from-history``)."""
    from streamdrift.batch.history import baseline_from_windows
    from streamdrift.worker.history import ReadStats, read_windows

    lo, hi = parse_time_ms(from_time), parse_time_ms(to_time)
    stats = ReadStats()
    source = {"kind": "history", "topic": settings.history.topic, "model_id": model, "from": from_time,
              "to": to_time}
    windows = (s.window for s in read_windows(settings, model, lo, hi, stats=stats))
    return baseline_from_windows(windows, model, source)
