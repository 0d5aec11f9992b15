"""The capture SDK against the real local broker: every record comes back, values exact, in every format."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Consumer

from streamdrift.ingest.arrow import is_arrow_batch
from streamdrift.ingest.records import parse_capture, parse_labels
from streamdrift.sdk.client import CaptureClient, keep_sample

pytestmark = pytest.mark.integration

T0 = 1_718_000_000_000
N = 2_500


def _read_all(config: dict[str, Any], topic: str, expected: int, timeout_s: float = 60.0) -> list[bytes]:
    consumer = Consumer(config)
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(values) < expected:
            values += _values(consumer)
        values += _values(consumer)  # anything beyond the expected count would be a duplicate
    finally:
        consumer.close()
    return values


def _values(consumer: Consumer) -> list[bytes]:
    out = []
    for msg in consumer.consume(1000, timeout=1.0):
        value = msg.value()
        if msg.error() is None and value is not None:
            out.append(value)
    return out


@pytest.mark.parametrize("fmt", ["json", "columnar", "arrow"])
def test_sdk_round_trip_through_kafka(
    fmt: str,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    consumer_config: Callable[[str], dict[str, Any]],
) -> None:
    capture_topic = new_topic(3)
    labels_topic = new_topic(1)
    rng = np.random.default_rng(42)
    x = rng.normal(size=N)
    cats = rng.choice(["a", "b", "c"], N)
    with CaptureClient(
        kafka_bootstrap, "model-a", model_version="2", topic=capture_topic, labels_topic=labels_topic,
        batch_format=fmt, columnar_max_rows=400,  # type: ignore[arg-type]
    ) as client:  # fmt: skip
        for i in range(N):
            client.capture(
                {"x": x[i], "cat": str(cats[i]), "i": i},
                {"label": int(x[i] > 0), "score": float(abs(x[i]))},
                inference_id=f"inf-{i}",
                timestamp=T0 + i,
            )
            if i % 10 == 0:
                client.label(f"inf-{i}", int(x[i] > 0), timestamp=T0 + i + 5)
        assert client.flush(30) == 0
    assert client.dropped == 0
    assert client.sent == N + N // 10

    values = _read_all(consumer_config(f"g-{capture_topic}"), capture_topic, N if fmt == "json" else 7)
    assert len(values) == (N if fmt == "json" else 7)
    assert all(is_arrow_batch(v) == (fmt == "arrow") for v in values)
    batches, dead = parse_capture(values)
    assert dead == []
    [b] = batches
    assert (b.model_id, b.model_version, b.n_rows) == ("model-a", "2", N)
    order = np.argsort(b.features.columns["i"].numbers)
    np.testing.assert_array_equal(b.features.columns["i"].numbers[order], np.arange(N))
    np.testing.assert_array_equal(b.features.columns["x"].numbers[order], x)  # exact float round trip
    assert b.features.columns["cat"].strings is not None
    assert b.features.columns["cat"].strings[order].tolist() == cats.tolist()
    assert b.inference_ids[order].tolist() == [f"inf-{i}" for i in range(N)]
    assert b.timestamps_ms[order].tolist() == [T0 + i for i in range(N)]
    assert b.score is not None
    np.testing.assert_array_equal(b.score[order], np.abs(x))

    label_values = _read_all(consumer_config(f"g-{labels_topic}"), labels_topic, N // 10)
    labels, dead = parse_labels(label_values)
    assert dead == [] and labels.n_rows == N // 10
    assert sorted(labels.inference_ids.tolist()) == sorted(f"inf-{i}" for i in range(0, N, 10))


@pytest.mark.parametrize("fmt", ["json", "columnar", "arrow"])
def test_capture_batch_round_trip_through_kafka(
    fmt: str,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    consumer_config: Callable[[str], dict[str, Any]],
) -> None:
    """Predictions given as columns (batch inference) come back exactly, sampled as capture() samples them."""
    capture_topic = new_topic(3)
    rng = np.random.default_rng(43)
    x = rng.normal(size=N)
    cats = rng.choice(np.array(["a", "b", "c"], dtype=object), N)
    ids = [f"inf-{i}" for i in range(N)]
    with CaptureClient(
        kafka_bootstrap, "model-b", topic=capture_topic, batch_format=fmt,  # type: ignore[arg-type]
        columnar_max_rows=400, sample_rate=0.5,
    ) as client:  # fmt: skip
        returned = client.capture_batch({"x": x, "cat": cats, "i": np.arange(N)}, (x > 0).astype(int),
                                        scores=np.abs(x), inference_ids=ids, timestamps=T0 + np.arange(N))
        assert client.flush(30) == 0
    kept = [i for i, inference_id in enumerate(returned) if inference_id is not None]
    assert [ids[i] for i in kept] == [i for i in ids if keep_sample(i, 0.5)] and 1100 < len(kept) < 1400
    assert client.dropped == 0 and client.sent == len(kept)

    expected = len(kept) if fmt == "json" else -(-len(kept) // 400)
    values = _read_all(consumer_config(f"g-{capture_topic}"), capture_topic, expected)
    assert len(values) == expected
    batches, dead = parse_capture(values)
    assert dead == []
    [b] = batches
    order = np.argsort(b.features.columns["i"].numbers)
    np.testing.assert_array_equal(b.features.columns["i"].numbers[order], kept)
    np.testing.assert_array_equal(b.features.columns["x"].numbers[order], x[kept])  # exact
    assert b.features.columns["cat"].strings is not None
    assert b.features.columns["cat"].strings[order].tolist() == cats[kept].tolist()
    assert b.timestamps_ms[order].tolist() == (T0 + np.asarray(kept)).tolist()
    assert b.score is not None
    np.testing.assert_array_equal(b.score[order], np.abs(x[kept]))
