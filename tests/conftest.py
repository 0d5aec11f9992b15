"""Shared pytest fixtures.

``kafka_broker`` starts one real local Apache Kafka broker per test session, lazily: only when a test
that needs it (an integration test) is collected and run, so unit tests never start a JVM.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

import pytest
from prometheus_client import CollectorRegistry

from streamdrift.dev.kafkacluster import KafkaCluster
from streamdrift.dev.localkafka import LocalKafka, create_topics

# Consumer settings every test consumer should use: fast group joins on the single local broker.
TEST_CONSUMER_CONFIG: Final[Mapping[str, Any]] = MappingProxyType(
    {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "auto.offset.reset": "earliest"}
)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka]:
    """A real single-node Kafka (KRaft) on free ports and a temporary data dir, for the whole session.

    Shared by every integration test: do not stop or restart it; a test that needs a broker restart
    starts its own ``LocalKafka`` (see tests/integration/test_kafka_basics.py).
    """
    broker = LocalKafka(stop_with_parent=True)
    try:
        broker.start(timeout=120)
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def secured_kafka() -> Iterator[LocalKafka]:
    """A second session broker with a SASL_SSL listener (SCRAM-SHA-512, TLS, StandardAuthorizer) beside PLAINTEXT:
    ``.sasl_ssl`` has its address, CA and SCRAM users (``admin``, a super user; ``streamdrift`` and ``restricted``,
    ACLs only). Started lazily by the secured-broker tests (tests/integration/test_secured_kafka.py)."""
    from secured import SCRAM_USERS

    broker = LocalKafka(stop_with_parent=True, secured=True, scram_users=SCRAM_USERS)
    try:
        broker.start(timeout=120)
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    """A three-node KRaft cluster (replication 3, min ISR 2) on free ports, started once per session by the tests
    that need it (tests/integration/test_cluster_exactly_once.py). Its tests kill, pause and restart nodes:
    each leaves every node running and in sync."""
    cluster = KafkaCluster(3, stop_with_parent=True)
    try:
        cluster.start(timeout=240)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka) -> str:
    """``"127.0.0.1:PORT"`` of the session broker."""
    return kafka_broker.bootstrap


NewTopic = Callable[..., str]


@pytest.fixture
def new_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> NewTopic:
    """Factory: ``new_topic(partitions=1, prefix=None, config=None) -> name`` creates a uniquely named topic."""

    def factory(partitions: int = 1, prefix: str | None = None, config: dict[str, str] | None = None) -> str:
        base = prefix or request.node.name
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in base)[:120]
        name = f"{safe}-{uuid.uuid4().hex[:10]}"
        create_topics(kafka_bootstrap, {name: partitions}, config=config)
        return name

    return factory


@pytest.fixture
def consumer_config(kafka_bootstrap: str) -> Callable[[str], dict[str, Any]]:
    """Factory: ``consumer_config(group_id) -> dict`` of a confluent-kafka consumer on the session broker."""

    def factory(group_id: str) -> dict[str, Any]:
        return {"bootstrap.servers": kafka_bootstrap, "group.id": group_id, **TEST_CONSUMER_CONFIG}

    return factory


@pytest.fixture
def prometheus_registry() -> CollectorRegistry:
    """A fresh, private Prometheus registry (metric names may be registered again in each test)."""
    return CollectorRegistry()


_SESSION_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _SESSION_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without the interpreter's module teardown once pytest has reported.

    Sketches still referenced by test modules at shutdown make datasketches' nanobind bindings print pages of
    "leaked instances" after pytest's summary (they are not leaks: the objects are alive until the process
    ends). The same exit as the ``streamdrift`` console script: collect, flush, exit with pytest's status.
    """
    import gc
    import os
    import sys

    if not _SESSION_STATUS:
        return
    gc.collect()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_SESSION_STATUS[-1])
