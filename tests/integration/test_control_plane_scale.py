"""Two control planes on the real broker: they split the partials partitions between them (one faust consumer
group), and when one is killed (kill -9) the other takes over its partitions and completes the windows it held,
restored from the ``windows`` table's changelog, with every record of each window exactly once."""

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
from streamdrift.settings import LabelSettings, Settings, TopicSettings, WindowSettings
from streamdrift.window.partials import PartialDelta, WindowClosed, encode_partial

pytestmark = pytest.mark.integration

SIZE_MS = 60_000
RECORDS = {0: 100, 1: 200}  # per capture partition, per model
N_PARTIALS = 4
MODELS = [f"m{i}" for i in range(8)]  # m{i} on partials partition i % N_PARTIALS


def _settings(bootstrap: str) -> Settings:
    base = unique_settings(
        bootstrap,
        capture_partitions=len(RECORDS),
        window=WindowSettings(size=SIZE_MS / 1000, lateness=1.0, idle_timeout=600.0),
        merge_timeout=600.0,  # a window is released complete or not within the test
        labels=LabelSettings(enabled=False),
        web_host="127.0.0.1",
    )
    topics = TopicSettings(**{**base.topics.model_dump(), "partitions": N_PARTIALS})
    return base.model_copy(update={"topics": topics})


def _report(settings: Settings, producer: Producer, capture_partition: int, start: int,
            rng: np.random.Generator) -> None:
    """What the data plane of ``capture_partition`` sends when it closes the window: each model's delta on the
    model's partials partition, then its close marker to every partials partition."""
    end = start + SIZE_MS
    n = RECORDS[capture_partition]
    for i, model in enumerate(MODELS):
        rows = [orjson.loads(r)["features"] for r in capture_records(model, [start] * n, rng)]
        profile = DatasetProfile.empty(ProfileParams(kll_k=settings.profile.kll_k))
        profile.update(columns_from_rows(rows))
        delta = PartialDelta(model, None, start, end, settings.topics.capture, capture_partition,
                             10 * (capture_partition + 1), n, profile)
        producer.produce(settings.topics.partials, key=model.encode(), value=encode_partial(delta),
                         partition=i % N_PARTIALS)
    closed = encode_partial(WindowClosed(settings.topics.capture, capture_partition, start, end, end + 1,
                                         tuple(MODELS)))
    for p in range(N_PARTIALS):
        producer.produce(settings.topics.partials, value=closed, partition=p)
    assert producer.flush(30) == 0


def _partials(settings: Settings) -> list[TopicPartition]:
    return [TopicPartition(settings.topics.partials, p) for p in range(N_PARTIALS)]


def _ends(settings: Settings) -> dict[int, int]:
    consumer = Consumer(settings.client_config({"group.id": f"probe-{settings.group_id}"}))
    try:
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in _partials(settings)}
    finally:
        consumer.close()


def _committed(settings: Settings) -> dict[int, int]:
    consumer = Consumer(settings.client_config({"group.id": f"{settings.group_id}-control"}))
    try:
        return {tp.partition: tp.offset for tp in consumer.committed(_partials(settings), timeout=10)}
    finally:
        consumer.close()


def _get(port: int, path: str) -> Any:
    return orjson.loads(http_get(f"http://127.0.0.1:{port}{path}")[1])


def _split(ports: tuple[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """Open windows per partials partition of each control plane (its mergers: the partitions it holds)."""
    a, b = ({int(p): n for p, n in _get(port, "/status")["open_windows"].items()} for port in ports)
    return a, b


def _is_split(split: tuple[dict[int, int], dict[int, int]]) -> bool:
    a, b = split
    return bool(a) and bool(b) and not set(a) & set(b) and set(a) | set(b) == set(range(N_PARTIALS)) \
        and sum(a.values()) + sum(b.values()) == len(MODELS)


def test_two_control_planes_split_partitions_and_one_takes_over_a_killed_ones_windows(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = _settings(kafka_bootstrap)
    create_all_topics(settings)
    producer = Producer(settings.client_config({"linger.ms": 0}))
    rng = np.random.default_rng(11)
    start = (int(time.time() * 1000) // SIZE_MS - 3) * SIZE_MS
    _report(settings, producer, 0, start, rng)  # every model's window: capture partition 0 reported, 1 not yet
    ends = _ends(settings)
    ports = (find_free_port(), find_free_port())
    first = start_worker(settings.model_copy(update={"web_port": ports[0]}), role="controlplane",
                         log_path=tmp_path / "control-1.log")
    second = None
    try:
        wait_until(lambda: _get(ports[0], "/status")["open_windows"],
                   lambda w: sum(w.values()) == len(MODELS), timeout=90)
        second = start_worker(settings.model_copy(update={"web_port": ports[1]}), role="controlplane",
                              log_path=tmp_path / "control-2.log")
        split = wait_until(lambda: _split(ports), _is_split, timeout=120)
        # both committed past the first reports: the survivor will not read them again, only restore them
        wait_until(lambda: _committed(settings), lambda c: all(c[p] >= end for p, end in ends.items()), timeout=60)
        held_by_first = sorted(split[0])
        kill_worker(first)
        _report(settings, producer, 1, start, rng)
        statuses = {m: wait_until(lambda m=m: _get(ports[1], f"/status/{m}"),  # type: ignore[misc]
                                  lambda s: len(s["windows"]) >= 1, timeout=120) for m in MODELS}
        time.sleep(2.0)  # a doubled release would show up as a second window or a larger count
        statuses = {m: _get(ports[1], f"/status/{m}") for m in MODELS}
    finally:
        kill_worker(first)
        if second is not None:
            stop_worker(second)
    assert held_by_first and len(held_by_first) < N_PARTIALS
    for model, status in statuses.items():
        windows = status["windows"]
        assert len(windows) == 1, (model, windows)
        window = windows[0]
        # every record once: partition 0's delta (restored from the changelog for the killed one's partitions)
        # and partition 1's (read by the survivor)
        assert window["n_records"] == sum(RECORDS.values()), (model, window)
        assert window["partial"] is False and window["partitions_closed"] == sorted(RECORDS), (model, window)
