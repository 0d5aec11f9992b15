"""Alert state across a crash of the worker, on the real broker: the control plane keeps each model's hysteresis
in its changelogged faust table, so after a kill -9 and a restart a still-drifting feature is not raised again,
and its recovery is still announced as "cleared". (Events carry deterministic ids, and subscribers dedupe by
them: a crash between faust's commits may send a window's events again, with the same ids. The kill below
comes right after the first alert is readable, so the restart may well replay that window once more.)"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from harness import (
    capture_records,
    create_all_topics,
    drift_events,
    http_get,
    kill_worker,
    produce,
    read_topic,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
)

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.settings import EvaluationSettings, Settings, WindowSettings
from streamdrift.worker.baselines import publish_baseline

pytestmark = pytest.mark.integration

SIZE_MS = 3000
PER_WINDOW = 900


def _settings(bootstrap: str) -> Settings:
    return unique_settings(
        bootstrap,
        capture_partitions=3,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.2, idle_timeout=2.0),
        commit_interval=0.5,
        merge_timeout=30.0,
        evaluation=EvaluationSettings(raise_after=1, clear_after=1),
        web_host="127.0.0.1",
        web_port=find_free_port(span=2),
    )


def _next_window(after_ms: int | None = None) -> int:
    """Start of the window after the one now in progress (and after ``after_ms``).

    Its records are stamped ahead of the clock, never behind it: a partition at its end with nothing new for
    ``idle_timeout`` moves its watermark to the clock, so records of the window in progress produced a moment
    too late (a slow restart, a loaded machine) were dropped as late and the window never cleared."""
    start = (int(time.time() * 1000) // SIZE_MS + 1) * SIZE_MS
    while after_ms is not None and start <= after_ms:
        start += SIZE_MS
    return start


def _produce_window(settings: Settings, start: int, shift: float, rng: np.random.Generator) -> None:
    ts = np.sort(rng.integers(start, start + SIZE_MS // 2, PER_WINDOW))
    produce(settings, settings.topics.capture, capture_records("m1", ts.tolist(), rng, shift=shift))


def _f0(settings: Settings) -> list[tuple[str, str]]:
    """(status, window_start) of the f0 drift events on alerts (all committed so far), oldest first, one per
    event id."""
    messages = read_topic(settings, settings.topics.alerts, until=time.monotonic() + 30, to_end=True)
    events = {e["event_id"]: e for e in drift_events(messages)
              if e["check"] == "baseline_drift_check" and e["feature"] == "f0"}
    return [(e["status"], e["window_start"]) for e in events.values()]


def _windows_seen(settings: Settings) -> int:
    status = orjson.loads(http_get(f"http://127.0.0.1:{settings.web_port}/status/m1")[1])
    return len(status["windows"])


def test_alert_state_survives_a_crash(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap)
    create_all_topics(settings)
    rng = np.random.default_rng(3)
    rows = [orjson.loads(r)["features"] for r in capture_records("m1", [0] * 5000, rng)]
    publish_baseline(settings, build_baseline([columns_from_rows(rows)], "m1").to_json())
    log = tmp_path / "worker.log"

    first = _next_window()
    _produce_window(settings, first, 1.0, rng)  # f0 shifted by one standard deviation
    proc = start_worker(settings, log_path=log)
    try:
        raised = wait_until(lambda: _f0(settings), lambda e: len(e) >= 1, timeout=90)
        assert [s for s, _ in raised] == ["raised"], raised
    finally:
        kill_worker(proc)  # a crash: nothing flushed or closed

    proc = start_worker(settings, log_path=log)
    try:
        second = _next_window(first)
        _produce_window(settings, second, 1.0, rng)  # still drifting after the restart
        wait_until(lambda: _windows_seen(settings), lambda n: n >= 1, timeout=90)
        third = _next_window(second)
        _produce_window(settings, third, 0.0, rng)  # back to normal
        events = wait_until(lambda: _f0(settings), lambda e: any(s == "cleared" for s, _ in e), timeout=90)
    finally:
        stop_worker(proc)
    assert [s for s, _ in events] == ["raised", "cleared"], events  # not raised again after the crash
    assert events[0][1] < events[1][1]

