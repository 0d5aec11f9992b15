"""streamdrift against a secured broker: SASL_SSL (SCRAM-SHA-512 over TLS, a CA made at start) and KRaft's
StandardAuthorizer, on the session's secured local broker (``secured_kafka`` in tests/conftest.py).

The SDK, ``topics create``, ``baseline publish`` and a worker (both planes) run over the SASL_SSL listener; a wrong
password is an error naming the listener and the mechanism with no secret in any output; a principal without an
ACL the worker needs is refused at start with the topic and the operation."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka.admin._acl import AclOperation
from harness import (
    capture_records,
    create_all_topics,
    http_get,
    produce,
    read_topic,
    settings_env,
    unique_settings,
    wait_until,
    worker_process,
)
from secured import SCRAM_USERS, grant_prefix, secured_settings

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import LocalKafka, find_free_port
from streamdrift.sdk.client import CaptureClient
from streamdrift.settings import Settings, WindowSettings
from streamdrift.worker.baselines import publish_baseline

pytestmark = pytest.mark.integration

SIZE_MS = 4000
PER_WINDOW = 300
WRONG = "wrong-password-9f8e7d"


def _cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamdrift", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=timeout, check=False)


def _plain(broker: LocalKafka, settings: Settings) -> Settings:
    """The same topics over the PLAINTEXT listener (super user ANONYMOUS): to check what the secured clients did."""
    return settings.model_copy(update={"bootstrap_servers": broker.bootstrap, "kafka": {}, "sasl_password": None})


def _baseline_json(model_id: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    rows = [orjson.loads(r)["features"] for r in capture_records(model_id, [0] * 2000, rng)]
    return build_baseline([columns_from_rows(rows)], model_id).to_json()


def _listener_text(broker: LocalKafka, user: str) -> str:
    assert broker.sasl_ssl is not None
    return f"listener SASL_SSL://{broker.sasl_ssl.bootstrap} (SASL mechanism SCRAM-SHA-512, user '{user}')"


def test_topics_create_and_baseline_publish_over_sasl_ssl(secured_kafka: LocalKafka, tmp_path: Path) -> None:
    settings = secured_settings(secured_kafka, "admin", unique_settings("unused:1", capture_partitions=3))
    created = _cli(settings, "topics", "create")
    assert created.returncode == 0, created.stderr
    assert f"{settings.topics.capture} " in created.stdout and "created" in created.stdout
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(_baseline_json("m1", seed=1))
    published = _cli(settings, "baseline", "publish", str(baseline))
    assert published.returncode == 0, published.stderr
    assert "of model m1" in published.stdout
    # what they did, seen over PLAINTEXT
    plain = _plain(secured_kafka, settings)
    msgs = read_topic(plain, settings.topics.baselines, until=time.monotonic() + 20, stop_after=1)
    assert [m.key() for m in msgs] == [b"m1"]
    again = _cli(settings, "topics", "create")
    assert again.returncode == 0 and "exists" in again.stdout and "partitions=3" in again.stdout
    for output in (created.stdout + created.stderr, published.stdout + published.stderr):
        assert SCRAM_USERS["admin"] not in output


def test_wrong_password_names_listener_and_mechanism_and_logs_no_secret(secured_kafka: LocalKafka) -> None:
    settings = secured_settings(secured_kafka, "admin", unique_settings("unused:1"), password=WRONG)
    for args in (("topics", "create"), ("run", "--role", "dataplane", "--log-level", "INFO")):
        done = _cli(settings, *args)
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert f"authentication failed on {_listener_text(secured_kafka, 'admin')}" in done.stderr, output
        assert "invalid credentials" in done.stderr  # the broker's reason, kept
        assert WRONG not in output and SCRAM_USERS["admin"] not in output


def test_sdk_captures_over_sasl_ssl_and_says_clearly_when_refused(
    secured_kafka: LocalKafka, caplog: pytest.LogCaptureFixture
) -> None:
    assert secured_kafka.sasl_ssl is not None
    admin = secured_settings(secured_kafka, "admin", unique_settings("unused:1", capture_partitions=2))
    create_all_topics(admin)
    options = secured_kafka.sasl_ssl.kafka_options("admin")
    with CaptureClient(secured_kafka.sasl_ssl.bootstrap, "m1", topic=admin.topics.capture,
                       kafka_config={**options, "sasl.password": SCRAM_USERS["admin"]}) as client:
        for i in range(200):
            client.capture({"f0": float(i), "c0": "red"}, 1)
        assert client.flush(30) == 0
        assert client.sent == 200 and client.dropped == 0 and not client.authentication_failed
    msgs = read_topic(_plain(secured_kafka, admin), admin.topics.capture, until=time.monotonic() + 20,
                      stop_after=200)
    assert len(msgs) == 200

    caplog.set_level(logging.INFO, logger="streamdrift")
    refused = CaptureClient(secured_kafka.sasl_ssl.bootstrap, "m1", topic=admin.topics.capture,
                            kafka_config={**options, "sasl.password": WRONG, "message.timeout.ms": "3000"})
    for i in range(5):
        refused.capture({"f0": float(i)}, 1)
    refused.flush(8)
    refused.close(2)
    assert refused.authentication_failed and refused.sent == 0 and refused.dropped == 5
    assert f"authentication failed on {_listener_text(secured_kafka, 'admin')}" in caplog.text, caplog.text
    assert WRONG not in caplog.text


def test_worker_without_an_acl_it_needs_names_topic_and_operation(secured_kafka: LocalKafka) -> None:
    admin = secured_settings(secured_kafka, "admin", unique_settings("unused:1", capture_partitions=2))
    create_all_topics(admin)
    prefix = admin.group_id  # "sd-<tag>": the run's topics, groups and transactional ids start with it
    # everything but READ on topics: the data plane cannot read capture
    grant_prefix(secured_kafka, "restricted", prefix,
                 topic_ops=(AclOperation.DESCRIBE, AclOperation.WRITE, AclOperation.CREATE))
    worker = secured_settings(secured_kafka, "restricted", admin)
    done = _cli(worker, "run", "--role", "dataplane")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"User:restricted may not READ topic '{admin.topics.capture}', which role dataplane needs"
            in done.stderr), done.stderr
    assert SCRAM_USERS["restricted"] not in done.stdout + done.stderr


def test_worker_runs_both_planes_over_sasl_ssl(secured_kafka: LocalKafka, tmp_path: Path) -> None:
    base = unique_settings(
        "unused:1", capture_partitions=2,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
        commit_interval=0.5, merge_timeout=30.0, web_host="127.0.0.1", web_port=find_free_port(span=2),
    )  # fmt: skip
    admin = secured_settings(secured_kafka, "admin", base)
    create_all_topics(admin)
    publish_baseline(admin, _baseline_json("m1", seed=2))
    grant_prefix(secured_kafka, "streamdrift", admin.group_id)
    rng = np.random.default_rng(5)
    first = (int(time.time() * 1000) // SIZE_MS - 5) * SIZE_MS
    produced: Counter[int] = Counter()
    values: list[bytes] = []
    for w in range(3):
        start = first + w * SIZE_MS
        values += capture_records("m1", np.sort(rng.integers(start, start + SIZE_MS, PER_WINDOW)).tolist(), rng)
        produced[start] += PER_WINDOW
    produce(admin, admin.topics.capture, values)

    worker = secured_settings(secured_kafka, "streamdrift", base)
    log_path = tmp_path / "worker.log"
    url = f"http://127.0.0.1:{worker.web_port}/status/m1"
    with worker_process(worker, log_path=log_path, extra_args=()):
        status = wait_until(lambda: orjson.loads(http_get(url)[1]), lambda s: len(s["windows"]) >= 3, timeout=120)
    counts = sorted(w["n_records"] for w in status["windows"])
    assert counts == [PER_WINDOW] * 3, status["windows"]
    assert all(w["evaluated"] for w in status["windows"])
    assert SCRAM_USERS["streamdrift"] not in log_path.read_text(encoding="utf-8", errors="replace")
