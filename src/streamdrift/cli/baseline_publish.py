"""``streamdrift baseline publish BASELINE_JSON``: put a baseline on the compacted baselines topic.

Key = the baseline's model id, value = the baseline JSON. Running workers use it from the next window on.
"""

from __future__ import annotations

from pathlib import Path

import click

from streamdrift.errors import StreamdriftError
from streamdrift.settings import load_cli_settings
from streamdrift.worker.baselines import publish_baseline


@click.command("publish")
@click.argument("baseline_json", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers")
@click.option("--kafka-option", "kafka_options", multiple=True, metavar="KEY=VALUE", help="librdkafka option")
def publish(baseline_json: Path, config_file: Path | None, bootstrap: str | None, kafka_options: tuple[str, ...]) -> None:
    """Publish BASELINE_JSON to the baselines topic (key = its model id)."""
    try:
        settings = load_cli_settings(config_file, {"bootstrap_servers": bootstrap}, kafka_options)
        model_id, baseline_id = publish_baseline(settings, baseline_json.read_bytes())
    except StreamdriftError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"published baseline {baseline_id} of model {model_id} to {settings.topics.baselines}")
