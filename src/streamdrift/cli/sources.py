"""``streamdrift sources check``: what a source's mapping finds in a sample file or a few messages of its topic,
per model, and what would be dead-lettered and why (docs/sources.md)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streamdrift.errors import StreamdriftError
from streamdrift.settings import Settings, load_cli_settings

if TYPE_CHECKING:
    from streamdrift.ingest.sources.config import SourceSettings
    from streamdrift.ingest.sources.engine import Messages


@click.group()
def sources() -> None:
    """Capture sources read through a mapping (the ``sources`` section of the settings file)."""


@sources.command("check")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              required=True, help="the worker's settings file (its sources section)")
@click.option("--source", "source_name", default=None, help="the source to check (default: the only one)")
@click.option("--sample", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="a file of messages, one a line (their values; see --envelope)")
@click.option("--envelope", is_flag=True, help='sample lines are {"value", "key", "headers", "timestamp"} objects '
              "(for presets that read headers, such as kserve-cloudevents)")
@click.option("--bootstrap", default=None, help="read the source's topic on this Kafka instead of a sample")
@click.option("--topic", default=None, help="the topic to read (default: the source's)")
@click.option("--max-messages", type=click.IntRange(1), default=100, show_default=True,
              help="messages to read from the topic (from its beginning)")
@click.option("--kafka-option", "kafka_options", multiple=True, metavar="KEY=VALUE", help="librdkafka option")
def check(config_file: Path, source_name: str | None, sample: Path | None, envelope: bool, bootstrap: str | None,
          topic: str | None, max_messages: int, kafka_options: tuple[str, ...]) -> None:
    """Apply a source's mapping to a sample and print per model the features, predictions, ids and event times
    found, and the messages that would be dead-lettered with the path that failed."""
    from streamdrift.ingest.sources.engine import MappedParser
    from streamdrift.ingest.sources.inspect import inspect_messages, read_sample

    if (sample is None) == (bootstrap is None):
        raise click.UsageError("give --sample FILE or --bootstrap (with the source's topic)")
    try:
        settings = load_cli_settings(config_file, {"bootstrap_servers": bootstrap}, kafka_options)
        source = _source(settings, source_name)
        parser = MappedParser(source, limits=settings.limits.capture_limits(), max_bytes=settings.max_record_bytes)
        now_ms = int(time.time() * 1000)
        if sample is not None:
            with sample.open("rb") as lines:
                poll = read_sample(lines, envelope=envelope, start_ms=now_ms)
        else:
            poll = _read_topic(settings, topic or source.topic, max_messages)
        report = inspect_messages(parser, [poll])
    except StreamdriftError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report.render())


def _source(settings: Settings, name: str | None) -> SourceSettings:
    if not settings.sources:
        raise click.ClickException("the settings file has no sources")
    if name is None:
        if len(settings.sources) > 1:
            names = ", ".join(s.name for s in settings.sources)
            raise click.ClickException(f"several sources ({names}): choose one with --source")
        return settings.sources[0]
    for src in settings.sources:
        if src.name == name:
            return src
    raise click.ClickException(f"no source named {name!r}")


def _read_topic(settings: Settings, topic: str, max_messages: int) -> Messages:
    from confluent_kafka import Consumer, KafkaException, Message
    from confluent_kafka import KafkaError as CKafkaError

    from streamdrift.worker.joinrestore import messages_of

    consumer = Consumer(settings.client_config({
        "group.id": f"streamdrift-sources-check-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "isolation.level": "read_committed", "enable.partition.eof": True}))
    msgs: list[Message] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        ended: set[int] = set()
        while len(msgs) < max_messages and time.monotonic() < deadline:
            for m in consumer.consume(max_messages - len(msgs), 1.0):
                err = m.error()
                if err is None:
                    msgs.append(m)
                elif err.code() == CKafkaError._PARTITION_EOF:
                    ended.add(m.partition() or 0)
            if ended and len(ended) >= len(consumer.assignment()):
                break
    except KafkaException as exc:
        raise click.ClickException(f"reading {topic}: {exc}") from exc
    finally:
        consumer.close()
    return messages_of(msgs)
