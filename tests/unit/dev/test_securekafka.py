"""The local broker's secured listener: the properties it appends, the SCRAM arguments, the TLS material."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streamdrift.dev import securekafka
from streamdrift.dev.localkafka import default_kafka_home
from streamdrift.errors import BrokerError


def test_properties_fill_every_placeholder(tmp_path: Path) -> None:
    template = (default_kafka_home() / securekafka.TEMPLATE_NAME).read_text(encoding="utf-8")
    text = securekafka.render_sasl_ssl_properties(template, 9092, 9094, 9093, tmp_path, "pw")
    assert "@" not in text.replace("@127", "")
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    )
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["super.users"] == "User:ANONYMOUS;User:admin"
    assert props["ssl.keystore.location"] == f"{tmp_path}/broker.p12"


def test_scram_arguments_and_refused_characters() -> None:
    args = securekafka.scram_format_args({"b": "pw2", "a": "pw1"})
    assert args == ["--add-scram", "SCRAM-SHA-512=[name=a,password=pw1]",
                    "--add-scram", "SCRAM-SHA-512=[name=b,password=pw2]"]  # fmt: skip
    for bad in ({"a,b": "x"}, {"a": "p=w"}, {"": "x"}, {"a": "]"}):
        with pytest.raises(BrokerError):
            securekafka.scram_format_args(bad)


def test_listener_always_has_admin_and_client_config_carries_the_password(tmp_path: Path) -> None:
    listener = securekafka.listener(9094, tmp_path, {"sd": "pw"})
    assert set(listener.users) == {"sd", "admin"}
    assert "pw" not in repr(listener)
    config = listener.client_config("sd")
    assert config["sasl.password"] == "pw" and config["ssl.ca.location"] == f"{tmp_path}/tls/ca.pem"
    assert "sasl.password" not in listener.kafka_options("sd")
    with pytest.raises(BrokerError, match="no SCRAM user"):
        listener.client_config("nobody")


def test_tls_material_is_a_ca_signed_broker_certificate_for_loopback(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    password = securekafka.ensure_tls(tls)
    assert securekafka.ensure_tls(tls) == password  # made once
    assert (tls / "keystore.password").stat().st_mode & 0o077 == 0
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(tls / "ca.pem"), str(tls / "broker.pem")],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    text = subprocess.run(["openssl", "x509", "-in", str(tls / "broker.pem"), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
