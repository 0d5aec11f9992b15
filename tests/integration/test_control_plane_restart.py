"""The control plane's merge state across a crash, on the real broker: a window one capture partition has
reported and committed before a kill -9 is completed after the restart by the other partitions' partials alone,
with every record, because the merger's state comes back from the ``windows`` table's changelog (the consumed
partials are not read again)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from harness import (
    capture_records,
    create_all_topics,
    http_get,
    kill_worker,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
)

from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import Settings, WindowSettings
from streamdrift.window.partials import PartialDelta, WindowClosed, encode_partial

pytestmark = pytest.mark.integration

SIZE_MS = 60_000
RECORDS = {0: 100, 1: 200, 2: 300}  # per capture partition


def _settings(bootstrap: str) -> Settings:
    return unique_settings(
        bootstrap,
        capture_partitions=len(RECORDS),
        window=WindowSettings(size=SIZE_MS / 1000, lateness=1.0, idle_timeout=600.0),
        merge_timeout=600.0,  # a window is released complete or not within the test
        web_host="127.0.0.1",
        web_port=find_free_port(span=2),
    )


def _report(settings: Settings, producer: Producer, partition: int, start: int, rng: np.random.Generator) -> None:
    """What a data plane sends when capture partition ``partition`` closes the window: its delta, then its
    close marker to every partials partition."""
    rows = [orjson.loads(r)["features"] for r in capture_records("m1", [start] * RECORDS[partition], rng)]
    profile = DatasetProfile.empty(ProfileParams(kll_k=settings.profile.kll_k))
    profile.update(columns_from_rows(rows))
    end = start + SIZE_MS
    delta = PartialDelta("m1", None, start, end, settings.topics.capture, partition, 10 * (partition + 1),
                         RECORDS[partition], profile)
    producer.produce(settings.topics.partials, key=b"m1", value=encode_partial(delta))
    closed = encode_partial(WindowClosed(settings.topics.capture, partition, start, end, end + 1, ("m1",)))
    for p in range(settings.topics.partitions):
        producer.produce(settings.topics.partials, value=closed, partition=p)
    assert producer.flush(30) == 0


def _partials(settings: Settings) -> list[TopicPartition]:
    return [TopicPartition(settings.topics.partials, p) for p in range(settings.topics.partitions)]


def _ends(settings: Settings) -> dict[int, int]:
    consumer = Consumer(settings.client_config({"group.id": f"probe-{settings.group_id}"}))
    try:
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in _partials(settings)}
    finally:
        consumer.close()


def _committed(settings: Settings) -> dict[int, int]:
    """The control plane's committed offsets on partials (its faust app id is its consumer group)."""
    consumer = Consumer(settings.client_config({"group.id": f"{settings.group_id}-control"}))
    try:
        return {tp.partition: tp.offset for tp in consumer.committed(_partials(settings), timeout=10)}
    finally:
        consumer.close()


def _status(settings: Settings, path: str) -> Any:
    return orjson.loads(http_get(f"http://127.0.0.1:{settings.web_port}{path}")[1])


def test_a_window_half_merged_before_a_crash_completes_after_the_restart(kafka_bootstrap: str,
                                                                         tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap)
    create_all_topics(settings)
    producer = Producer(settings.client_config({"linger.ms": 0}))
    rng = np.random.default_rng(8)
    start = (int(time.time() * 1000) // SIZE_MS - 3) * SIZE_MS
    log = tmp_path / "control.log"

    _report(settings, producer, 0, start, rng)
    ends = _ends(settings)
    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        wait_until(lambda: _status(settings, "/status")["open_windows"], lambda w: sum(w.values()) == 1, timeout=90)
        # the control plane committed past partition 0's messages: after the restart it does not read them again
        wait_until(lambda: _committed(settings), lambda c: all(c[p] >= end for p, end in ends.items()), timeout=60)
    finally:
        kill_worker(proc)

    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        _report(settings, producer, 1, start, rng)
        _report(settings, producer, 2, start, rng)
        status = wait_until(lambda: _status(settings, "/status/m1"), lambda s: len(s["windows"]) >= 1, timeout=90)
    finally:
        stop_worker(proc)
    windows = status["windows"]
    assert isinstance(windows, list) and len(windows) == 1, windows
    window = windows[0]
    assert window["n_records"] == sum(RECORDS.values()) and window["partial"] is False, window
    assert window["partitions_closed"] == sorted(RECORDS), window


def test_a_changelog_faust_cannot_use_ends_the_control_plane_for_its_supervisor(kafka_bootstrap: str,
                                                                                tmp_path: Path) -> None:
    """faust keeps the windows table's changelog at the partition count it first read: on a cluster, a changelog
    it just declared could read as 0 partitions (a broker without its metadata yet), and every table write then
    failed with PartitionsMismatch while faust restarted the agent every 5 s, forever, in a process that looked
    alive. A changelog of the wrong partition count (made here on purpose) gives the same error: the control
    plane must end, and its supervisor start a new process, at once."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    settings = _settings(kafka_bootstrap)
    create_all_topics(settings)
    changelog = f"{settings.group_id}-control-windows-changelog"
    admin = AdminClient(settings.client_config({}))
    admin.create_topics([NewTopic(changelog, 1, 1)])[changelog].result(30)
    producer = Producer(settings.client_config({"linger.ms": 0}))
    log = tmp_path / "control.log"
    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        _report(settings, producer, 0, (int(time.time() * 1000) // SIZE_MS - 3) * SIZE_MS, np.random.default_rng(9))
        text = wait_until(lambda: log.read_text(errors="replace"), lambda t: "starting it again (1/" in t, timeout=120)
    finally:
        stop_worker(proc)
    assert "the windows table's changelog is not usable" in text
    assert text.count("Crashed reason=PartitionsMismatch") <= 1, "faust restarted the failing agent"
