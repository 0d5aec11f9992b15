"""Ground truth for a mapped source on the real broker: a team's predictions in their own JSON shape on one topic
and their outcomes (in another shape, event time as ISO-8601 text) on a co-partitioned labels topic, each read
through its mapping (``mapping`` / ``labels_mapping``) by the source's data plane. Every window's model quality
counts exactly the labels of its predictions: the ones never labelled and the labels of no prediction (which
expire, counted ``unmatched``) do not count."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from credit import credit_baseline
from harness import create_all_topics, http_get, unique_settings, wait_until, worker_process
from servers import produce_messages

from streamdrift.dev.localkafka import create_topics, find_free_port
from streamdrift.dev.synthetic import generate
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.settings import LabelSettings, WindowSettings
from streamdrift.worker.baselines import publish_baseline

pytestmark = pytest.mark.integration

MODEL = "credit-team"
SIZE_MS = 4000
WINDOWS = 3
PER_WINDOW = 300
NO_LABEL_EVERY = 7  # every 7th prediction never gets its outcome
N_GHOST = 11  # outcomes of no prediction


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _source(topic: str, labels_topic: str) -> SourceSettings:
    return SourceSettings.model_validate({
        "name": "team", "topic": topic, "labels_topic": labels_topic,
        "mapping": {"model_id": "/meta/model", "features": {"object": "/request/features"},
                    "prediction": "/response/label", "score": "/response/score", "inference_id": "/meta/rid",
                    "event_time": {"field": "/meta/ts", "unit": "ms"}},
        "labels_mapping": {"model_id": "/model", "inference_id": "/request_id", "label": "/outcome",
                           "event_time": {"field": "/decided_at", "unit": "iso"}}})


def _messages(first: int) -> tuple[list[tuple[bytes, Any, int, bytes]], list[tuple[bytes, Any, int, bytes]],
                                   Counter[int]]:
    """The team's prediction and outcome messages (keyed by model: co-partitioned), labelled rows per window."""
    rng = np.random.default_rng(33)
    predictions: list[tuple[bytes, Any, int, bytes]] = []
    outcomes: list[tuple[bytes, Any, int, bytes]] = []
    labelled: Counter[int] = Counter()
    n = 0
    key = MODEL.encode()
    for w in range(WINDOWS + 1):  # the last window's records move the watermark past the others' ends
        start = first + w * SIZE_MS
        batch = generate(PER_WINDOW if w < WINDOWS else 5, rng)
        ts = np.sort(rng.integers(start, start + SIZE_MS, len(batch.prediction)))
        for i, row in enumerate(batch.rows()):
            rid, t = f"p{n}", int(ts[i])
            predictions.append((orjson.dumps({
                "meta": {"model": MODEL, "rid": rid, "ts": t}, "request": {"features": row},
                "response": {"label": int(batch.prediction[i]), "score": float(batch.score[i])}}), None, t, key))
            if n % NO_LABEL_EVERY and w < WINDOWS:
                outcomes.append((orjson.dumps({"model": MODEL, "request_id": rid, "outcome": int(batch.label[i]),
                                               "decided_at": _iso(t + 100)}), None, t + 100, key))
                labelled[start] += 1
            n += 1
    for g in range(N_GHOST):
        t = first + 50 * g
        outcomes.append((orjson.dumps({"model": MODEL, "request_id": f"ghost{g}", "outcome": 1,
                                       "decided_at": _iso(t)}), None, t, key))
    end = first + (WINDOWS + 1) * SIZE_MS
    outcomes.append((orjson.dumps({"model": MODEL, "request_id": "tick", "outcome": 1, "decided_at": _iso(end)}),
                     None, end, key))  # the labels' watermark past the last window's end + delay
    outcomes.sort(key=lambda m: m[2])
    return predictions, outcomes, labelled


def _metric(text: str, outcome: str, model: str) -> float:
    found = re.search(rf'streamdrift_label_join_total\{{model="{re.escape(model)}",outcome="{outcome}"\}} '
                      r"([0-9.e+]+)", text)
    return float(found.group(1)) if found else 0.0


def test_a_sources_labels_are_joined_to_its_predictions(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic, labels_topic = f"team-preds-{time.time_ns()}", f"team-outcomes-{time.time_ns()}"
    create_topics(kafka_bootstrap, {topic: 1, labels_topic: 1})
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=1,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
        labels=LabelSettings(delay=1.0, ttl=6.0, spill_dir=str(tmp_path / "join")),
        commit_interval=0.5, merge_timeout=30.0, web_host="127.0.0.1", web_port=find_free_port(span=2),
        sources=(_source(topic, labels_topic),))
    create_all_topics(settings)
    publish_baseline(settings, credit_baseline(MODEL).to_json())
    first = (int(time.time() * 1000) // SIZE_MS - WINDOWS - 3) * SIZE_MS
    predictions, outcomes, labelled = _messages(first)
    produce_messages(kafka_bootstrap, topic, predictions)
    produce_messages(kafka_bootstrap, labels_topic, outcomes)

    base = f"http://127.0.0.1:{settings.web_port}"
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        status = wait_until(lambda: orjson.loads(http_get(f"{base}/status/{MODEL}")[1]),
                            lambda s: sum("model_quality" in w for w in s.get("windows", [])) >= WINDOWS,
                            timeout=150)
        metrics = wait_until(lambda: http_get(f"http://127.0.0.1:{settings.web_port + 1}/metrics")[1].decode(),
                             lambda t: _metric(t, "unmatched", "_all") >= N_GHOST + 1, timeout=60)

    windows = sorted(status["windows"], key=lambda w: w["window_start"])[:WINDOWS]
    assert [round(datetime.fromisoformat(w["window_start"]).timestamp() * 1000) for w in windows] == [
        first + i * SIZE_MS for i in range(WINDOWS)]
    assert [w["n_records"] for w in windows] == [PER_WINDOW] * WINDOWS
    assert [w["model_quality"]["n_labelled"] for w in windows] == [labelled[first + i * SIZE_MS]
                                                                    for i in range(WINDOWS)]
    assert _metric(metrics, "matched", MODEL) == sum(labelled.values())
    assert _metric(metrics, "unmatched", "_all") == N_GHOST + 1  # and the tick's outcome: no prediction either
