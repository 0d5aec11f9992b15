"""The local Kafka broker works with each client library streamdrift uses: confluent-kafka (incl.
transactions), aiokafka and faust-streaming."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streamdrift.dev.localkafka import LocalKafka, find_free_port, port_is_free

pytestmark = pytest.mark.integration

NewTopicFactory = Callable[..., str]
ConsumerConfigFactory = Callable[[str], dict[str, Any]]
TIMEOUT_S = 60.0


def _records(n: int, tag: str) -> list[tuple[bytes, bytes]]:
    return [(f"model-{i % 3}".encode(), f'{{"tag":"{tag}","i":{i}}}'.encode()) for i in range(n)]


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value in records:
        producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
    assert producer.flush(TIMEOUT_S) == 0
    assert errors == []


def _consume(config: dict[str, Any], topic: str, n: int, settle_s: float = 1.0) -> list[tuple[bytes, bytes]]:
    """Read until ``n`` records arrived, then ``settle_s`` more seconds so that extra records would show."""
    consumer = Consumer(config)
    consumer.subscribe([topic])
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + TIMEOUT_S
    settle_until: float | None = None
    try:
        while time.monotonic() < (settle_until or deadline):
            for msg in consumer.consume(num_messages=1000, timeout=0.25):
                assert msg.error() is None, msg.error()
                key, value = msg.key(), msg.value()
                assert isinstance(key, bytes) and isinstance(value, bytes)
                out.append((key, value))
            if settle_until is None and len(out) >= n:
                settle_until = time.monotonic() + settle_s
    finally:
        consumer.close()
    return out


def _ordered_by_key(records: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Kafka orders per partition; records of one key share a partition, so per-key order is preserved."""
    grouped: dict[bytes, list[bytes]] = {}
    for key, value in records:
        grouped.setdefault(key, []).append(value)
    return grouped


def test_broker_fixture_is_running(kafka_broker: LocalKafka, kafka_bootstrap: str) -> None:
    assert kafka_broker.is_running()
    assert kafka_bootstrap == f"127.0.0.1:{kafka_broker.port}"
    assert kafka_broker.rss_bytes() > 50 * 2**20


def test_new_topic_has_requested_partitions(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    from confluent_kafka.admin import AdminClient

    name = new_topic(partitions=4)
    other = new_topic(partitions=1)
    assert name != other
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert len(metadata.topics[name].partitions) == 4
    assert len(metadata.topics[other].partitions) == 1


def test_confluent_kafka_round_trip(
    kafka_bootstrap: str, new_topic: NewTopicFactory, consumer_config: ConsumerConfigFactory
) -> None:
    topic = new_topic(partitions=3)
    sent = _records(300, "confluent")
    _produce(kafka_bootstrap, topic, sent)
    got = _consume(consumer_config(f"g-{uuid.uuid4().hex}"), topic, len(sent))
    assert len(got) == len(sent)
    assert _ordered_by_key(got) == _ordered_by_key(sent)


def test_aiokafka_round_trip(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = new_topic(partitions=2)
    sent = _records(120, "aiokafka")

    async def run() -> list[tuple[bytes, bytes]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for key, value in sent:
                await producer.send(topic, value=value, key=key)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"g-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        await consumer.start()
        got: list[tuple[bytes, bytes]] = []
        try:
            while len(got) < len(sent):
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), TIMEOUT_S)
                got.extend((m.key, m.value) for msgs in batches.values() for m in msgs)
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(asyncio.wait_for(run(), TIMEOUT_S * 2))
    assert len(got) == len(sent)
    assert _ordered_by_key(got) == _ordered_by_key(sent)


def test_faust_agent_consumes_topic(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    topic_name = new_topic(partitions=1)
    sent = _records(50, "faust")
    _produce(kafka_bootstrap, topic_name, sent)
    got = asyncio.run(
        asyncio.wait_for(_run_faust_agent(kafka_bootstrap, topic_name, len(sent)), TIMEOUT_S * 2)
    )
    assert got == [value for _key, value in sent]


async def _run_faust_agent(bootstrap: str, topic_name: str, n: int) -> list[bytes]:
    import faust

    app = faust.App(
        f"streamdrift-test-{uuid.uuid4().hex[:8]}",
        datadir=tempfile.mkdtemp(prefix="streamdrift-test-faust-"),
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
    )
    topic = app.topic(topic_name, value_serializer="raw", key_serializer="raw")
    received: list[bytes] = []
    done = asyncio.Event()

    @app.agent(topic)
    async def collect(stream: Any) -> None:
        async for value in stream:
            received.append(value)
            if len(received) >= n:
                done.set()

    await app.start()
    try:
        await asyncio.wait_for(done.wait(), TIMEOUT_S)
    finally:
        await app.stop()
    return received


def test_transaction_commit_visible_and_abort_invisible(
    kafka_bootstrap: str, new_topic: NewTopicFactory, consumer_config: ConsumerConfigFactory
) -> None:
    source, sink = new_topic(partitions=1), new_topic(partitions=1)
    _produce(kafka_bootstrap, source, _records(10, "in"))
    group = f"txn-{uuid.uuid4().hex}"
    consumer = Consumer(
        {**consumer_config(group), "enable.auto.commit": False, "isolation.level": "read_committed"}
    )
    consumer.assign([TopicPartition(source, 0, 0)])
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"})
    producer.init_transactions(TIMEOUT_S)
    try:
        inputs = [m for m in consumer.consume(num_messages=10, timeout=TIMEOUT_S) if m.error() is None]
        assert len(inputs) == 10

        producer.begin_transaction()
        producer.produce(sink, key=b"k", value=b"committed-1")
        producer.produce(sink, key=b"k", value=b"committed-2")
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), TIMEOUT_S
        )
        producer.commit_transaction(TIMEOUT_S)

        producer.begin_transaction()
        producer.produce(sink, key=b"k", value=b"aborted")
        producer.flush(TIMEOUT_S)
        producer.abort_transaction(TIMEOUT_S)

        committed = consumer.committed([TopicPartition(source, 0)], timeout=TIMEOUT_S)
        assert committed[0].offset == 10
    finally:
        consumer.close()

    reader = {**consumer_config(f"r-{uuid.uuid4().hex}"), "isolation.level": "read_committed"}
    got = _consume(reader, sink, 2)
    assert [v for _k, v in got] == [b"committed-1", b"committed-2"]
    uncommitted = _consume(
        {**reader, "group.id": f"u-{uuid.uuid4().hex}", "isolation.level": "read_uncommitted"}, sink, 3
    )
    assert [v for _k, v in uncommitted] == [b"committed-1", b"committed-2", b"aborted"]


def test_explicit_port_in_use_is_a_clear_error(tmp_path: Path, kafka_broker: LocalKafka) -> None:
    from streamdrift.errors import BrokerError

    broker = LocalKafka(port=kafka_broker.port, data_dir=tmp_path / "explicit")
    with pytest.raises(BrokerError, match=f"127.0.0.1:{kafka_broker.port}: Address already in use"):
        broker.start(timeout=60)
    assert not broker.is_running()


def test_second_broker_beside_first_retries_ports_and_keeps_data_across_restart(
    kafka_broker: LocalKafka,
    consumer_config: ConsumerConfigFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import streamdrift.dev.localkafka as localkafka

    # The first automatically picked port turns out to be taken (here: by the session broker).
    real_find_free_port = localkafka.find_free_port
    picks = iter([kafka_broker.port])
    monkeypatch.setattr(localkafka, "find_free_port", lambda: next(picks, None) or real_find_free_port())
    with LocalKafka(data_dir=tmp_path / "second") as second:
        assert second.port != kafka_broker.port and second.bootstrap != kafka_broker.bootstrap
        localkafka.create_topics(second.bootstrap, {"persisted": 2})
        sent = _records(40, "restart")
        _produce(second.bootstrap, "persisted", sent)
        port, pid = second.port, second.pid
        second.restart()
        assert (second.port, second.bootstrap) == (port, f"127.0.0.1:{port}")
        assert second.pid != pid and second.is_running()
        config = {**consumer_config(f"g-{uuid.uuid4().hex}"), "bootstrap.servers": second.bootstrap}
        got = _consume(config, "persisted", len(sent))
        assert _ordered_by_key(got) == _ordered_by_key(sent)
        assert kafka_broker.is_running()
    assert not second.is_running()
    assert (tmp_path / "second" / "kraft-logs" / "meta.properties").exists()  # a given data dir is kept


def test_find_free_port_with_a_span_gives_ports_free_together() -> None:
    """A role-all worker listens on web_port and web_port + 1: tests ask for both free (a busy second port
    crashed a worker's data plane at start)."""
    for _ in range(20):
        port = find_free_port(span=3)
        assert all(port_is_free(port + i) for i in range(3))
