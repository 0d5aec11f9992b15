"""KafkaCluster's pieces that need no broker: coordinator partitions as Kafka computes them, node properties."""

from __future__ import annotations

from streamdrift.dev.kafkacluster import KafkaCluster, coordinator_partition, java_string_hash
from streamdrift.dev.localkafka import override_properties


def test_java_string_hash_and_coordinator_partitions() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322  # "hello".hashCode() in Java
    assert java_string_hash("polygenelubricants") == -2147483648  # Integer.MIN_VALUE: Utils.abs gives 0
    assert coordinator_partition("polygenelubricants", 10) == 0
    # seen on a broker: "Initialized transactionalId abc-dataplane-w0 ... on partition __transaction_state-1"
    assert coordinator_partition("abc-dataplane-w0", 10) == 1
    assert java_string_hash("abc-dataplane-w0") < 0  # Math.abs, not a mask of the sign bit


def test_properties_are_overridden_in_place_or_appended() -> None:
    text = "# node.id=9 in a comment\nnode.id=1\nmin.insync.replicas=1\n"
    out = override_properties(text, {"node.id": "3", "replica.lag.time.max.ms": "10000"})
    assert out.splitlines() == ["# node.id=9 in a comment", "node.id=3", "min.insync.replicas=1",
                                "replica.lag.time.max.ms=10000"]


def test_cluster_nodes_share_the_quorum_and_cluster_id(tmp_path: object) -> None:
    cluster = KafkaCluster(3, data_dir=str(tmp_path))
    nodes = cluster.nodes
    assert sorted(nodes) == [1, 2, 3] and len(cluster.bootstrap.split(",")) == 3
    voters = {n.property_overrides["controller.quorum.voters"] for n in nodes.values()}
    assert voters == {",".join(f"{i}@127.0.0.1:{n.controller_port}" for i, n in nodes.items())}
    assert [n.property_overrides["node.id"] for n in nodes.values()] == ["1", "2", "3"]
    assert {n.cluster_id for n in nodes.values()} == {cluster.cluster_id}
    assert nodes[1].property_overrides["transaction.state.log.min.isr"] == "2"
    ports = [p for n in nodes.values() for p in (n.port, n.controller_port)]
    assert len(set(ports)) == 6
    single = KafkaCluster(1, data_dir=str(tmp_path))
    assert single.nodes[1].property_overrides["offsets.topic.replication.factor"] == "1"
    assert single.nodes[1].property_overrides["min.insync.replicas"] == "1"
