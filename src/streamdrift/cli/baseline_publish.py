"""``streamdrift baseline publish BASELINE_JSON``: put a baseline on the compacted baselines topic.

Key = the baseline's model id, value = the baseline JSON. Running workers use it from the next window on.
"""

from __future__ import annotations

from pathlib import Path

import click

from streamdrift.errors import StreamdriftError
from streamdrift.settings import Settings, load_cli_settings


def publish_baseline(settings: Settings, blob: bytes, timeout: float = 30.0) -> tuple[str, str]:
    """Validate ``blob`` as a baseline and produce it (idempotent producer, waits for the ack)."""
    from confluent_kafka import KafkaException, Producer

    from streamdrift.baseline.baseline import Baseline
    from streamdrift.errors import KafkaError
    from streamdrift.worker.kafka_errors import from_error, wrap

    baseline = Baseline.from_json(blob)
    producer = Producer(settings.client_config({"enable.idempotence": True, "message.max.bytes": 8 << 20}))
    errors: list[KafkaError] = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            errors.append(from_error(err, "publish baseline"))  # type: ignore[arg-type]

    try:
        producer.produce(settings.topics.baselines, key=baseline.model_id.encode(), value=blob, on_delivery=delivered)
        remaining = producer.flush(timeout)
    except KafkaException as exc:
        raise wrap(exc, "publish baseline") from exc
    if errors:
        raise errors[0]
    if remaining:
        raise KafkaError(f"baseline not acknowledged within {timeout:.0f}s")
    return baseline.model_id, baseline.baseline_id


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
