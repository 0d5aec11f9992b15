"""The capture SDK without a broker: encoding (through a recording producer), sampling, drop accounting."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamdrift.columns.columns import Kind
from streamdrift.errors import ConfigError
from streamdrift.ingest.records import parse_capture, parse_labels
from streamdrift.sdk.client import CaptureClient, keep_sample

T0 = 1_718_000_000_000


class _RecordingProducer:
    """Stands in for confluent_kafka.Producer: keeps what was produced, delivers on flush."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self.messages: list[tuple[str, bytes, bytes]] = []
        self._pending: list[Callable[[Any, Any], None]] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]) -> None:
        if len(self._pending) >= self.capacity:
            raise BufferError("queue full")
        self.messages.append((topic, key, value))
        self._pending.append(on_delivery)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        pending, self._pending = self._pending, []
        for cb in pending:
            cb(None, None)
        return 0


def _client(producer: _RecordingProducer, **kw: Any) -> CaptureClient:
    client = CaptureClient("127.0.0.1:1", "m", **kw)
    client._producer = producer  # type: ignore[assignment]
    return client


def _values(producer: _RecordingProducer, topic: str) -> list[bytes]:
    return [v for t, _, v in producer.messages if t == topic]


@pytest.mark.parametrize("fmt", ["json", "columnar"])
def test_records_round_trip_exactly(fmt: str) -> None:
    producer = _RecordingProducer()
    rng = np.random.default_rng(1)
    x = rng.normal(size=25)
    with _client(producer, batch_format=fmt, columnar_max_rows=10, model_version="7") as client:
        ids = [
            client.capture(
                {"x": x[i], "n": np.int64(i), "c": f"k{i % 3}", "b": i % 2 == 0, "gone": math.nan},
                {"label": i % 2, "score": float(x[i] ** 2)} if i % 5 else "other",
                inference_id=None if i == 0 else f"id{i}",
                timestamp=T0 + i,
                attributions={"x": 0.5 * i},
            )
            for i in range(25)
        ]
        client.flush(1)
        assert client.sent == 25 and client.dropped == 0
    assert all(isinstance(i, str) for i in ids)
    uuid.UUID(str(ids[0]))  # generated
    assert {k for _, k, _ in producer.messages} == {b"m"}
    if fmt == "columnar":
        assert len(producer.messages) == 3  # 10 + 10 + 5 (flushed on close)
    batches, dead = parse_capture(_values(producer, "streamdrift.capture"))
    assert dead == []
    [b] = batches
    order = np.argsort(b.timestamps_ms)
    assert b.model_version == "7"
    assert b.timestamps_ms[order].tolist() == [T0 + i for i in range(25)]
    assert b.inference_ids[order].tolist() == ids
    np.testing.assert_array_equal(b.features.columns["x"].numbers[order], x)
    np.testing.assert_array_equal(b.features.columns["n"].numbers[order], np.arange(25))
    assert set(b.features.columns["gone"].kinds.tolist()) == {Kind.MISSING}
    assert b.features.columns["b"].kinds.tolist() == [Kind.BOOLEAN] * 25
    assert b.score is not None
    expected_score = np.where(np.arange(25) % 5 == 0, np.nan, x**2)
    np.testing.assert_array_equal(b.score[order], expected_score)
    assert b.attributions is not None
    np.testing.assert_array_equal(b.attributions.columns["x"].numbers[order], 0.5 * np.arange(25))


def test_sampling_is_deterministic_and_labels_follow() -> None:
    ids = [f"req-{i}" for i in range(20_000)]
    kept = [keep_sample(i, 0.3) for i in ids]
    assert kept == [keep_sample(i, 0.3) for i in ids]
    # binomial(20000, 0.3): sd = 64.8; 5 sd
    assert abs(sum(kept) - 6000) < 5 * math.sqrt(20_000 * 0.3 * 0.7)
    assert all(keep_sample(i, 1.0) for i in ids[:100]) and not any(keep_sample(i, 0.0) for i in ids[:100])

    producer = _RecordingProducer()
    client = _client(producer, sample_rate=0.3)
    returned = [client.capture({"x": 1}, 1, inference_id=i, timestamp=T0) for i in ids[:2000]]
    labelled = [client.label(i, 0, timestamp=T0) for i in ids[:2000]]
    client.close(1)
    assert [r is not None for r in returned] == kept[:2000] == labelled
    labels, dead = parse_labels(_values(producer, "streamdrift.labels"))
    assert dead == []
    assert labels.inference_ids.tolist() == [i for i, k in zip(ids[:2000], kept, strict=False) if k]


def test_full_queue_drops_and_counts_never_blocks() -> None:
    producer = _RecordingProducer(capacity=5)
    registry = CollectorRegistry()
    client = _client(producer, registry=registry)
    for i in range(12):
        assert client.capture({"x": i}, 0, timestamp=T0) is not None
    assert client.dropped_by_reason == {"queue_full": 7}
    assert registry.get_sample_value("streamdrift_capture_dropped_total", {"reason": "queue_full"}) == 7
    client.flush(1)
    assert client.sent == 5
    assert registry.get_sample_value("streamdrift_capture_sent_total") == 5
    client.close(1)
    client.capture({"x": 1}, 0)
    assert client.dropped_by_reason["closed"] == 1


def test_unencodable_values_are_dropped_not_raised() -> None:
    producer = _RecordingProducer()
    client = _client(producer)
    client.capture({"x": object()}, 0, timestamp=T0)
    client.capture({"x": 1}, 0, timestamp=datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC))
    client.close(1)
    assert client.dropped_by_reason == {"encode_error": 1}
    [b], _ = parse_capture(_values(producer, "streamdrift.capture"))
    assert b.timestamps_ms.tolist() == [T0]


def test_real_producer_bounded_queue_without_broker() -> None:
    # librdkafka's own queue bounds memory: with nothing reachable, the 4th produce raises BufferError -> drop
    client = CaptureClient("127.0.0.1:1", "m", queue_size=3, kafka_config={"message.timeout.ms": "500"})
    for i in range(6):
        client.capture({"x": i}, 0, timestamp=T0)
    assert client.dropped_by_reason.get("queue_full") == 3
    left = client.close(timeout=3)
    assert client.sent == 0
    # the queued ones time out (delivery_error) or are left at close
    assert client.dropped_by_reason.get("delivery_error", 0) + left == 3


@pytest.mark.parametrize(
    "kw",
    [{"sample_rate": 1.5}, {"queue_size": 0}, {"batch_format": "xml"}, {"columnar_max_rows": 0}],
)
def test_invalid_settings(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CaptureClient("127.0.0.1:1", "m", **kw)
    with pytest.raises(ConfigError):
        CaptureClient("127.0.0.1:1", "")
