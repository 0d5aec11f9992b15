"""Three capture sources through one worker on the real broker: streamdrift's own records on the capture topic,
Open Inference Protocol v2 request/response pairs on a team's topic and KServe payload-logging CloudEvents on
another. Exact per-window counts per model, a drift event for the shifted feature of each, and the dead letters
of the messages that do not match their mapping (with the path that failed)."""

from __future__ import annotations

import time
from collections.abc import Callable
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
from servers import (
    ce_headers,
    kserve_v1_request,
    kserve_v1_response,
    oip_request,
    oip_response,
    oip_tensor,
    produce_messages,
)

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import create_topics, find_free_port
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.settings import Settings, WindowSettings
from streamdrift.worker.baselines import publish_baseline
from streamdrift.worker.deadletter import HEADER_DETAIL, HEADER_REASON, HEADER_TOPIC, read_headers

pytestmark = pytest.mark.integration

SIZE_MS = 4000
WINDOWS = 4
PER_WINDOW = 400  # rows of each model in each window
SHIFTED = 2
OIP_BATCH = 4  # rows per OIP request
KS_BATCH = 2  # instances per KServe request
NAMES = ["f0", "f1", "f2", "f3"]


def _sources(oip_topic: str, ks_topic: str) -> tuple[SourceSettings, ...]:
    return (
        SourceSettings.model_validate({
            "name": "oip", "topic": oip_topic, "preset": "oip-v2",
            "mapping": {"model_id": "/model_name", "model_version": "/model_version",
                        "features": {"tensor": "/inputs/input-0", "names": NAMES},
                        "prediction": "/outputs/label", "score": "/outputs/proba", "inference_id": "/id"}}),
        SourceSettings.model_validate({
            "name": "kserve", "topic": ks_topic, "preset": "kserve-cloudevents",
            "mapping": {"model_id": {"header": "ce_inferenceservicename"},
                        "features": {"tensor": "/instances", "names": NAMES}, "prediction": "/predictions",
                        "inference_id": "/ce/id"}}),
    )


def _baseline(settings: Settings, model_id: str, rows: list[dict[str, Any]]) -> None:
    publish_baseline(settings, build_baseline([columns_from_rows(rows)], model_id).to_json())


def _normal_rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    block = rng.normal(size=(n, len(NAMES))).round(5)
    block[:, 0] += shift
    return block


def test_three_sources_one_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    oip_topic, ks_topic = f"team-oip-{time.time_ns()}", f"team-kserve-{time.time_ns()}"
    create_topics(kafka_bootstrap, {oip_topic: 2, ks_topic: 1})
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=2,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0), commit_interval=0.5,
        merge_timeout=30.0, web_host="127.0.0.1", web_port=find_free_port(span=2),
        sources=_sources(oip_topic, ks_topic))
    create_all_topics(settings)
    rng = np.random.default_rng(21)
    own_rows = [orjson.loads(r)["features"] for r in capture_records("own", [0] * 4000, rng)]
    _baseline(settings, "own", own_rows)
    for model in ("iris-oip", "sk-kserve"):
        _baseline(settings, model, [dict(zip(NAMES, r, strict=True)) for r in _normal_rows(rng, 4000).tolist()])

    first = (int(time.time() * 1000) // SIZE_MS - WINDOWS - 1) * SIZE_MS
    own: list[bytes] = []
    oip: list[tuple[bytes, Any, int, bytes]] = []
    ks: list[tuple[bytes, Any, int]] = []
    for w in range(WINDOWS):
        start, shift = first + w * SIZE_MS, (1.0 if w == SHIFTED else 0.0)
        own += capture_records("own", np.sort(rng.integers(start, start + SIZE_MS, PER_WINDOW)).tolist(), rng,
                               shift=shift)
        block = _normal_rows(rng, PER_WINDOW, shift)
        for i in range(PER_WINDOW // OIP_BATCH):
            rows = block[i * OIP_BATCH:(i + 1) * OIP_BATCH].tolist()
            rid, ts = f"w{w}-r{i}", start + 10 + i * 7
            # keyed by request id: a request and its response on one partition, where its pair store is
            oip.append((oip_request(rid, [oip_tensor("input-0", rows)]), None, ts, rid.encode()))
            out = [oip_tensor("label", [int(r[1] > 0) for r in rows], "INT64"),
                   oip_tensor("proba", [abs(r[2]) % 1 for r in rows], "FP32")]
            oip.append((oip_response(rid, "iris-oip", out), None, ts + 3, rid.encode()))
        block = _normal_rows(rng, PER_WINDOW, shift)
        for i in range(PER_WINDOW // KS_BATCH):
            rows = block[i * KS_BATCH:(i + 1) * KS_BATCH].tolist()
            eid, ts = f"ev-{w}-{i}", start + 20 + i * 13
            ks.append((kserve_v1_request(rows), ce_headers(eid, "request", "sk-kserve", time_ms=ts), ts))
            ks.append((kserve_v1_response([int(r[1] > 0) for r in rows]),
                       ce_headers(eid, "response", "sk-kserve", time_ms=ts + 2), ts + 2))
    # mismatches: an OIP pair whose request lacks the mapped input, a KServe event without ce_id, a non-JSON record
    bad_ts = first + SIZE_MS + 5
    bad_oip = [(oip_request("bad-1", [oip_tensor("other", [[1.0, 2.0, 3.0, 4.0]])]), None, bad_ts, b"bad-1"),
               (oip_response("bad-1", "iris-oip", [oip_tensor("label", [1], "INT64"),
                                                   oip_tensor("proba", [0.5])]), None, bad_ts + 1, b"bad-1")]
    no_id = [(k, v) for k, v in ce_headers("x", "request", "sk-kserve") if k != "ce_id"]
    bad_ks = [(kserve_v1_request([[1.0, 2.0, 3.0, 4.0]]), no_id, bad_ts)]
    produce_messages(kafka_bootstrap, oip_topic, oip[:300] + bad_oip + oip[300:])
    produce_messages(kafka_bootstrap, ks_topic, ks[:500] + bad_ks + ks[500:])
    produce(settings, settings.topics.capture, [*own[:700], b"not json", *own[700:]])

    base = f"http://127.0.0.1:{settings.web_port}"

    def status(model: str) -> Callable[[], Any]:
        return lambda: orjson.loads(http_get(f"{base}/status/{model}")[1])

    def complete(s: Any) -> bool:
        return len([w for w in s.get("windows", []) if w["evaluated"]]) >= WINDOWS

    with worker_process(settings, log_path=tmp_path / "worker.log"):
        statuses = {m: wait_until(status(m), complete, timeout=150) for m in ("own", "iris-oip", "sk-kserve")}
        alerts = drift_events(read_topic(settings, settings.topics.alerts, until=time.monotonic() + 20, idle_s=3.0))
        dead = read_topic(settings, settings.topics.deadletter, until=time.monotonic() + 20, stop_after=3)

    shifted = first + SHIFTED * SIZE_MS
    for model, s in statuses.items():
        windows = sorted(s["windows"], key=lambda w: w["window_start"])[:WINDOWS]
        assert [w["n_records"] for w in windows] == [PER_WINDOW] * WINDOWS, (model, windows)
        assert not any(w["partial"] for w in windows), (model, windows)
        raised = [a for a in alerts if a["model_id"] == model and a["status"] == "raised"]
        assert any(a["feature"] == "f0" and a["check"] == "baseline_drift_check" for a in raised), (model, alerts)
        starts = {a["window_start"] for a in raised}
        assert starts == {windows[SHIFTED]["window_start"]}, (model, starts, shifted)

    letters = {read_headers(m.headers())[HEADER_TOPIC]: (read_headers(m.headers()), m.value()) for m in dead}
    assert set(letters) == {oip_topic, ks_topic, settings.topics.capture}
    oip_h, oip_v = letters[oip_topic]
    assert oip_h[HEADER_REASON] == "mapping_mismatch" and oip_h[HEADER_DETAIL].startswith("/inputs/input-0:")
    assert oip_v == bad_oip[1][0]  # the message that completed the pair
    ks_h, ks_v = letters[ks_topic]
    assert ks_h[HEADER_REASON] == "mapping_mismatch" and ks_h[HEADER_DETAIL].startswith("header ce_id:")
    assert ks_v == bad_ks[0][0]
    assert letters[settings.topics.capture][0][HEADER_REASON] == "not_json"
