"""Roll-up windows in the worker on the real broker (``window.rollups``, docs/history.md).

One-minute windows of a model whose log-income creeps up in the second five minutes and comes back in the third:
no one-minute window drifts, the five-minute roll-up raises and then clears. The control plane is fed its
``partials`` as two data planes would send them (each window's deltas and close markers) and is killed (kill -9)
while the second roll-up is half merged, then restarted: every roll-up window is on the profiles topic once (a
copy the replay wrote again is the same bytes) with exactly its base windows' records, and its events are those
``check --config`` (the same settings file) gives for the same rows, ids and values alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner
from confluent_kafka import Producer
from harness import (
    create_all_topics,
    drift_events,
    http_get,
    kill_worker,
    read_topic,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
)

from streamdrift.baseline.baseline import build_baseline
from streamdrift.cli import main
from streamdrift.columns.columns import columns_from_arrow, columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.ingest.records import encode_capture_record
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import EvaluationSettings, Settings, WindowSettings
from streamdrift.window.partials import PartialDelta, WindowClosed, encode_partial
from streamdrift.window.stored import decode_stored, rollup_model, window_of_key
from streamdrift.worker.baselines import publish_baseline

pytestmark = pytest.mark.integration

MODEL = "slow"
MINUTE_MS = 60_000
ROLLUP_S = 300
WINDOWS = 15  # three roll-up windows of five
SHIFTS = [0.0] * 5 + [0.08, 0.085, 0.09, 0.095, 0.1] + [0.0] * 5  # log-income (sd 0.5): 0.2 sigma


def _features(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, Any]:
    return {"income": rng.lognormal(10.0 + shift, 0.5, n), "age": rng.normal(40.0, 10.0, n).round(1),
            "segment": np.array(["retail", "sme", "corp"])[rng.choice(3, n, p=[0.6, 0.3, 0.1])]}


def _counts(w: int) -> tuple[int, int]:
    """Records of window ``w`` on capture partitions 0 and 1 (each window's total differs)."""
    return 40 + w, 55 + w % 3


def _rows(first: int) -> dict[int, list[list[dict[str, Any]]]]:
    """Per window start, each partition's rows (below the window KLL k of 1,000: exact sketches)."""
    rng = np.random.default_rng(12)
    out = {}
    for w, shift in enumerate(SHIFTS):
        parts = []
        for n in _counts(w):
            f = _features(rng, n, shift)
            parts.append([{"income": float(f["income"][i]), "age": float(f["age"][i]), "segment": str(f["segment"][i])}
                          for i in range(n)])
        out[first + w * MINUTE_MS] = parts
    return out


def _send_window(settings: Settings, producer: Producer, start: int, parts: list[list[dict[str, Any]]]) -> None:
    """What the two data planes send for one window: each partition's delta, then its close marker."""
    end = start + MINUTE_MS
    for partition, rows in enumerate(parts):
        profile = DatasetProfile.empty(ProfileParams(kll_k=settings.profile.kll_k))
        profile.update(columns_from_rows(rows))
        delta = PartialDelta(MODEL, None, start, end, settings.topics.capture, partition, start // 1000, len(rows),
                             profile)
        producer.produce(settings.topics.partials, key=MODEL.encode(), value=encode_partial(delta))
        closed = encode_partial(WindowClosed(settings.topics.capture, partition, start, end, end + 1, (MODEL,)))
        for p in range(settings.topics.partitions):
            producer.produce(settings.topics.partials, value=closed, partition=p)
    producer.flush(30)


def _stored(settings: Settings) -> list[tuple[bytes, bytes]]:
    return [(m.key() or b"", m.value() or b"")
            for m in read_topic(settings, settings.history.topic, until=time.monotonic() + 6, idle_s=2.0)]


def _check_events(settings: Settings, rows: dict[int, list[list[dict[str, Any]]]], baseline: bytes,
                  tmp_path: Path) -> list[dict[str, Any]]:
    """``check --config`` over the same rows as a capture file: every event it writes."""
    config = tmp_path / "worker.yaml"
    data = settings.model_dump(mode="json")
    data.pop("sasl_password")
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "baseline.json").write_bytes(baseline)
    records = [encode_capture_record(MODEL, features=row, inference_id=f"{start}-{p}-{i}", timestamp_ms=start + i,
                                     prediction=None)
               for start, parts in rows.items() for p, part in enumerate(parts) for i, row in enumerate(part)]
    (tmp_path / "capture.jsonl").write_bytes(b"\n".join(records) + b"\n")
    result = CliRunner().invoke(main, ["check", "--config", str(config), "--baseline", str(tmp_path / "baseline.json"),
                                       "--input", str(tmp_path / "capture.jsonl"), "--output", str(tmp_path / "out"),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()]


def test_a_slow_drift_raises_in_the_rollup_exactly_once_across_a_kill(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=2,
        window=WindowSettings(size=MINUTE_MS / 1000, lateness=1.0, idle_timeout=600.0, rollups=(ROLLUP_S,)),
        evaluation=EvaluationSettings(raise_after=1, clear_after=1), merge_timeout=600.0, web_host="127.0.0.1",
        web_port=find_free_port())
    create_all_topics(settings)
    baseline = build_baseline([columns_from_arrow(pa.table(_features(np.random.default_rng(7), 20_000)))],
                              MODEL).to_json()
    publish_baseline(settings, baseline)
    first = (int(time.time() * 1000) // (ROLLUP_S * 1000) - 10) * ROLLUP_S * 1000  # aligned, in the past
    rows = _rows(first)
    starts = list(rows)
    t0 = time.monotonic()
    expected = _check_events(settings, rows, baseline, tmp_path)
    print(f"check: {time.monotonic() - t0:.1f} s")
    # the claim: no one-minute window drifts, the roll-up raises and clears
    assert [(e["check"], e.get("feature"), e["status"], e.get("window_seconds")) for e in expected] == [
        ("baseline_drift_check", "income", "raised", ROLLUP_S), ("baseline_drift_check", "income", "cleared", ROLLUP_S)]

    producer = Producer(settings.client_config({"linger.ms": 0}))
    log = tmp_path / "control.log"
    t0 = time.monotonic()
    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        for start in starts[:7]:
            _send_window(settings, producer, start, rows[start])
        # the first roll-up out and two windows of the second merged into the table: then the kill
        wait_until(lambda: {window_of_key(k) for k, _ in _stored(settings)},
                   lambda keys: (rollup_model(MODEL, ROLLUP_S), first) in keys and (MODEL, starts[6]) in keys,
                   timeout=120, interval=1.0)
    finally:
        kill_worker(proc)
    print(f"killed after {time.monotonic() - t0:.1f} s")
    for start in starts[7:]:
        _send_window(settings, producer, start, rows[start])
    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        stored = wait_until(lambda: _stored(settings), lambda s: len({k for k, _ in s}) >= WINDOWS + 3,
                            timeout=120, interval=0.5)
        print(f"restarted, every window stored after {time.monotonic() - t0:.1f} s")
        web = f"http://127.0.0.1:{settings.web_port}"
        metrics = http_get(f"{web}/metrics")[1].decode()
        status = orjson.loads(http_get(f"{web}/status/{MODEL}")[1])
        alerts = drift_events(read_topic(settings, settings.topics.alerts, until=time.monotonic() + 6, idle_s=2.0))
    finally:
        stop_worker(proc)

    by_key: dict[bytes, bytes] = {}
    for key, value in stored:  # a copy written again by the replay is the very same bytes
        assert by_key.setdefault(key, value) == value, f"{key!r} written twice with other contents"
    rollups = {window_of_key(k)[1]: decode_stored(v) for k, v in by_key.items()
               if window_of_key(k)[0] == rollup_model(MODEL, ROLLUP_S)}
    assert sorted(rollups) == [first, first + 5 * MINUTE_MS, first + 10 * MINUTE_MS]
    for start, stored_rollup in rollups.items():
        window = stored_rollup.window
        k = (start - first) // MINUTE_MS
        assert window.n_records == sum(sum(_counts(w)) for w in range(k, k + 5)), start  # no window lost or doubled
        assert (window.window_end_ms - start, stored_rollup.window_seconds, window.partial) == (
            ROLLUP_S * 1000, ROLLUP_S, False)
        assert window.partitions_closed == frozenset({0, 1})
        assert window.profile.features["income"].numeric.count == window.n_records
    assert len(by_key) == WINDOWS + 3  # the base windows too, each once
    # the live roll-up events are check's: same ids, values, thresholds (each once; a replay resends the same id)
    live = {e["event_id"]: e for e in alerts}
    assert sorted(live) == sorted(e["event_id"] for e in expected)
    for event in expected:
        got = live[event["event_id"]]
        assert (got["window_seconds"], got["schema_version"], got["n_window"]) == (ROLLUP_S, "1.2", event["n_window"])
        assert got["value"] == pytest.approx(event["value"], rel=1e-9)
        assert got["threshold"] == pytest.approx(event["threshold"], rel=1e-9)
    # the restarted control plane judged the last roll-up: its series and its /status entry
    last = rollups[first + 10 * MINUTE_MS].window
    size = f'{{model="{MODEL}",window_seconds="{ROLLUP_S}"}}'
    series = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#"))
    assert float(series[f"streamdrift_rollup_records{size}"]) == last.n_records
    assert float(series[f"streamdrift_rollup_last_window_end_timestamp_seconds{size}"]) == last.window_end_ms / 1000
    entry = status["rollups"][f"{ROLLUP_S}s"]
    assert (entry["n_records"], entry["window_seconds"], entry["alerts_raised"]) == (last.n_records, ROLLUP_S, [])
