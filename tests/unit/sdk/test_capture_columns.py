"""CaptureClient.capture_batch: predictions given as columns reach the worker exactly as the same records given
one by one through capture() do, in every batch format; sampling, timestamps and bad batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from test_capture_encoding import T0, _client, _RecordingProducer, _values
from test_native_records import assert_same_batches

from streamdrift.ingest.arrow import is_arrow_batch
from streamdrift.ingest.records import parse_capture
from streamdrift.sdk.client import CaptureClient, keep_sample, new_inference_ids
from streamdrift.sdk.columns import column_batch

TOPIC = "streamdrift.capture"


def _columns(n: int, rng: np.random.Generator) -> dict[str, Any]:
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan  # missing
    x[3] = np.inf  # non-finite: written as missing, as capture() writes it
    city = rng.choice(np.array(["oslo", "rome", "lima"], dtype=object), n)
    city[rng.random(n) < 0.05] = None
    return {
        "x": x,
        "n": rng.integers(-5, 10**12, n),  # integers stay integral
        "flag": rng.random(n) < 0.5,  # booleans
        "city": city,  # text with missing values
        "small": rng.normal(size=n).astype(np.float32),
    }


def _send_both(fmt: str, n: int, rng: np.random.Generator, **kw: Any) -> tuple[list[bytes], list[bytes], list[Any]]:
    """The same records through capture() row by row and through capture_batch(): the messages of each."""
    cols = _columns(n, rng)
    labels = rng.integers(0, 2, n)
    scores = rng.random(n)
    attributions = {"x": rng.normal(size=n), "city": rng.random(n)}
    ids = [f"id-{i}" for i in range(n)]
    ts = T0 + np.arange(n) * 7
    by_row, by_column = _RecordingProducer(), _RecordingProducer()
    one = _client(by_row, batch_format=fmt, columnar_max_rows=300, **kw)
    for i in range(n):
        features = {name: values[i] for name, values in cols.items()}
        features = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in features.items()}
        one.capture(features, {"label": int(labels[i]), "score": float(scores[i])}, inference_id=ids[i],
                    timestamp=int(ts[i]), attributions={k: float(v[i]) for k, v in attributions.items()})
    one.flush(1)
    many = _client(by_column, batch_format=fmt, columnar_max_rows=300, **kw)
    returned = many.capture_batch(cols, labels, scores=scores, inference_ids=ids, timestamps=ts,
                                  attributions=attributions)
    many.flush(1)
    assert one.dropped == many.dropped == 0
    assert many.sent == one.sent
    return _values(by_row, TOPIC), _values(by_column, TOPIC), returned


@pytest.mark.parametrize("fmt", ["arrow", "columnar", "json"])
def test_columns_reach_the_worker_as_the_same_records_row_by_row(fmt: str) -> None:
    rows, columns, returned = _send_both(fmt, 1000, np.random.default_rng(4))
    assert returned == [f"id-{i}" for i in range(1000)]
    assert len(columns) == len(rows) == (1000 if fmt == "json" else 4)  # batches of columnar_max_rows
    assert all(is_arrow_batch(v) == (fmt == "arrow") for v in columns)
    if fmt == "columnar":
        assert columns == rows  # byte for byte
    by_row, dead_row = parse_capture(rows)
    by_column, dead_column = parse_capture(columns)
    assert dead_row == dead_column == []
    assert_same_batches(by_column, by_row)
    [batch] = by_column
    assert batch.n_rows == 1000 and batch.features.columns["flag"].strings is not None  # booleans kept


def test_sampled_out_predictions_are_neither_sent_nor_returned() -> None:
    rows, columns, returned = _send_both("arrow", 900, np.random.default_rng(5), sample_rate=0.3)
    kept = [f"id-{i}" for i in range(900) if keep_sample(f"id-{i}", 0.3)]
    assert [i for i in returned if i is not None] == kept and len(returned) == 900
    assert 200 < len(kept) < 340
    [batch], _ = parse_capture(columns)
    assert batch.inference_ids.tolist() == kept
    assert_same_batches(parse_capture(columns)[0], parse_capture(rows)[0])


def test_text_mixed_with_numbers_goes_as_a_json_columnar_batch() -> None:
    producer = _RecordingProducer()
    client = _client(producer, batch_format="arrow")
    mixed = np.array(["a", 1.5, None, "b"], dtype=object)
    client.capture_batch({"mixed": mixed, "x": [1.0, 2.0, 3.0, 4.0]}, [0, 1, 0, 1], timestamps=T0)
    client.flush(1)
    [value] = _values(producer, TOPIC)
    assert not is_arrow_batch(value)
    [batch], dead = parse_capture([value])
    assert dead == [] and batch.features.columns["mixed"].strings is not None
    assert batch.features.columns["mixed"].strings.tolist() == ["a", None, None, "b"]
    assert batch.features.columns["mixed"].numbers[1] == 1.5
    assert batch.timestamps_ms.tolist() == [T0] * 4


def test_pyarrow_columns_and_timestamp_forms() -> None:
    producer = _RecordingProducer()
    client = _client(producer, batch_format="arrow")
    when = datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)
    stamps = np.array(["2024-06-10T06:13:20.000", "2024-06-10T06:13:20.005"], dtype="datetime64[ms]")
    ids = client.capture_batch({"city": pa.array(["oslo", None]), "x": pa.chunked_array([[1.5], [None]])},
                               pa.array([1, 0]), inference_ids=["a", "b"], timestamps=stamps)
    assert ids == ["a", "b"]
    client.capture_batch({"x": [1.0]}, [1], inference_ids=["c"], timestamps=when)
    before = int(datetime.now(UTC).timestamp() * 1000)
    made = client.capture_batch({"x": [2.0, 3.0]}, None, scores=[0.2, 0.9])  # ids made, timestamps now
    client.flush(1)
    assert len(made) == 2 and len(set(made)) == 2 and all(isinstance(i, str) for i in made)
    [batch], dead = parse_capture(_values(producer, TOPIC))
    assert dead == []
    assert batch.inference_ids.tolist() == ["a", "b", "c", *made]
    assert batch.timestamps_ms[:3].tolist() == [T0, T0 + 5, T0]
    assert batch.timestamps_ms[3:].min() >= before
    assert batch.features.columns["city"].strings is not None
    assert batch.features.columns["city"].strings[:2].tolist() == ["oslo", None]
    assert np.isnan(batch.features.columns["x"].numbers[1]) and batch.features.columns["x"].numbers[0] == 1.5
    assert batch.score is not None and batch.score[3:].tolist() == [0.2, 0.9]


def test_a_batch_with_columns_of_other_lengths_is_dropped_and_counted() -> None:
    producer = _RecordingProducer()
    client = _client(producer, batch_format="arrow")
    ids = client.capture_batch({"x": [1.0, 2.0, 3.0], "y": [1.0]}, [0, 1, 0], inference_ids=["a", "b", "c"])
    assert ids == ["a", "b", "c"]
    assert client.dropped_by_reason == {"encode_error": 3}
    client.close(1)
    assert _values(producer, TOPIC) == []
    assert client.capture_batch({"x": [1.0]}, [1]) != [None] and client.dropped_by_reason["closed"] == 1
    with pytest.raises(ValueError, match="predictions: 2 values for 3"):
        column_batch({"x": [1, 2, 3]}, [1, 2], None, ["a", "b", "c"], np.zeros(3, dtype=np.int64))


def test_capture_batch_with_a_real_producer_and_no_broker_never_blocks() -> None:
    client = CaptureClient("127.0.0.1:1", "m", batch_format="arrow", queue_size=2, columnar_max_rows=10,
                           kafka_config={"message.timeout.ms": "500"})
    client.capture_batch({"x": np.arange(50.0)}, np.zeros(50), timestamps=T0)  # 5 messages: 2 fit the queue
    assert client.dropped_by_reason.get("queue_full") == 30
    left = client.close(timeout=3)
    assert client.dropped_by_reason.get("delivery_error", 0) + 10 * left == 20


def test_new_inference_ids_are_distinct_uuid4_strings() -> None:
    ids = new_inference_ids(20_000)
    assert len(set(ids)) == 20_000
    parsed = [uuid.UUID(i) for i in ids[:500]]
    assert all(str(u) == i and u.version == 4 and u.variant == uuid.RFC_4122 for u, i in zip(parsed, ids, strict=False))
    # every hex digit that is random takes every value: the digits are not stuck (version / variant aside)
    digits = np.array([list(i.replace("-", "")) for i in ids[:2000]])
    free = [k for k in range(32) if k not in (12, 16)]
    assert all(len(set(digits[:, k])) == 16 for k in free)
    assert set(digits[:, 12]) == {"4"} and set(digits[:, 16]) <= set("89ab")
    assert new_inference_ids(0) == []


def _rows_and_columns(features: dict[str, Any], predictions: Any = None, scores: Any = None,
                      ids: list[str] | None = None) -> tuple[list[bytes], list[bytes]]:
    """The messages of capture() row by row and of capture_batch() for the same records (Arrow format)."""
    n = len(next(iter(features.values())))
    ids = ids or [f"r{i}" for i in range(n)]
    by_row, by_column = _RecordingProducer(), _RecordingProducer()
    one, many = _client(by_row, batch_format="arrow"), _client(by_column, batch_format="arrow")
    for i in range(n):
        label = None if predictions is None else predictions[i]
        pred = label if scores is None else {"label": label, "score": scores[i]}
        row = {k: v[i].item() if isinstance(v[i], np.generic) else v[i] for k, v in features.items()}
        one.capture(row, pred, inference_id=ids[i], timestamp=T0)
    many.capture_batch(features, predictions, scores=scores, inference_ids=ids, timestamps=T0)
    one.flush(1)
    many.flush(1)
    assert one.dropped == many.dropped == 0
    return _values(by_row, TOPIC), _values(by_column, TOPIC)


@pytest.mark.parametrize("features", [
    {"mixed": [1, "a", None]},  # a plain list of text and numbers: JSON columnar, 1 stays a number
    {"big": [2**63, 1, 2]},  # beyond int64 in a list
    {"big": np.array([2**64 - 1, 1, 2], dtype=np.uint64)},  # ... and in a numpy array
    {"flags": [True, 1, False]},  # booleans with a number
    {"x": [1.5, float("nan"), 3], "n": [1, 2, None]},  # plain lists of numbers with missing values
])
def test_columns_the_arrow_types_cannot_hold_go_as_the_rows_do(features: dict[str, Any]) -> None:
    rows, columns = _rows_and_columns(features, [1, 0, 1])
    assert [is_arrow_batch(v) for v in columns] == [is_arrow_batch(v) for v in rows]
    assert_same_batches(parse_capture(columns)[0], parse_capture(rows)[0])


def test_predictions_none_in_every_row_are_left_out_as_the_rows_do() -> None:
    rows, columns = _rows_and_columns({"x": np.arange(3.0)}, [None, None, None])
    [batch] = parse_capture(columns)[0]
    assert batch.prediction is None
    assert_same_batches(parse_capture(columns)[0], parse_capture(rows)[0])


def test_missing_ids_are_made_and_bad_batches_never_raise() -> None:
    producer = _RecordingProducer()
    client = _client(producer, batch_format="arrow")
    ids = client.capture_batch({"x": [1.0, 2.0, 3.0]}, [0, 1, 0], inference_ids=["a", None, "c"], timestamps=T0)
    assert ids[0] == "a" and ids[2] == "c" and isinstance(ids[1], str) and len(ids[1]) == 36
    # dropped and counted, their ids returned as capture() returns one it could not encode
    assert len(client.capture_batch({"x": [1.0, 2.0]}, [0, 1], scores=0.5)) == 2  # a scalar column
    assert len(client.capture_batch({"x": [1.0]}, [1], timestamps="yesterday")) == 1
    assert client.capture_batch({}, None) == []  # nothing at all
    assert client.dropped_by_reason == {"encode_error": 3}
    not_columns: Any = 42
    assert client.capture_batch(not_columns, None) == [] and client.dropped_by_reason == {"encode_error": 3}
    client.flush(1)
    [batch] = parse_capture(_values(producer, TOPIC))[0]
    assert batch.inference_ids.tolist() == ids


def test_timestamps_one_for_all_or_one_each_in_any_form() -> None:
    producer = _RecordingProducer()
    client = _client(producer, batch_format="arrow")
    one = {"x": [1.0, 2.0]}
    client.capture_batch(one, [0, 1], timestamps=float(T0) + 0.9)  # truncated, as capture() does
    client.capture_batch(one, [0, 1], timestamps=np.datetime64(T0, "ms"))
    client.capture_batch(one, [0, 1], timestamps=np.array([T0 * 1000 + 499, T0 * 1000 + 500], dtype="datetime64[us]"))
    client.capture_batch(one, [0, 1], timestamps=[datetime.fromtimestamp(T0 / 1000, UTC), T0 + 1])
    client.flush(1)
    [batch] = parse_capture(_values(producer, TOPIC))[0]
    assert batch.timestamps_ms.tolist() == [T0, T0, T0, T0, T0, T0 + 1, T0, T0 + 1]  # datetimes rounded
