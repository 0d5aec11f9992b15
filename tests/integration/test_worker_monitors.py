"""The worker's model-quality, bias and attribution monitors on the real broker: labels joined to predictions,
events on the windows that changed and on no other, exact label counts, exactly-once through kill -9."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import Producer
from credit import credit_baseline
from harness import (
    create_all_topics,
    drift_events,
    http_get,
    kill_worker,
    merged_partials,
    produce,
    read_topic,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
    worker_process,
)

from streamdrift.dev.localkafka import find_free_port
from streamdrift.dev.synthetic import Scenario, generate
from streamdrift.ingest.arrow import encode_arrow_batch
from streamdrift.ingest.records import encode_capture_record, encode_label_record
from streamdrift.monitors.model_quality.window import merge_blobs
from streamdrift.settings import LabelSettings, Settings, WindowSettings
from streamdrift.window.joinstore import join_sample
from streamdrift.window.merger import WindowMerger
from streamdrift.worker.baselines import publish_baseline
from streamdrift.worker.dataplane import PARSE_AHEAD_MAX_BYTES

pytestmark = pytest.mark.integration

SIZE_MS = 4000
PER_WINDOW = 800
SCENARIOS = (Scenario.NORMAL, Scenario.NORMAL, Scenario.LABEL_FLIP, Scenario.BIAS, Scenario.NORMAL)
N_GHOST = 37  # labels whose prediction never comes
N_DUPLICATE = 25  # labels sent twice
NO_LABEL_EVERY = 40  # every 40th prediction never gets a label
MODEL = "credit"
ARROW_ROWS = 400


def _get(url: str) -> bytes:
    return http_get(url)[1]


def _publish_baseline(settings: Settings) -> str:
    return publish_baseline(settings, credit_baseline(MODEL).to_json())[1]


def _records(first: int) -> tuple[list[bytes], list[bytes], Counter[int]]:
    """Capture records and label records (time-ordered) of five windows, and labelled rows per window."""
    rng = np.random.default_rng(17)
    capture: list[tuple[int, bytes]] = []
    labels: list[tuple[int, bytes]] = []
    labelled: Counter[int] = Counter()
    n = 0
    for w, scenario in enumerate(SCENARIOS):
        start = first + w * SIZE_MS
        batch = generate(PER_WINDOW, rng, scenario)
        ts = np.sort(rng.integers(start, start + SIZE_MS, PER_WINDOW))
        for i, row in enumerate(batch.rows()):
            iid = f"i{n}"
            t = int(ts[i])
            capture.append((t, encode_capture_record(
                MODEL, features=row, inference_id=iid, timestamp_ms=t,
                prediction={"label": int(batch.prediction[i]), "score": float(batch.score[i])},
                attributions={k: float(v[i]) for k, v in batch.attributions.items()})))
            if n % NO_LABEL_EVERY != 0:
                label = encode_label_record(MODEL, iid, int(batch.label[i]), t + 100)
                labels.append((t + 100, label))
                labelled[start] += 1
                if n % NO_LABEL_EVERY == 1 and n // NO_LABEL_EVERY < N_DUPLICATE:
                    labels.append((t + 150, label))  # the same label sent twice
            n += 1
    for g in range(N_GHOST):
        labels.append((first + 10 * g, encode_label_record(MODEL, f"ghost{g}", 1, first + 10 * g)))
    labels.sort(key=lambda x: x[0])
    return [v for _, v in capture], [v for _, v in labels], labelled


def _metric(text: str, outcome: str, model: str = MODEL) -> float:
    pattern = rf'streamdrift_label_join_total\{{model="{re.escape(model)}",outcome="{outcome}"\}} ([0-9.e+]+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


def _tick_capture(ts: int) -> bytes:
    """A record of the window after the last one: the capture watermark passes the last window's end."""
    row = generate(1, np.random.default_rng(0)).rows()[0]
    return encode_capture_record(MODEL, features=row, prediction={"label": 1, "score": 0.9},
                                 inference_id=None, timestamp_ms=ts)


def _arrow_batches(capture: list[bytes]) -> list[bytes]:
    """The capture records as the SDK's Arrow batches of ARROW_ROWS rows, each big enough that the data plane
    joins its predictions in the join thread beside the profiling (see ``DataPlane._process``)."""
    out: list[bytes] = []
    for i in range(0, len(capture), ARROW_ROWS):
        blob = encode_arrow_batch(MODEL, [orjson.loads(v) for v in capture[i:i + ARROW_ROWS]])
        assert blob is not None and len(blob) >= PARSE_AHEAD_MAX_BYTES
        out.append(blob)
    return out


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_model_quality_bias_attribution_events_and_label_counts(kafka_bootstrap: str, tmp_path: Path,
                                                                fmt: str) -> None:
    """Ground truth that arrives after its windows' data-quality evaluation still counts in those windows.

    Event time only (idle_timeout too long to matter, one partition): the data stage of the five windows closes
    on the capture records alone, before any label exists; then the labels come (stamped 100 ms after their
    predictions, the last one past the last window's end + delay) and each window's model quality is evaluated
    with exactly its labels, none late. The same with the capture records in Arrow batches, whose predictions the
    data plane joins in its join thread."""
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=1,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=600.0),
        labels=LabelSettings(delay=1.0, ttl=6.0, spill_dir=str(tmp_path / "join")),
        commit_interval=0.5, merge_timeout=30.0, web_host="127.0.0.1", web_port=find_free_port(span=2),
    )
    create_all_topics(settings)
    baseline_id = _publish_baseline(settings)
    first = (int(time.time() * 1000) // SIZE_MS - 7) * SIZE_MS
    after = first + len(SCENARIOS) * SIZE_MS
    capture, labels, labelled = _records(first)
    if fmt == "arrow":
        capture = _arrow_batches(capture)
    produce(settings, settings.topics.capture, [*capture, _tick_capture(after + 1000)], key=MODEL.encode())

    base = f"http://127.0.0.1:{settings.web_port}"
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        status = wait_until(lambda: orjson.loads(_get(f"{base}/status/{MODEL}")),
                       lambda s: len(s["windows"]) >= len(SCENARIOS), timeout=120)
        assert not [w for w in status["windows"] if "model_quality" in w]  # data quality did not wait
        assert all(w["evaluated"] for w in status["windows"])
        tick_label = encode_label_record(MODEL, "tick-label", 1, after + 2000)  # labels watermark past the end
        produce(settings, settings.topics.labels, [*labels, tick_label], key=MODEL.encode())
        status = wait_until(lambda: orjson.loads(_get(f"{base}/status/{MODEL}")),
                       lambda s: sum("model_quality" in w for w in s["windows"]) >= len(SCENARIOS), timeout=120)
        alerts = drift_events(read_topic(settings, settings.topics.alerts, until=time.monotonic() + 15, idle_s=4.0))
        # both watermarks move on by more than the TTL: the ghost labels (and the first tick label) expire
        produce(settings, settings.topics.capture, [_tick_capture(after + 30_000)], key=MODEL.encode())
        produce(settings, settings.topics.labels, [encode_label_record(MODEL, "tick-label-2", 1, after + 31_000)],
                key=MODEL.encode())
        dataplane_metrics = f"http://127.0.0.1:{settings.web_port + 1}/metrics"  # role all: data plane's port
        metrics = wait_until(lambda: _get(dataplane_metrics).decode(),
                        lambda t: _metric(t, "unmatched", "_all") >= N_GHOST + 1, timeout=60)
        control_metrics = _get(f"{base}/metrics").decode()
        report = _get(f"{base}/report/{MODEL}").decode()

    windows = {w["window_start"]: w for w in status["windows"]}
    assert status["baseline_id"] == baseline_id
    # exact labelled count per window (the label is accounted to its prediction's window)
    by_start = sorted(windows.values(), key=lambda w: w["window_start"])
    assert [w["model_quality"]["n_labelled"] for w in by_start] == [labelled[first + i * SIZE_MS]
                                                                      for i in range(len(SCENARIOS))]
    raised = [a for a in alerts if a["status"] == "raised"]
    quality = [a for a in raised if a["monitor"] == "model_quality" and a["check"] == "model_quality_check"]
    bias = [a for a in raised if a["monitor"] == "bias"]
    starts = [w["window_start"] for w in by_start]
    assert quality and {a["window_start"] for a in quality} == {starts[2]}, quality
    assert any(a["metric"] == "accuracy" for a in quality)
    assert bias and {a["window_start"] for a in bias} == {starts[3]}, [w.get("bias") for w in by_start]
    assert all(a["metric"].startswith("gender:") and a["check"] == "bias_drift_check" for a in bias)
    assert not [a for a in raised if a["monitor"] == "attribution"]
    assert all(w["attribution"]["ndcg"] > 0.9 for w in by_start)
    # label outcomes, exactly (metrics of the data plane, role all: web_port + 1)
    total_labelled = sum(labelled.values())
    assert _metric(metrics, "matched") == total_labelled
    assert _metric(metrics, "duplicate") == N_DUPLICATE
    assert _metric(metrics, "unmatched", "_all") == N_GHOST + 1  # the ghosts and the first tick label
    assert _metric(metrics, "late") == 0
    assert f'streamdrift_model_quality_metric{{metric="accuracy",model="{MODEL}"}}' in control_metrics
    assert f'streamdrift_attribution_ndcg{{model="{MODEL}"}}' in control_metrics
    assert "<html" in report and MODEL in report


# ------------------------------------------------------------------------------------------ exactly once

RATE = 400  # predictions per second
FEED_S = 14.0
KILL_AT_S = 6.0
LABEL_LAG_S = 4.0  # longer than a window: every label comes after its window's data stage closed
KILL_SIZE_MS = 3000


class _Feeder(threading.Thread):
    """Live predictions stamped with the wall clock; each gets its label LABEL_LAG_S later (labels keyed alike)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.labelled: Counter[int] = Counter()  # labels of predictions in the join sample, by prediction window
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        rng = np.random.default_rng(23)
        producer = Producer(self.settings.client_config({"linger.ms": 10, "enable.idempotence": True}))
        waiting: list[tuple[float, bytes, int]] = []
        key = MODEL.encode()
        end = time.monotonic() + FEED_S
        n = 0
        while time.monotonic() < end or waiting:
            now = time.monotonic()
            if now < end:
                batch = generate(RATE // 10, rng)
                ts = int(time.time() * 1000)
                for i, row in enumerate(batch.rows()):
                    iid = f"k{n}"
                    n += 1
                    producer.produce(self.settings.topics.capture, key=key, value=encode_capture_record(
                        MODEL, features=row, inference_id=iid, timestamp_ms=ts,
                        prediction={"label": int(batch.prediction[i]), "score": float(batch.score[i])}))
                    waiting.append((now + LABEL_LAG_S, orjson.dumps((iid, int(batch.label[i]))), ts))
            due = [w for w in waiting if w[0] <= now]
            waiting = [w for w in waiting if w[0] > now]
            for _, payload, pred_ts in due:
                iid, label = orjson.loads(payload)
                producer.produce(self.settings.topics.labels, key=key,
                                 value=encode_label_record(MODEL, iid, label, int(time.time() * 1000)))
                if join_sample(MODEL, [iid], self.settings.labels.sample_rate)[0]:
                    self.labelled[pred_ts - pred_ts % KILL_SIZE_MS] += 1
            producer.poll(0)
            time.sleep(0.1)
        if producer.flush(120):
            raise RuntimeError("records left unacknowledged")


def _labelled_windows(settings: Settings) -> tuple[list[WindowMerger], Counter[int]]:
    """The partials merged as the control plane does, and the labelled rows of each released window."""
    mergers, windows = merged_partials(settings, 3, until=time.monotonic() + 60, to_end=True)
    labelled: Counter[int] = Counter()
    for window in windows:
        assert not window.partial
        state = merge_blobs(window.extras.get("model_quality", []))
        labelled[window.window_start_ms] += 0 if state is None else state.n
    return mergers, labelled


@pytest.mark.parametrize("sample_rate", [1.0, 0.5])
def test_label_join_exactly_once_through_kill(kafka_bootstrap: str, tmp_path: Path, sample_rate: float) -> None:
    """Also with a join sample: the restarted worker rebuilds its join store from Kafka with the same sample."""
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=3,
        window=WindowSettings(size=KILL_SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
        labels=LabelSettings(delay=LABEL_LAG_S + 1.5, sample_rate=sample_rate), commit_interval=0.5,
        instance_id="w0",
    )
    create_all_topics(settings)
    args = ["--instance-id", "w0"]
    worker = start_worker(settings, role="dataplane", log_path=tmp_path / "w0.log", extra_args=args)
    feeder = _Feeder(settings)
    started = time.monotonic()
    try:
        feeder.start()
        time.sleep(max(0.0, KILL_AT_S - (time.monotonic() - started)))
        kill_worker(worker)
        worker = start_worker(settings, role="dataplane", log_path=tmp_path / "w0.log", extra_args=args)
        feeder.join(FEED_S + 60)
        assert feeder.error is None and not feeder.is_alive()
        # every window's data and labels stage closes once each partition's watermark passed it (idle ones:
        # idle_timeout; labels: labels.delay later); the restarted worker may take a while on a loaded machine
        wait_until(lambda: _labelled_windows(settings), lambda m: all(x.open_windows() == 0 for x in m[0]), timeout=240,
                   interval=1.0)
    finally:
        stop_worker(worker)

    mergers, labelled = _labelled_windows(settings)
    assert all(m.duplicates == 0 for m in mergers)
    assert sum(feeder.labelled.values()) > RATE * FEED_S * 0.5 * sample_rate
    assert +labelled == +feeder.labelled
