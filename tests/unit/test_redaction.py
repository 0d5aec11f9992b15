"""The allow-list of librdkafka options whose values may be shown names real options of the bundled librdkafka
(a typo would only hide a harmless value, but the list should say what it means)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer

from streamdrift.redaction import REDACTED, SAFE_KAFKA_OPTIONS, URL_KAFKA_OPTIONS, redact_kafka_options


@pytest.mark.parametrize("option", sorted(SAFE_KAFKA_OPTIONS | URL_KAFKA_OPTIONS))
def test_allow_listed_option_is_known_to_librdkafka(option: str) -> None:
    try:  # an empty value: librdkafka refuses most, but names an unknown option differently
        Producer({"log_level": 0, option: ""}).flush(0)
    except KafkaException as exc:
        assert "No such configuration property" not in str(exc), exc


def test_an_unknown_option_is_what_the_check_above_catches() -> None:
    with pytest.raises(KafkaException, match="No such configuration property"):
        Producer({"log_level": 0, "ssl.keys.pem": ""})


def test_nothing_secret_is_allow_listed() -> None:
    words = ("password", "secret", "pem", "token", "credential", "assertion", "config", "extensions", "kinit",
             "jaas", "passphrase", "plugin", "engine")
    shown = SAFE_KAFKA_OPTIONS | URL_KAFKA_OPTIONS
    # the endpoint URL is shown without credentials; the client id of the client-credentials grant is an identity
    assert sorted(o for o in shown if any(w in o for w in words)) == [
        "sasl.oauthbearer.client.credentials.client.id", "sasl.oauthbearer.token.endpoint.url"]
    assert redact_kafka_options({"plugin.library.paths": "/x.so", "acks": "all"}) == {
        "plugin.library.paths": REDACTED, "acks": "all"}
