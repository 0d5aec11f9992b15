"""Batch / stream parity on the real broker: the same rows through ``streamdrift check`` and through a running
worker, with the same settings file, give the same drift events.

The rows carry timestamps, a prediction and score, attributions and a ``gender`` facet; their labels come
separately (a label file for ``check``, the labels topic for the worker). Six windows: two clean, then in turn
a shifted numeric feature and a new category (data quality), an accuracy drop (model quality and the ADWIN
concept-drift detector), a demographic-parity change (bias) and a reordered attribution ranking (attribution),
the next window clean again so that alerts clear; then a window whose scores are squashed towards 0.5 (same
predicted classes: the estimated performance drops without a label) and whose two pairs of features are made
comonotone (same values, so the marginals are unchanged: multivariate drift), and a clean one. Every event's monitor, check, subject, window, status, value,
threshold and id must agree (values to 1e-9: windows stay below the KLL k of 1,000 rows, where the sketch is
exact, so nothing in either path is randomized).

Segments: a second model, sliced by ``region`` (its baseline built with per-region profiles), runs beside it in
the same worker; in its second window the incomes of one region (a tenth of its traffic) jump. Both paths must
raise and clear the same per-segment events (``segment`` in the key).

Roll-ups: a third model (``window.rollup_models``) is also judged in 30-second roll-up windows
(``window.rollups``); its incomes creep up in windows 3 to 5 by less than any 10-second window of 100 records
shows, and its roll-up of them raises, then clears. Both paths must give the same roll-up events
(``window_seconds`` in the key; 300 records a roll-up, below the KLL k: exact).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from click.testing import CliRunner
from credit import credit_baseline
from harness import (
    create_all_topics,
    drift_events,
    produce,
    read_topic,
    unique_settings,
    wait_until,
    worker_process,
)
from numpy.typing import NDArray

from streamdrift.baseline.baseline import build_baseline
from streamdrift.cli import main
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.dev.synthetic import NUMERIC, Batch, Scenario, generate
from streamdrift.ingest.records import encode_capture_record, encode_label_record
from streamdrift.monitors.segments.section import SegmentProfiler
from streamdrift.monitors.segments.spec import SegmentSpec
from streamdrift.profile.profiles import ProfileParams
from streamdrift.settings import EvaluationSettings, LabelSettings, WindowSettings
from streamdrift.worker.baselines import publish_baseline

pytestmark = pytest.mark.integration

MODEL = "parity"
SIZE_MS = 10_000
PER_WINDOW = 700  # below the window KLL k (1,000): exact sketches
SCENARIOS = (Scenario.NORMAL, Scenario.SHIFTED_INCOME, Scenario.NEW_REGION, Scenario.LABEL_FLIP, Scenario.BIAS,
             Scenario.NORMAL, Scenario.NORMAL, Scenario.NORMAL, Scenario.NORMAL)
SWAP = 5  # this window's attribution ranking is reversed
LABEL_FREE = 7  # squashed scores (estimated performance) and comonotone feature pairs (multivariate drift)
COMONOTONE = (("debt_ratio", "utilization"), ("income", "credit_history_years"))


def _baseline_json() -> bytes:
    return credit_baseline(MODEL, label_free=True).to_json()


def _swap(batch: Batch) -> None:
    names = list(NUMERIC)
    values = [batch.attributions[n].copy() for n in names]
    for name, value in zip(names, reversed(values), strict=True):
        batch.attributions[name] = value


def _label_free_drift(batch: Batch) -> NDArray[np.float64]:
    """Make each pair comonotone (the second feature's values re-ordered like the first's: same marginals) and
    return the scores squashed towards 0.5 (same predicted class, much less confident)."""
    for a, b in COMONOTONE:
        values = np.sort(batch.features[b])
        reordered = np.empty_like(values)
        reordered[np.argsort(batch.features[a], kind="stable")] = values
        batch.features[b] = reordered
    return np.round(0.5 + (batch.score - 0.5) * 0.3, 5)


def _rows(first: int) -> tuple[list[bytes], list[bytes]]:
    """Capture records and label records (each in time order) of the windows."""
    rng = np.random.default_rng(29)
    capture: list[bytes] = []
    labels: list[bytes] = []
    n = 0
    for w, scenario in enumerate(SCENARIOS):
        batch = generate(PER_WINDOW, rng, scenario)
        if w == SWAP:
            _swap(batch)
        scores = _label_free_drift(batch) if w == LABEL_FREE else batch.score
        start = first + w * SIZE_MS
        stamps = np.sort(rng.integers(start, start + SIZE_MS - 200, PER_WINDOW))
        for i, row in enumerate(batch.rows()):
            t = int(stamps[i])
            capture.append(encode_capture_record(
                MODEL, features=row, inference_id=f"p{n}", timestamp_ms=t,
                prediction={"label": int(batch.prediction[i]), "score": float(scores[i])},
                attributions={k: float(v[i]) for k, v in batch.attributions.items()}))
            if n % 23:  # some predictions never get a label
                labels.append(encode_label_record(MODEL, f"p{n}", int(batch.label[i]), t + 100))
            n += 1
    return capture, labels


SEG_MODEL = "parity-segments"
SEG_REGION = "west"  # a tenth of the traffic
SEG_WINDOWS = 3  # clean, incomes of SEG_REGION doubled and more, clean


def _segment_baseline() -> bytes:
    batch = generate(6000, np.random.default_rng(8))
    profiler = SegmentProfiler(SegmentSpec.parse("region"), ProfileParams(kll_k=2048))
    return build_baseline([columns_from_rows(batch.rows())], SEG_MODEL, segments=profiler).to_json()


def _segment_rows(first: int) -> list[bytes]:
    rng = np.random.default_rng(31)
    capture: list[bytes] = []
    for w in range(SEG_WINDOWS):
        batch = generate(PER_WINDOW, rng)
        if w == 1:
            income = np.asarray(batch.features["income"], dtype=np.float64)
            batch.features["income"] = np.where(batch.features["region"] == SEG_REGION, income * 2.7, income)
        start = first + w * SIZE_MS
        stamps = np.sort(rng.integers(start, start + SIZE_MS - 200, PER_WINDOW))
        capture += [encode_capture_record(SEG_MODEL, features=row, inference_id=f"s{w}-{i}", timestamp_ms=int(t),
                                          prediction={"label": int(batch.prediction[i])})
                    for i, (row, t) in enumerate(zip(batch.rows(), stamps, strict=True))]
    return capture


ROLL_MODEL = "parity-rollups"
ROLL_PER_WINDOW = 100
ROLLUP_S = 30  # three windows


def _roll_features(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, Any]:
    return {"income": rng.lognormal(10.0 + shift, 0.5, n), "age": rng.normal(40.0, 10.0, n).round(1)}


def _roll_baseline() -> bytes:
    features = _roll_features(np.random.default_rng(7), 20_000)
    rows = [{"income": float(a), "age": float(b)} for a, b in zip(features["income"], features["age"], strict=True)]
    return build_baseline([columns_from_rows(rows)], ROLL_MODEL).to_json()


def _roll_rows(first: int) -> list[bytes]:
    rng = np.random.default_rng(13)
    capture: list[bytes] = []
    for w in range(len(SCENARIOS)):
        f = _roll_features(rng, ROLL_PER_WINDOW, 0.07 if w in (3, 4, 5) else 0.0)  # 0.14 sigma of log-income
        start = first + w * SIZE_MS
        stamps = np.sort(rng.integers(start, start + SIZE_MS - 200, ROLL_PER_WINDOW))
        capture += [encode_capture_record(ROLL_MODEL, features={"income": float(f["income"][i]),
                                                                "age": float(f["age"][i])},
                                          inference_id=f"r{w}-{i}", timestamp_ms=int(stamps[i]), prediction=None)
                    for i in range(ROLL_PER_WINDOW)]
    return capture


def _check(tmp_path: Path, config: Path, name: str, baseline: bytes, capture: list[bytes],
           labels: list[bytes] | None = None) -> list[dict[str, Any]]:
    """``streamdrift check --config`` on ``capture`` (and ``labels``) against ``baseline``, its files named after
    ``name`` in ``tmp_path``: the events it wrote."""
    (tmp_path / f"{name}.baseline.json").write_bytes(baseline)
    (tmp_path / f"{name}.jsonl").write_bytes(b"\n".join(capture) + b"\n")
    args = ["check", "--config", str(config), "--baseline", str(tmp_path / f"{name}.baseline.json"),
            "--input", str(tmp_path / f"{name}.jsonl"), "--output", str(tmp_path / f"out-{name}"), "--quiet"]
    if labels is not None:
        (tmp_path / f"{name}.labels.jsonl").write_bytes(b"\n".join(labels) + b"\n")
        args[-1:-1] = ["--labels", str(tmp_path / f"{name}.labels.jsonl")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in (tmp_path / f"out-{name}" / "events.jsonl").read_bytes().splitlines()]


def _key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["model_id"], event["monitor"], event["check"], event.get("feature") or event.get("metric"),
            event.get("segment") or "", event["window_start"], event.get("window_seconds") or 0, event["status"],
            event["event_id"])


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))


def test_check_and_the_worker_raise_and_clear_the_same_events(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=2,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=1.0, idle_timeout=3.0, rollups=(ROLLUP_S,),
                              rollup_models=(ROLL_MODEL,)),
        labels=LabelSettings(delay=2.0, ttl=3600.0, spill_dir=str(tmp_path / "join")),
        evaluation=EvaluationSettings(raise_after=1, clear_after=1),
        commit_interval=0.5, merge_timeout=60.0, web_host="127.0.0.1", web_port=find_free_port(span=2),
    )
    create_all_topics(settings)
    baseline = _baseline_json()
    publish_baseline(settings, baseline)
    segment_baseline = _segment_baseline()
    publish_baseline(settings, segment_baseline)
    # windows of the past, the first at the start of a roll-up window
    first = (int(time.time() * 1000) // (ROLLUP_S * 1000) - len(SCENARIOS)) * ROLLUP_S * 1000
    capture, labels = _rows(first)

    # the batch path: the same settings file, the rows and labels as files
    config = tmp_path / "worker.yaml"
    data = settings.model_dump(mode="json")
    data.pop("sasl_password")
    config.write_text(yaml.safe_dump(data))
    batch_events = _check(tmp_path, config, "capture", baseline, capture, labels)
    segment_capture = _segment_rows(first)
    segment_events = _check(tmp_path, config, "segments", segment_baseline, segment_capture)
    per_segment = [(e["status"], e["segment"], e["feature"], e["window_start"]) for e in segment_events
                   if "segment" in e]
    assert [(status, segment, feature) for status, segment, feature, _ in per_segment] == [
        ("raised", SEG_REGION, "income"), ("cleared", SEG_REGION, "income")], per_segment
    batch_events += segment_events
    roll_baseline = _roll_baseline()
    publish_baseline(settings, roll_baseline)
    roll_capture = _roll_rows(first)
    roll_events = _check(tmp_path, config, "rollups", roll_baseline, roll_capture)
    assert [(e["status"], e["feature"], e.get("window_seconds")) for e in roll_events] == [
        ("raised", "income", ROLLUP_S), ("cleared", "income", ROLLUP_S)], roll_events
    batch_events += roll_events

    # the stream path: records and labels on their topics, then a worker with the same settings
    for w in range(len(SCENARIOS)):  # window by window: the models' rows may share a partition (and watermark)
        produce(settings, settings.topics.capture, capture[w * PER_WINDOW:(w + 1) * PER_WINDOW], key=MODEL.encode())
        produce(settings, settings.topics.capture, segment_capture[w * PER_WINDOW:(w + 1) * PER_WINDOW],
                key=SEG_MODEL.encode())
        produce(settings, settings.topics.capture, roll_capture[w * ROLL_PER_WINDOW:(w + 1) * ROLL_PER_WINDOW],
                key=ROLL_MODEL.encode())
    produce(settings, settings.topics.labels, labels, key=MODEL.encode())
    expected = len(batch_events)
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        stream_events = wait_until(
            lambda: drift_events(read_topic(settings, settings.topics.alerts, until=time.monotonic() + 30,
                                            to_end=True)),
            lambda events: len(events) >= expected, timeout=180, interval=1.0)
        time.sleep(4)  # nothing more may come
        stream_events = drift_events(read_topic(settings, settings.topics.alerts, until=time.monotonic() + 8,
                                                idle_s=3.0))

    kinds = {(e["monitor"], e["check"]) for e in batch_events if e["status"] == "raised"}
    assert {("data_quality", "baseline_drift_check"), ("model_quality", "model_quality_check"),
            ("model_quality", "concept_drift_check"), ("bias", "bias_drift_check"),
            ("attribution", "feature_attribution_drift_check"), ("model_quality", "estimated_performance_check"),
            ("data_quality", "multivariate_drift_check")} <= kinds, kinds
    cleared = {(e["check"], e.get("feature") or e.get("metric")) for e in batch_events if e["status"] == "cleared"}
    assert {("estimated_performance_check", "accuracy"), ("multivariate_drift_check", "reconstruction_error")} \
        <= cleared, cleared
    assert any(e["status"] == "cleared" for e in batch_events)
    batch_by_key = {_key(e): e for e in batch_events}
    stream_by_key = {_key(e): e for e in stream_events}
    assert len(batch_by_key) == len(batch_events) and len(stream_by_key) == len(stream_events)  # no repeats
    assert sorted(stream_by_key) == sorted(batch_by_key)
    for key, event in batch_by_key.items():
        other = stream_by_key[key]
        for field in ("value", "threshold", "p_value"):
            assert _close(event[field], other[field]), (key, field, event[field], other[field])
        assert (event["n_window"], event["baseline_id"]) == (other["n_window"], other["baseline_id"]), key
