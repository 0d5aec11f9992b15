"""The topics streamdrift uses, and creating them idempotently with confluent-kafka's AdminClient."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streamdrift.errors import KafkaError
from streamdrift.settings import Settings
from streamdrift.worker.kafka_errors import wrap

_DAY_MS = 24 * 3600 * 1000

# role -> topic configuration; retention fits what each topic is for.
_TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "capture": {"retention.ms": str(1 * _DAY_MS), "max.message.bytes": str(8 << 20)},
    "labels": {"retention.ms": str(7 * _DAY_MS)},
    "partials": {"retention.ms": str(1 * _DAY_MS), "max.message.bytes": str(8 << 20)},
    "alerts": {"retention.ms": str(30 * _DAY_MS)},
    "baselines": {"cleanup.policy": "compact", "max.message.bytes": str(8 << 20)},
    "deadletter": {"retention.ms": str(14 * _DAY_MS), "max.message.bytes": str(8 << 20)},
}


@dataclass(frozen=True)
class TopicSpec:
    role: str
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicReport:
    name: str
    created: bool  # False: it existed already
    partitions: int  # the partitions it has now (existing) or was created with


def min_insync_replicas(replication_factor: int, configured: int | None = None) -> int | None:
    """``min.insync.replicas`` for topics of ``replication_factor``: ``configured``, else 2 from replication 3 up
    (a write is on two brokers before it is acknowledged; one broker may be down), else None (the broker's)."""
    if configured is not None:
        return configured
    return 2 if replication_factor >= 3 else None


def topic_specs(
    settings: Settings, *, partitions: int | None = None, replication_factor: int | None = None,
    min_insync: int | None = None,
) -> list[TopicSpec]:
    """Every topic streamdrift needs (the profiles topic of ``settings.history`` last). ``partitions`` overrides the capture topic's partition count; the labels
    topic gets the same count (co-partitioned with capture: partition p of labels is joined with partition p of
    capture, both keyed by model id)."""
    t = settings.topics
    rf = replication_factor or t.replication_factor
    isr = min_insync_replicas(rf, min_insync or t.min_insync_replicas)
    common = {} if isr is None else {"min.insync.replicas": str(isr)}
    specs = []
    for role, name in t.all().items():
        n = (partitions or t.capture_partitions) if role in ("capture", "labels") else t.partitions
        specs.append(TopicSpec(role, name, n, rf, {**_TOPIC_CONFIGS[role], **common}))
    h = settings.history  # every merged window (docs/history.md): retention from the settings, a window per message
    specs.append(TopicSpec("profiles", h.topic, t.partitions, rf, {
        "retention.ms": str(h.retention_ms), "max.message.bytes": str(settings.limits.max_window_bytes), **common}))
    return specs


def admin_client(settings: Settings) -> AdminClient:
    """A connected AdminClient: failed authentication is an error naming listener and mechanism."""
    from streamdrift.worker.access import connect

    return connect(settings)


def existing_topics(admin: AdminClient, timeout: float = 15.0) -> dict[str, int]:
    """Topic name -> partition count of every topic on the cluster."""
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise wrap(exc, "list topics") from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def create_topics(settings: Settings, specs: list[TopicSpec], timeout: float = 30.0) -> list[TopicReport]:
    """Create what is missing; a topic that exists already is reported, not an error."""
    admin = admin_client(settings)
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor, config=dict(s.config))
        for s in specs
    ]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    created: set[str] = set()
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.add(name)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, CKafkaError) and err.code() == CKafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise wrap(exc, f"create topic {name}") from exc
    have = _wait_for(admin, {s.name for s in specs}, timeout)
    return [TopicReport(s.name, s.name in created, have[s.name]) for s in specs]


def _wait_for(admin: AdminClient, names: set[str], timeout: float) -> dict[str, int]:
    """Metadata lags creation a little: poll until every topic shows with its partitions."""
    deadline = time.monotonic() + timeout
    while True:
        have = existing_topics(admin, timeout)
        missing = names - {n for n, p in have.items() if p > 0}
        if not missing:
            return have
        if time.monotonic() > deadline:
            raise KafkaError(f"topics {sorted(missing)} are missing after creation")
        time.sleep(0.2)


def partition_count(settings: Settings, topic: str, timeout: float = 15.0) -> int:
    """Partitions of one topic; KafkaError when it does not exist."""
    have = existing_topics(admin_client(settings), timeout)
    if topic not in have:
        raise KafkaError(f"topic {topic} does not exist (run `streamdrift topics create`)")
    return have[topic]


def topic_partitions(consumer: Consumer, topic: str) -> int:
    """Partitions of one topic from a consumer's metadata; KafkaError when it does not exist."""
    try:
        metadata = consumer.list_topics(topic, timeout=15)
    except KafkaException as exc:
        raise wrap(exc, f"describe topic {topic}") from exc
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise KafkaError(f"topic {topic} does not exist (run `streamdrift topics create`)")
    return len(info.partitions)
