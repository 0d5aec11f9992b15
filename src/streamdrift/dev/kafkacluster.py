"""A local Apache Kafka cluster of N KRaft nodes on 127.0.0.1 (each a combined broker + controller), for
tests and benchmarks of what a real cluster does to exactly-once: leaders that die, a transaction coordinator
that moves, a broker cut off. ``deploy/kafka/kafka.sh cluster-start`` starts the same cluster from a shell.

Every node is a :class:`~streamdrift.dev.localkafka.LocalKafka` (same template, jars and JVM options) with
its node id, the shared controller quorum and cluster id, and replication 3 / min ISR 2 for the internal
topics and the broker defaults (:data:`CLUSTER_PROPERTIES`). Usage::

    with KafkaCluster(3) as cluster:             # free ports, a temporary data dir
        create_topics(cluster.bootstrap, {"captures": 6}, replication_factor=3)
        cluster.kill(cluster.leader("captures", 0))   # kill -9; cluster.start_node(i) brings it back
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from streamdrift.dev.jvmprocess import POLL_S
from streamdrift.dev.localkafka import LocalKafka, fetch_jars, find_free_port, new_cluster_id
from streamdrift.errors import BrokerError

# Broker settings of every node of a 3-node cluster (kafka.sh cluster-start writes the same ones).
CLUSTER_PROPERTIES: Mapping[str, str] = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    # a follower that stops fetching leaves the ISR after 10 s (default 30 s): a broker cut off is noticed sooner
    "replica.lag.time.max.ms": "10000",
}
TRANSACTION_STATE_PARTITIONS = 10  # transaction.state.log.num.partitions of server.properties.template
OFFSETS_PARTITIONS = 10  # offsets.topic.num.partitions


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` (UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def coordinator_partition(key: str, partitions: int) -> int:
    """The internal-topic partition whose leader coordinates ``key`` (a transactional id in
    ``__transaction_state``, a group id in ``__consumer_offsets``): Kafka's ``Utils.abs(hashCode) % partitions``."""
    h = java_string_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


class KafkaCluster:
    """``size`` local KRaft nodes (node ids 1..size), all voters of the controller quorum.

    ``data_dir`` defaults to a temporary directory (one ``node-<id>`` directory per node) that :meth:`close`
    deletes. Ports are picked free; a node keeps its ports and data across :meth:`kill` / :meth:`start_node`.
    ``properties``: broker settings on top of :data:`CLUSTER_PROPERTIES` (e.g. a smaller replica lag).
    """

    def __init__(
        self,
        size: int = 3,
        data_dir: str | Path | None = None,
        *,
        kafka_home: Path | None = None,
        java: str = "java",
        stop_with_parent: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        if size < 1:
            raise BrokerError(f"a cluster needs at least one node, not {size}")
        self._owns_data_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="streamdrift-cluster-")).resolve()
        ports: list[int] = []
        while len(ports) < 2 * size:
            port = find_free_port()
            if port not in ports:
                ports.append(port)
        voters = ",".join(f"{i + 1}@127.0.0.1:{ports[2 * i + 1]}" for i in range(size))
        overrides = {**CLUSTER_PROPERTIES, **(properties or {}), "controller.quorum.voters": voters}
        if size < 3:  # replication cannot exceed the brokers
            rf, isr = str(size), str(min(size, 2) - 1 or 1)
            overrides.update({k: rf for k in overrides if k.endswith("replication.factor")})
            overrides.update({k: isr for k in overrides if k.endswith(("min.isr", "min.insync.replicas"))})
        self.cluster_id = new_cluster_id()
        self.nodes: dict[int, LocalKafka] = {}
        for i in range(size):
            node = LocalKafka(ports[2 * i], ports[2 * i + 1], self.data_dir / f"node-{i + 1}", kafka_home=kafka_home,
                              java=java, stop_with_parent=stop_with_parent)
            node.cluster_id = self.cluster_id
            node.property_overrides = {**overrides, "node.id": str(i + 1)}
            self.nodes[i + 1] = node
        self.paused: set[int] = set()

    # -- the cluster ----------------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        """Every node's listener, comma-separated (what clients get as ``bootstrap.servers``)."""
        return ",".join(node.bootstrap for node in self.nodes.values())

    def start(self, timeout: float = 180.0) -> None:
        """Start every node that is not running, together (a node serves once the quorum has a majority), and
        wait until the cluster's metadata lists every broker."""
        stopped = [node for node in self.nodes.values() if not node.is_running()]
        if stopped:
            fetch_jars(stopped[0].kafka_home)
        # launched from this thread: a node's stop_with_parent signal follows the thread that started it
        offsets = [(node, node.launch()) for node in stopped]
        try:
            for node, offset in offsets:
                node.wait_ready(offset, timeout)
            self.wait_for_brokers(set(self.nodes), timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for i in list(self.paused):
            self.resume(i)
        for node in self.nodes.values():  # SIGTERM all first: a node's controlled shutdown needs the quorum
            pid = node.pid
            if pid is not None:
                os.killpg(pid, signal.SIGTERM)
        for node in self.nodes.values():
            node.stop()

    def close(self) -> None:
        """Stop every node and delete the data dir if this object created it (then without a controlled
        shutdown: the data goes anyway, and three nodes shutting down together wait for each other)."""
        if self._owns_data_dir:
            for i in list(self.nodes):
                self.kill(i)
        self.stop()
        for node in self.nodes.values():
            node.close()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        running = [i for i, node in self.nodes.items() if node.is_running()]
        return f"KafkaCluster(bootstrap={self.bootstrap!r}, running={running}, paused={sorted(self.paused)})"

    # -- failures -------------------------------------------------------------------------------------------
    def kill(self, node_id: int) -> None:
        """kill -9 one node (no shutdown: no leadership hand-over, no flushed log); data and ports are kept."""
        node = self.nodes[node_id]
        pid = node.pid
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
        node.stop()
        self.paused.discard(node_id)

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Start a killed or stopped node again (same ports and data) and wait until it serves."""
        self.nodes[node_id].start(timeout=timeout)

    def restart_node(self, node_id: int, timeout: float = 120.0) -> None:
        """A clean restart of one node (SIGTERM: controlled shutdown moves its leaderships first)."""
        self.nodes[node_id].restart(timeout=timeout)

    def pause(self, node_id: int) -> None:
        """SIGSTOP one node: it neither replicates nor heartbeats, while clients still connect to its port (the
        kernel accepts their connections; no request is answered) -- a broker cut off from the others."""
        pid = self.nodes[node_id].pid
        if pid is None:
            raise BrokerError(f"node {node_id} is not running")
        os.killpg(pid, signal.SIGSTOP)
        self.paused.add(node_id)

    def resume(self, node_id: int) -> None:
        pid = self.nodes[node_id].pid
        if pid is not None:
            os.killpg(pid, signal.SIGCONT)
        self.paused.discard(node_id)

    # -- metadata -------------------------------------------------------------------------------------------
    def _reachable(self) -> str:
        up = [n.bootstrap for i, n in self.nodes.items() if n.is_running() and i not in self.paused]
        if not up:
            raise BrokerError("no node of the cluster is running")
        return ",".join(up)

    def metadata(self, topic: str | None = None, timeout: float = 10.0) -> Any:
        """Cluster metadata from the running, unpaused nodes (confluent-kafka ``ClusterMetadata``)."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self._reachable(), "topic.metadata.refresh.interval.ms": 1000})
        return admin.list_topics(topic, timeout=timeout)

    def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> the node id of its leader (-1: none now)."""
        info = self.metadata(topic).topics[topic]
        if info.error is not None:
            raise BrokerError(f"no metadata for {topic}: {info.error}")
        return {p: int(pm.leader) for p, pm in info.partitions.items()}

    def leader(self, topic: str, partition: int) -> int:
        return self.leaders(topic)[partition]

    def transaction_coordinator(self, transactional_id: str) -> int:
        """The node that coordinates ``transactional_id``'s transactions (the leader of its
        ``__transaction_state`` partition)."""
        return self.leader("__transaction_state",
                           coordinator_partition(transactional_id, TRANSACTION_STATE_PARTITIONS))

    def group_coordinator(self, group_id: str) -> int:
        return self.leader("__consumer_offsets", coordinator_partition(group_id, OFFSETS_PARTITIONS))

    def wait_for_brokers(self, node_ids: set[int], timeout: float = 120.0) -> None:
        """Until the metadata lists exactly ``node_ids`` as brokers."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = set(self.metadata(timeout=5).brokers)
                if last == node_ids:
                    return
            except Exception as exc:  # not answering yet: try again
                last = exc
            time.sleep(POLL_S * 5)
        raise BrokerError(f"cluster brokers are not {sorted(node_ids)} after {timeout:.0f}s: {last}")

    def wait_in_sync(self, timeout: float = 180.0) -> None:
        """Until every partition of every topic (internal ones too) has all its replicas in sync and a leader:
        the cluster is whole again and the next failure starts from full replication."""
        deadline, lagging = time.monotonic() + timeout, ["?"]
        while time.monotonic() < deadline:
            try:
                topics = self.metadata(timeout=5).topics
                lagging = [f"{t}/{p}" for t, info in topics.items() for p, pm in info.partitions.items()
                           if pm.leader < 0 or set(pm.isrs) != set(pm.replicas)]
                if not lagging:
                    return
            except Exception as exc:  # a node not answering yet: try again
                lagging = [str(exc)]
            time.sleep(POLL_S * 5)
        raise BrokerError(f"partitions not in sync after {timeout:.0f}s: {lagging[:10]}")
