"""``streamdrift topics create``: create every topic streamdrift uses (idempotent)."""

from __future__ import annotations

from pathlib import Path

import click

from streamdrift.errors import StreamdriftError
from streamdrift.settings import load_cli_settings


@click.group()
def topics() -> None:
    """Manage the Kafka topics streamdrift uses."""


@topics.command("create")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (host:port,...)")
@click.option("--partitions", type=click.IntRange(min=1), default=None, help="capture topic partitions [6]")
@click.option("--replication-factor", type=click.IntRange(min=1), default=None, help="replication factor [1]")
@click.option("--min-insync-replicas", type=click.IntRange(min=1), default=None,
              help="min.insync.replicas [2 from replication factor 3, else the broker's]")
@click.option("--kafka-option", "kafka_options", multiple=True, metavar="KEY=VALUE", help="librdkafka option")
def create(
    config_file: Path | None,
    bootstrap: str | None,
    partitions: int | None,
    replication_factor: int | None,
    min_insync_replicas: int | None,
    kafka_options: tuple[str, ...],
) -> None:
    """Create capture, labels, partials, alerts, baselines (compacted) and deadletter topics.

    Topics that exist already are left as they are and reported."""
    from streamdrift.worker.topics import create_topics, topic_specs

    try:
        settings = load_cli_settings(config_file, {"bootstrap_servers": bootstrap}, kafka_options)
        specs = topic_specs(settings, partitions=partitions, replication_factor=replication_factor,
                            min_insync=min_insync_replicas)
        reports = create_topics(settings, specs)
    except StreamdriftError as exc:
        raise click.ClickException(str(exc)) from exc
    for report in reports:
        state = "created" if report.created else "exists"
        click.echo(f"{report.name:40s} {state:8s} partitions={report.partitions}")
