"""What the secured-cluster checks ask for and how they name the listener (no broker: the broker side is in
tests/integration/test_secured_kafka.py)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from streamdrift.errors import KafkaError
from streamdrift.settings import LabelSettings, Settings
from streamdrift.worker.access import endpoint, needed_operations


def test_needed_operations_per_role() -> None:
    s = Settings()
    t = s.topics
    dataplane = needed_operations(s, "dataplane")
    assert dataplane == {t.capture: {"READ"}, t.labels: {"READ"}, t.partials: {"WRITE"}, t.deadletter: {"WRITE"}}
    control = needed_operations(s, "controlplane")
    assert control == {t.partials: {"READ", "WRITE"}, t.baselines: {"READ"}, t.alerts: {"WRITE"}}
    both = needed_operations(s, "all")
    assert both[t.partials] == {"READ", "WRITE"} and set(both) == set(dataplane) | set(control)
    no_labels = needed_operations(s.model_copy(update={"labels": LabelSettings(enabled=False)}), "dataplane")
    assert t.labels not in no_labels
    with pytest.raises(KafkaError, match="unknown role"):
        needed_operations(s, "everything")


def test_endpoint_names_protocol_address_mechanism_and_user_never_the_password() -> None:
    plain = Settings(bootstrap_servers="b1:9092,b2:9092")
    assert endpoint(plain) == "listener PLAINTEXT://b1:9092,b2:9092"
    secured = Settings(
        bootstrap_servers="b:9093", sasl_password=SecretStr("s3cret-value"),
        kafka={"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "sd"},
    )  # fmt: skip
    text = endpoint(secured)
    assert text == "listener SASL_SSL://b:9093 (SASL mechanism SCRAM-SHA-512, user 'sd')"
    assert "s3cret" not in text
    tls = Settings(bootstrap_servers="b:9093", kafka={"security.protocol": "SSL"})
    assert endpoint(tls) == "listener SSL://b:9093"
