"""Exactly once under crashes: two data-plane processes on a 6-partition capture topic, one of them killed
with SIGKILL at random moments (fixed seed) and restarted, and the broker restarted mid-stream. The partials
topic, read read_committed and merged idempotently, holds exactly the records produced into every window."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer
from harness import (
    capture_records,
    create_all_topics,
    kill_worker,
    merged_partials,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
)

from streamdrift.dev.localkafka import LocalKafka
from streamdrift.settings import Settings, WindowSettings
from streamdrift.window.merger import WindowMerger

pytestmark = pytest.mark.integration

SIZE_MS = 3000
RATE = 600  # records per second
DURATION_S = 24.0
PARTITIONS = 6


class _Feeder(threading.Thread):
    """Produces capture records stamped with the wall clock, counted per (model, window)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.acked: Counter[tuple[str, int]] = Counter()
        self.failed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        rng = np.random.default_rng(11)
        producer = Producer(self.settings.client_config({"linger.ms": 10, "enable.idempotence": True}))

        def delivered(err: object, msg: object) -> None:
            if err is not None:
                self.failed += 1

        end = time.monotonic() + DURATION_S
        while time.monotonic() < end:
            now_ms = int(time.time() * 1000)
            n = RATE // 10
            model = "a" if rng.random() < 0.5 else "b"
            for value in capture_records(model, [now_ms] * n, rng, n_numeric=4):
                producer.produce(self.settings.topics.capture, value=value, on_delivery=delivered)
            self.acked[(model, now_ms // SIZE_MS * SIZE_MS)] += n  # all acknowledged: failed == 0 is checked
            producer.poll(0)
            time.sleep(0.1)
        if producer.flush(120):
            raise RuntimeError("records left unacknowledged")


def test_exactly_once_through_kills_and_broker_restart(kafka_broker: LocalKafka, tmp_path: Path) -> None:
    settings = unique_settings(
        kafka_broker.bootstrap,
        capture_partitions=PARTITIONS,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
        commit_interval=0.5,
    )
    create_all_topics(settings)
    rng = np.random.default_rng(2024)
    kill_times = sorted(rng.uniform(2.0, DURATION_S - 2.0, size=4))
    broker_restart_at = DURATION_S / 2
    workers = {
        name: start_worker(settings, role="dataplane", log_path=tmp_path / f"{name}.log", extra_args=["--instance-id", name])
        for name in ("w0", "w1")
    }
    feeder = _Feeder(settings)
    started = time.monotonic()
    feeder.start()
    restarted_broker = False
    try:
        for i, at in enumerate(kill_times):
            if not restarted_broker and at > broker_restart_at:
                time.sleep(max(0.0, broker_restart_at - (time.monotonic() - started)))
                kafka_broker.restart()
                restarted_broker = True
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            victim = f"w{i % 2}"
            kill_worker(workers[victim])
            workers[victim] = start_worker(
                settings, role="dataplane", log_path=tmp_path / f"{victim}.log", extra_args=["--instance-id", victim]
            )
        feeder.join(DURATION_S + 120)
        assert feeder.error is None and not feeder.is_alive() and feeder.failed == 0
        # the last windows close once every partition's watermark (idle ones: idle_timeout) passed them; a
        # restarted data plane on a loaded machine may take a while: wait for that, not for a fixed time
        wait_until(lambda: _merge(settings), lambda m: all(x.open_windows() == 0 for x in m[0]), timeout=240,
                   interval=1.0)
    finally:
        for proc in workers.values():
            stop_worker(proc)

    mergers, merged = _merge(settings)
    assert all(m.duplicates == 0 for m in mergers)
    assert all(m.open_windows() == 0 for m in mergers)  # every window was closed by all six partitions
    assert sum(feeder.acked.values()) > RATE * DURATION_S * 0.5
    assert merged == feeder.acked


def _merge(settings: Settings) -> tuple[list[WindowMerger], Counter[tuple[str, int]]]:
    """The partials topic merged as the control plane does: every window released complete, never partial."""
    mergers, windows = merged_partials(settings, PARTITIONS, until=time.monotonic() + 60, to_end=True)
    merged: Counter[tuple[str, int]] = Counter()
    for window in windows:
        assert not window.partial
        merged[(window.model_id, window.window_start_ms)] += window.n_records
    return mergers, merged
