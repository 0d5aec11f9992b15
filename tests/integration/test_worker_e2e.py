"""The worker end to end on the real broker: capture -> windows -> drift events on alerts, dead letters,
/metrics and /status, a baseline published while running."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from harness import (
    capture_records,
    create_all_topics,
    drift_events,
    http_get,
    produce,
    read_topic,
    unique_settings,
    wait_until,
    worker_process,
)

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.events.events import rfc3339
from streamdrift.ingest.arrow import encode_arrow_batch
from streamdrift.settings import Settings, WindowSettings
from streamdrift.worker.baselines import publish_baseline
from streamdrift.worker.deadletter import HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, read_headers

pytestmark = pytest.mark.integration

SIZE_MS = 4000
PER_WINDOW = 800
SHIFTED = 2  # index of the window whose f0 is shifted by one standard deviation


def _settings(bootstrap: str) -> Settings:
    return unique_settings(
        bootstrap,
        capture_partitions=3,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
        commit_interval=0.5,
        merge_timeout=30.0,
        web_host="127.0.0.1",
        web_port=find_free_port(span=2),
    )


def _publish_baseline(settings: Settings, model_id: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    rows = [orjson.loads(r)["features"] for r in capture_records(model_id, [0] * 5000, rng)]
    baseline = build_baseline([columns_from_rows(rows)], model_id)
    return publish_baseline(settings, baseline.to_json())[1]


def _wait_json(url: str, ok: Callable[[Any], bool], timeout: float) -> Any:
    return wait_until(lambda: orjson.loads(http_get(url)[1]), ok, timeout)


def test_drift_events_dead_letters_and_status(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap)
    create_all_topics(settings)
    baseline_id = _publish_baseline(settings, "m1", seed=1)
    rng = np.random.default_rng(7)
    first = (int(time.time() * 1000) // SIZE_MS - 6) * SIZE_MS  # five whole windows in the recent past
    produced: Counter[int] = Counter()
    values: list[bytes] = []
    for w in range(5):
        start = first + w * SIZE_MS
        ts = np.sort(rng.integers(start, start + SIZE_MS, PER_WINDOW))
        values += capture_records("m1", ts.tolist(), rng, shift=1.0 if w == SHIFTED else 0.0)
        produced[start] += PER_WINDOW
    # a model without baseline, last window, as the SDK's Arrow columnar batch
    m2_rows = [orjson.loads(v) for v in capture_records("m2", [first + 4 * SIZE_MS + 10] * 50, rng)]
    m2_batch = encode_arrow_batch("m2", m2_rows)
    assert m2_batch is not None
    values.append(m2_batch)
    bad = [b"not json", b'{"model_id": "m1", "features": {"f0": {"nested": 1}}, "timestamp": 1}', b"[1, 2]",
           m2_batch[:100]]
    produce(settings, settings.topics.capture, values[:1500])
    produce(settings, settings.topics.capture, bad)
    produce(settings, settings.topics.capture, values[1500:])

    base = f"http://127.0.0.1:{settings.web_port}"
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        status = _wait_json(f"{base}/status/m1", lambda s: len(s["windows"]) >= 5, timeout=90)
        deadline = time.monotonic() + 20
        alerts = drift_events(read_topic(settings, settings.topics.alerts, until=deadline, idle_s=3.0))
        dead = read_topic(settings, settings.topics.deadletter, until=time.monotonic() + 20, stop_after=len(bad))
        code, metrics = http_get(f"{base}/metrics")
        health = http_get(f"{base}/health")
        m2 = _wait_json(f"{base}/status/m2", lambda s: len(s["windows"]) >= 1, timeout=30)
        # a baseline published while the worker runs is used from the next window on, without restart
        m2_baseline = _publish_baseline(settings, "m2", seed=3)
        time.sleep(1.0)
        now = int(time.time() * 1000)
        produce(settings, settings.topics.capture, capture_records("m2", [now] * 200, rng))
        m2_later = _wait_json(f"{base}/status/m2", lambda s: s["baseline_id"] == m2_baseline, timeout=40)

    # every window was merged completely, with exactly the records produced into it
    counts = {w["window_start"]: w["n_records"] for w in status["windows"]}
    assert sorted(counts.values()) == [PER_WINDOW] * 5, status["windows"]
    assert not any(w["partial"] for w in status["windows"])
    assert status["baseline_id"] == baseline_id
    # the shifted window raises drift on f0; no clean window raises anything
    shifted_start = first + SHIFTED * SIZE_MS
    raised = [a for a in alerts if a["status"] == "raised"]
    assert any(a["feature"] == "f0" and a["check"] == "baseline_drift_check" for a in raised), alerts
    shifted_iso = [w["window_start"] for w in status["windows"]]
    assert all(a["window_start"] == _iso(shifted_start) for a in raised), (raised, shifted_iso)
    assert len({a["event_id"] for a in alerts}) == len(alerts)
    # dead letters: original bytes, reason, source partition and offset
    assert sorted(m.value() or b"" for m in dead) == sorted(bad)
    for m in dead:
        headers = read_headers(m.headers())
        assert headers[HEADER_REASON] in {"not_json", "wrong_type", "not_object", "bad_timestamp", "bad_batch"}
        assert int(headers[HEADER_OFFSET]) >= 0 and int(headers[HEADER_PARTITION]) in range(3)
    # web endpoints
    assert code == 200 and b"streamdrift_windows_evaluated_total" in metrics
    assert health[0] == 200
    assert m2["state"] == "no baseline" and m2["windows"][0]["evaluated"] is False
    assert m2["windows"][0]["n_records"] == 50  # the Arrow batch, every row
    assert m2_later["windows"][-1]["evaluated"] is True and m2_later["windows"][-1]["n_records"] == 200


def _iso(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, tz=UTC))
