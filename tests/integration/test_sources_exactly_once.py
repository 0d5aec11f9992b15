"""Exactly once for a paired source under crashes: a data plane reading Open Inference Protocol requests and
responses (separate messages, the response a few hundred ms after its request, so pairs straddle polls and
commits) is killed with SIGKILL at fixed-seed moments and restarted. Each restart rebuilds the pair stores from
the topic; the partials, read read_committed and merged idempotently, hold exactly the rows of every pair
produced into each window: no pair lost, none counted twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer
from harness import (
    create_all_topics,
    kill_worker,
    merged_partials,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
)
from servers import oip_request, oip_response, oip_tensor

from streamdrift.dev.localkafka import LocalKafka, create_topics
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.settings import Settings, WindowSettings
from streamdrift.window.merger import WindowMerger

pytestmark = pytest.mark.integration

SIZE_MS = 3000
DURATION_S = 18.0
SOURCE_PARTITIONS = 3
ROWS = 4  # rows per request


class _Feeder(threading.Thread):
    """Requests now, their responses on the next round (~0.1-0.3 s later), keyed by request id; rows counted
    per (model, window of the request's timestamp) once both are acknowledged."""

    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(daemon=True)
        self.settings, self.topic = settings, topic
        self.acked: Counter[tuple[str, int]] = Counter()
        self.failed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        rng = np.random.default_rng(5)
        producer = Producer(self.settings.client_config({"linger.ms": 10, "enable.idempotence": True}))

        def delivered(err: object, msg: object) -> None:
            if err is not None:
                self.failed += 1

        pending: list[tuple[str, str, int]] = []
        end, i = time.monotonic() + DURATION_S, 0
        while time.monotonic() < end or pending:
            now_ms = int(time.time() * 1000)
            for rid, model, _ in pending:
                out = [oip_tensor("label", [1] * ROWS, "INT64")]
                producer.produce(self.topic, key=rid.encode(), timestamp=now_ms, on_delivery=delivered,
                                 value=oip_response(rid, model, out))
            pending = []
            if time.monotonic() < end:
                for _ in range(20):
                    rid, model = f"q{i}", "oip-a" if i % 3 else "oip-b"
                    i += 1
                    rows = rng.normal(size=(ROWS, 3)).round(4).tolist()
                    producer.produce(self.topic, key=rid.encode(), timestamp=now_ms, on_delivery=delivered,
                                     value=oip_request(rid, [oip_tensor("input-0", rows)]))
                    pending.append((rid, model, now_ms))
                    self.acked[(model, now_ms // SIZE_MS * SIZE_MS)] += ROWS
            producer.poll(0)
            time.sleep(0.1 + 0.2 * rng.random())
        if producer.flush(120):
            raise RuntimeError("messages left unacknowledged")


def test_a_paired_source_counts_every_pair_once_through_kills(kafka_broker: LocalKafka, tmp_path: Path) -> None:
    topic = f"team-oip-eo-{time.time_ns()}"
    create_topics(kafka_broker.bootstrap, {topic: SOURCE_PARTITIONS})
    source = SourceSettings.model_validate({
        "name": "oip", "topic": topic, "preset": "oip-v2", "pairing": {"ttl_seconds": 60},
        "mapping": {"model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": ["a", "b", "c"]},
                    "prediction": "/outputs/label", "inference_id": "/id"}})
    settings = unique_settings(kafka_broker.bootstrap, capture_partitions=1, sources=(source,),
                               window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
                               commit_interval=0.5)
    create_all_topics(settings)
    kill_times = sorted(np.random.default_rng(2026).uniform(2.0, DURATION_S - 2.0, size=3))
    worker = start_worker(settings, role="dataplane", log_path=tmp_path / "w.log", extra_args=["--instance-id", "w0"])
    feeder = _Feeder(settings, topic)
    started = time.monotonic()
    feeder.start()
    try:
        for at in kill_times:
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            kill_worker(worker)
            worker = start_worker(settings, role="dataplane", log_path=tmp_path / "w.log",
                                  extra_args=["--instance-id", "w0"])
        feeder.join(DURATION_S + 120)
        assert feeder.error is None and not feeder.is_alive() and feeder.failed == 0
        # the last windows close once every partition's watermark passed them: wait for that, not a fixed time
        wait_until(lambda: _merge(settings), lambda m: all(x.open_windows() == 0 for x in m[0]),
                   timeout=240, interval=1.0)
    finally:
        stop_worker(worker)

    mergers, merged = _merge(settings)
    assert all(m.duplicates == 0 for m in mergers)
    assert all(m.open_windows() == 0 for m in mergers)  # every window closed by the capture partition and the
    # source's three
    assert sum(feeder.acked.values()) > 1000
    assert merged == feeder.acked


def _merge(settings: Settings) -> tuple[list[WindowMerger], Counter[tuple[str, int]]]:
    """The partials topic merged as the control plane does: every window released complete, never partial."""
    mergers, windows = merged_partials(settings, 1 + SOURCE_PARTITIONS, until=time.monotonic() + 60, to_end=True)
    merged: Counter[tuple[str, int]] = Counter()
    for window in windows:
        assert not window.partial
        merged[(window.model_id, window.window_start_ms)] += window.n_records
    return mergers, merged
