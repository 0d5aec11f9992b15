from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from capture_records import T0, json_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import Kind
from streamdrift.ingest.records import (
    DEAD_LETTER_REASONS,
    encode_capture_record,
    encode_label_record,
    parse_capture,
    parse_labels,
)


def test_json_records_become_exact_columns() -> None:
    values = [json_record(i) for i in range(5)]
    batches, dead = parse_capture(values)
    assert dead == []
    [b] = batches
    assert b.model_id == "m" and b.model_version is None
    np.testing.assert_array_equal(b.timestamps_ms, T0 + np.arange(5))
    assert list(b.inference_ids) == [f"id{i}" for i in range(5)]
    np.testing.assert_array_equal(b.source_index, np.arange(5))
    cols = b.features.columns
    assert b.features.n_rows == 5
    np.testing.assert_array_equal(cols["x"].numbers, np.arange(5) * 0.5)
    assert list(cols["x"].kinds) == [Kind.INTEGRAL, Kind.FRACTIONAL] * 2 + [Kind.INTEGRAL]
    assert cols["city"].strings is not None and list(cols["city"].strings) == ["oslo", "rome"] * 2 + ["oslo"]
    assert set(cols["flag"].kinds.tolist()) == {Kind.BOOLEAN}
    assert b.prediction is not None
    np.testing.assert_array_equal(b.prediction.numbers, np.arange(5) % 3)
    assert b.score is None and b.attributions is None


def test_grouping_by_model_and_version_keeps_source_index() -> None:
    values = [json_record(0, "a"), json_record(1, "b"), json_record(2, "a"), json_record(3, "a", model_version="2")]
    batches, dead = parse_capture(values)
    assert dead == []
    by_key = {(b.model_id, b.model_version): b for b in batches}
    assert set(by_key) == {("a", None), ("b", None), ("a", "2")}
    np.testing.assert_array_equal(by_key[("a", None)].source_index, [0, 2])
    np.testing.assert_array_equal(by_key[("b", None)].source_index, [1])
    np.testing.assert_array_equal(by_key[("a", "2")].timestamps_ms, [T0 + 3])


def test_missing_or_null_feature_is_missing_not_bad() -> None:
    values = [
        orjson.dumps({"model_id": "m", "timestamp": T0, "features": {"x": 1.0, "y": "u"}}),
        orjson.dumps({"model_id": "m", "timestamp": T0, "features": {"x": None}}),
    ]
    [b], dead = parse_capture(values)
    assert dead == []
    assert list(b.features.columns["y"].kinds) == [Kind.STRING, Kind.MISSING]
    assert list(b.features.columns["x"].kinds) == [Kind.INTEGRAL, Kind.MISSING]
    assert b.prediction is None
    assert list(b.inference_ids) == [None, None]


def test_prediction_with_score_and_attributions() -> None:
    values = [
        json_record(0, prediction={"label": "yes", "score": 0.9}, attributions={"x": 0.25, "n": -0.5}),
        json_record(1, prediction="no"),
    ]
    [b], dead = parse_capture(values)
    assert dead == []
    assert b.prediction is not None and b.prediction.strings is not None
    assert list(b.prediction.strings) == ["yes", "no"]
    assert b.score is not None
    np.testing.assert_array_equal(b.score, [0.9, np.nan])
    assert b.attributions is not None
    np.testing.assert_array_equal(b.attributions.columns["n"].numbers, [-0.5, np.nan])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not_json"),
        (b'{"model_id": "m", "timestamp": 1, "features": {"x": NaN}}', "not_json"),
        (b'{"model_id": "m", "timestamp": 1, "features": {"x": 1e400}}', "non_finite"),
        (b"[1, 2]", "not_object"),
        (b'"text"', "not_object"),
        (b'{"timestamp": 1, "features": {}}', "missing_field"),
        (b'{"model_id": "m", "timestamp": 1}', "missing_field"),
        (b'{"model_id": "m", "features": {"x": 1}}', "missing_field"),
        (b'{"model_id": 7, "timestamp": 1, "features": {}}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": [1]}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": {"x": [1, 2]}}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": {"x": {"a": 1}}}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": {}, "prediction": [1]}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": {}, "prediction": {"score": "hi"}}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": {}, "attributions": {"x": true}}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": 1, "features": {}, "inference_id": [1]}', "wrong_type"),
        (b'{"model_id": "m", "timestamp": -5, "features": {}}', "bad_timestamp"),
        (b'{"model_id": "m", "timestamp": true, "features": {}}', "bad_timestamp"),
        (b'{"model_id": "m", "timestamp": "yesterday", "features": {}}', "bad_timestamp"),
        (b'{"model_id": "m", "timestamp": [1], "features": {}}', "bad_timestamp"),
    ],
)
def test_dead_letter_reasons(value: bytes, reason: str) -> None:
    good = json_record(0)
    batches, dead = parse_capture([good, value, good])
    assert [(d.index, d.reason) for d in dead] == [(1, reason)]
    assert reason in DEAD_LETTER_REASONS
    assert dead[0].detail
    [b] = batches
    np.testing.assert_array_equal(b.source_index, [0, 2])


def test_oversize_message_is_dead_lettered() -> None:
    small = json_record(0)
    big = json_record(1, metadata={"blob": "x" * 2000})
    batches, dead = parse_capture([small, big], max_bytes=1000)
    assert [(d.index, d.reason) for d in dead] == [(1, "too_large")]
    assert batches[0].n_rows == 1


def test_timestamps_iso_float_and_fallback() -> None:
    values = [
        orjson.dumps({"model_id": "m", "timestamp": "2024-06-10T06:13:20Z", "features": {}}),
        orjson.dumps({"model_id": "m", "timestamp": "2024-06-10T08:13:20+02:00", "features": {}}),
        orjson.dumps({"model_id": "m", "timestamp": "2024-06-10T06:13:20", "features": {}}),
        orjson.dumps({"model_id": "m", "timestamp": 1718000000000.7, "features": {}}),
        orjson.dumps({"model_id": "m", "features": {}}),
    ]
    [b], dead = parse_capture(values, fallback_timestamps_ms=[0, 0, 0, 0, 42])
    assert dead == []
    assert b.timestamps_ms.tolist() == [T0, T0, T0, T0, 42]


def test_bool_is_not_a_number_for_score() -> None:
    value = orjson.dumps(
        {"model_id": "m", "timestamp": T0, "features": {}, "prediction": {"label": 1, "score": True}}
    )
    _, dead = parse_capture([value])
    assert [d.reason for d in dead] == ["wrong_type"]


# ---------------------------------------------------------------- encoding and labels


def test_encode_capture_record_nan_is_missing_and_numpy_ok() -> None:
    blob = encode_capture_record(
        "m",
        features={"x": np.float64("nan"), "y": np.int64(3), "z": float("inf")},
        prediction=np.float32(0.5),
        inference_id="i",
        timestamp_ms=T0,
    )
    [b], dead = parse_capture([blob])
    assert dead == []
    assert b.features.columns["x"].kinds[0] == Kind.MISSING
    assert b.features.columns["z"].kinds[0] == Kind.MISSING
    assert b.features.columns["y"].numbers[0] == 3


def test_parse_labels() -> None:
    values = [
        encode_label_record("m", "a", 1, T0),
        encode_label_record("n", "b", "cat", T0 + 1),
        b'{"model_id": "m", "label": 1, "timestamp": 1}',
        b'{"model_id": "m", "inference_id": "c", "timestamp": 1}',
        b"oops",
    ]
    batch, dead = parse_labels(values)
    assert batch.model_ids.tolist() == ["m", "n"]
    assert batch.inference_ids.tolist() == ["a", "b"]
    assert batch.timestamps_ms.tolist() == [T0, T0 + 1]
    assert batch.labels.kinds.tolist() == [Kind.INTEGRAL, Kind.STRING]
    assert [(d.index, d.reason) for d in dead] == [(2, "missing_field"), (3, "missing_field"), (4, "not_json")]


EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


@pytest.mark.parametrize("kind", ["capture_record", "columnar_batch"])
def test_schema_examples_valid_parse_without_dead_letters(kind: str) -> None:
    files = sorted((EXAMPLES / kind / "valid").glob("*.json"))
    assert files
    batches, dead = parse_capture([f.read_bytes() for f in files])
    assert dead == []
    assert sum(b.n_rows for b in batches) >= len(files)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("capture_record/invalid/nested_feature_value.json", "wrong_type"),
        ("capture_record/invalid/negative_epoch_ms.json", "bad_timestamp"),
        ("capture_record/invalid/empty_model_id.json", "wrong_type"),
        ("columnar_batch/invalid/wrong_format.json", "bad_batch"),
        ("columnar_batch/invalid/zero_rows.json", "bad_batch"),
        ("columnar_batch/invalid/lengths_timestamps_longer_than_n.json", "bad_batch"),
    ],
)
def test_schema_examples_invalid_are_dead_lettered(name: str, reason: str) -> None:
    batches, dead = parse_capture([(EXAMPLES / name).read_bytes()])
    assert batches == [] and [d.reason for d in dead] == [reason]


def test_label_schema_examples() -> None:
    valid = sorted((EXAMPLES / "label_record" / "valid").glob("*.json"))
    batch, dead = parse_labels([f.read_bytes() for f in valid])
    assert dead == [] and batch.n_rows == len(valid)


_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=5)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "model_id": st.sampled_from(["a", "b", ""]) | _value,
        "model_version": st.none() | st.sampled_from(["1", "2"]) | _value,
        "timestamp": st.integers(-5, 2**54) | st.sampled_from(["2024-01-01T00:00:00Z", "bad"]) | _value,
        "inference_id": st.text(max_size=4) | _value,
        "features": st.dictionaries(st.sampled_from(["x", "y", "z"]), _value, max_size=3) | _value,
        "prediction": _value | st.fixed_dictionaries({}, optional={"label": _value, "score": _value}),
        "attributions": st.dictionaries(st.sampled_from(["x", "y"]), _value, max_size=2) | _value,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_record.map(orjson.dumps) | st.binary(max_size=20), max_size=12))
def test_parse_never_raises_and_accounts_for_every_message(values: list[bytes]) -> None:
    batches, dead = parse_capture(values)
    rows_per_message: Counter[int] = Counter()
    for b in batches:
        assert b.features.n_rows == b.n_rows == b.inference_ids.shape[0] == b.source_index.shape[0]
        assert all(len(c) == b.n_rows for c in b.features.columns.values())
        rows_per_message.update(b.source_index.tolist())
    dead_index = [d.index for d in dead]
    assert dead_index == sorted(set(dead_index))
    assert all(d.reason in DEAD_LETTER_REASONS for d in dead)
    # every JSON record is either one row or one dead letter, never both
    assert set(rows_per_message) | set(dead_index) == set(range(len(values)))
    assert not set(rows_per_message) & set(dead_index)
    assert all(count == 1 for count in rows_per_message.values())


def _batch_summary(b: Any) -> tuple[object, ...]:
    cols = {n: (c.kinds.tolist(), np.nan_to_num(c.numbers, nan=-1.0).tolist(),
                None if c.strings is None else c.strings.tolist()) for n, c in b.features.columns.items()}
    return (b.model_id, b.model_version, b.timestamps_ms.tolist(), b.inference_ids.tolist(), cols,
            b.source_index.tolist())


@pytest.mark.parametrize("spoiler", [b"not json", b"[1]", orjson.dumps({"format": "columnar", "model_id": "z",
                                                                        "n": 1, "timestamp": [T0],
                                                                        "features": {"x": [1]}})])
def test_one_pass_grouping_matches_per_message_loop(spoiler: bytes) -> None:
    """A poll of plain JSON records (one-pass path) groups exactly like the per-message loop, which a single
    non-record message forces; versions sent as 3 and "3" share a group, in first-seen order."""
    rng = np.random.default_rng(5)
    models = rng.choice(["a", "b", "c"], 60).tolist()
    versions: list[object] = rng.choice(np.array([None, "3", 3], dtype=object), 60).tolist()
    values = [json_record(i, m, model_version=v) for i, (m, v) in enumerate(zip(models, versions, strict=True))]
    fast, fast_dead = parse_capture(values)
    slow, slow_dead = parse_capture([*values, spoiler])
    assert fast_dead == [] and [d.index for d in slow_dead] in ([], [60])
    slow_json = [b for b in slow if b.model_id != "z"]
    assert [_batch_summary(b) for b in fast] == [_batch_summary(b) for b in slow_json]
    assert [(b.model_id, b.model_version) for b in fast][:1] == [(models[0], None if versions[0] is None
                                                                  else str(versions[0]))]


def test_one_pass_path_falls_back_for_bad_model_keys() -> None:
    values = [json_record(0), orjson.dumps({"model_id": ["x"], "timestamp": T0, "features": {}}), json_record(2, model_id="")]
    batches, dead = parse_capture(values)
    assert [b.source_index.tolist() for b in batches] == [[0]]
    assert [(d.index, d.reason) for d in dead] == [(1, "wrong_type"), (2, "wrong_type")]
