from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import Column, Kind, column_from_values
from streamdrift.ingest import fastcolumnar
from streamdrift.ingest.limits import DEFAULT_CHECKS
from streamdrift.ingest.records import (
    DEAD_LETTER_REASONS,
    encode_capture_record,
    encode_columnar_batch,
    encode_label_record,
    parse_capture,
    parse_labels,
)

T0 = 1_718_000_000_000


def _rec(i: int, model: str = "m", **extra: Any) -> bytes:
    obj: dict[str, Any] = {
        "model_id": model,
        "inference_id": f"id{i}",
        "timestamp": T0 + i,
        "features": {"x": i * 0.5, "n": i, "city": ["oslo", "rome"][i % 2], "flag": i % 2 == 0},
        "prediction": i % 3,
    }
    obj.update(extra)
    return orjson.dumps(obj)


def test_json_records_become_exact_columns() -> None:
    values = [_rec(i) for i in range(5)]
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
    values = [_rec(0, "a"), _rec(1, "b"), _rec(2, "a"), _rec(3, "a", model_version="2")]
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
        _rec(0, prediction={"label": "yes", "score": 0.9}, attributions={"x": 0.25, "n": -0.5}),
        _rec(1, prediction="no"),
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
    good = _rec(0)
    batches, dead = parse_capture([good, value, good])
    assert [(d.index, d.reason) for d in dead] == [(1, reason)]
    assert reason in DEAD_LETTER_REASONS
    assert dead[0].detail
    [b] = batches
    np.testing.assert_array_equal(b.source_index, [0, 2])


def test_oversize_message_is_dead_lettered() -> None:
    small = _rec(0)
    big = _rec(1, metadata={"blob": "x" * 2000})
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


# ---------------------------------------------------------------- columnar


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "inference_id": f"c{i}",
            "timestamp": T0 + i,
            "features": {"x": float(i), "cat": f"k{i % 3}"} if i % 4 else {"x": float(i)},
            "prediction": {"label": i % 2, "score": i / 10},
            "attributions": {"x": i / 100},
        }
        for i in range(start, start + n)
    ]


def test_columnar_batch_round_trip_exact() -> None:
    rows = _rows(7)
    blob = encode_columnar_batch("m", rows, model_version="v1")
    [b], dead = parse_capture([blob])
    assert dead == []
    assert (b.model_id, b.model_version, b.n_rows) == ("m", "v1", 7)
    assert b.inference_ids.tolist() == [r["inference_id"] for r in rows]
    assert b.timestamps_ms.tolist() == [r["timestamp"] for r in rows]
    np.testing.assert_array_equal(b.features.columns["x"].numbers, np.arange(7.0))
    cat = b.features.columns["cat"]
    assert cat.kinds[0] == Kind.MISSING and cat.kinds[4] == Kind.MISSING
    assert cat.strings is not None and cat.strings[5] == "k2"
    assert b.prediction is not None
    np.testing.assert_array_equal(b.prediction.numbers, np.arange(7) % 2)
    assert b.score is not None
    np.testing.assert_array_equal(b.score, np.arange(7) / 10)
    assert b.attributions is not None
    np.testing.assert_array_equal(b.attributions.columns["x"].numbers, np.arange(7) / 100)
    np.testing.assert_array_equal(b.source_index, np.zeros(7))


def test_columnar_and_json_of_one_model_merge_in_source_order() -> None:
    values = [_rec(0), encode_columnar_batch("m", _rows(3, start=10)), _rec(1), _rec(2, "other")]
    batches, dead = parse_capture(values)
    assert dead == []
    [m] = [b for b in batches if b.model_id == "m"]
    assert m.n_rows == 5
    assert m.source_index.tolist() == [0, 1, 1, 1, 2]
    assert m.timestamps_ms.tolist() == [T0, T0 + 10, T0 + 11, T0 + 12, T0 + 1]
    # "cat" only in the columnar part, "city" only in the JSON records: missing elsewhere
    assert m.features.columns["city"].kinds.tolist()[1:4] == [Kind.MISSING] * 3
    assert m.features.columns["cat"].kinds.tolist()[0] == Kind.MISSING
    # score only in the columnar part
    assert m.score is not None
    np.testing.assert_array_equal(m.score, [np.nan, 1.0, 1.1, 1.2, np.nan])
    assert m.attributions is not None and m.attributions.n_rows == 5


@pytest.mark.parametrize(
    ("batch", "reason"),
    [
        ({"n": 2, "timestamp": [1, 2], "features": {"x": [1]}}, "bad_batch"),
        ({"n": -1, "timestamp": [], "features": {}}, "bad_batch"),
        ({"n": 1, "timestamp": [1], "features": {"x": 1}}, "bad_batch"),
        ({"n": 1, "timestamp": [1], "features": {"x": [[1]]}}, "wrong_type"),
        ({"n": 1, "timestamp": [1]}, "missing_field"),
        ({"n": 1, "timestamp": [-1], "features": {"x": [1]}}, "bad_timestamp"),
        ({"n": 1, "timestamp": ["nope"], "features": {"x": [1]}}, "bad_timestamp"),
        ({"n": 1, "timestamp": [1], "features": {"x": [1]}, "prediction": {"score": ["a"]}}, "wrong_type"),
        ({"n": 1, "timestamp": [1], "features": {"x": [1]}, "attributions": {"x": ["a"]}}, "wrong_type"),
    ],
)
def test_bad_columnar_batches(batch: dict[str, Any], reason: str) -> None:
    blob = orjson.dumps({"format": "columnar", "model_id": "m", **batch})
    batches, dead = parse_capture([blob])
    assert batches == []
    assert [(d.index, d.reason) for d in dead] == [(0, reason)]


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


def _same_column(a: Column, b: Column) -> bool:
    strings_equal = (a.strings is None) == (b.strings is None) and (
        a.strings is None or b.strings is None or a.strings.tolist() == b.strings.tolist()
    )
    return bool(
        np.array_equal(a.kinds, b.kinds) and np.array_equal(a.numbers, b.numbers, equal_nan=True) and strings_equal
    )


_json_scalar = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, 0.0, 1.0, -0.0]) | st.text(max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_json_scalar, min_size=1, max_size=30), st.booleans())
def test_columnar_features_classified_like_column_from_values(values: list[object], numbers_only: bool) -> None:
    """The vectorized columnar path (numpy dtype discovery, 0/1 rows re-checked for bools) matches the
    per-value reference classification, incl. bools hidden among numbers."""
    if numbers_only:
        values = [v for v in values if type(v) in (int, float)] or [2.5]
    n = len(values)
    message = orjson.dumps(
        {"format": "columnar", "model_id": "m", "n": n, "timestamp": [T0] * n, "features": {"x": values}}
    )
    batches, dead = parse_capture([message])
    assert dead == []
    assert _same_column(batches[0].features.columns["x"], column_from_values(values))


def test_columnar_bool_among_numbers_stays_boolean_and_is_wrong_type_in_attributions() -> None:
    batch = {"format": "columnar", "model_id": "m", "n": 3, "timestamp": [T0] * 3, "features": {"x": [0.5, True, 1]}}
    batches, dead = parse_capture([orjson.dumps(batch)])
    assert dead == [] and batches[0].features.columns["x"].kinds.tolist() == [Kind.FRACTIONAL, Kind.BOOLEAN,
                                                                              Kind.INTEGRAL]
    batch["attributions"] = {"x": [0.5, 1.0, False]}
    _, dead = parse_capture([orjson.dumps(batch)])
    assert [d.reason for d in dead] == ["wrong_type"]


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
    values = [_rec(i, m, model_version=v) for i, (m, v) in enumerate(zip(models, versions, strict=True))]
    fast, fast_dead = parse_capture(values)
    slow, slow_dead = parse_capture([*values, spoiler])
    assert fast_dead == [] and [d.index for d in slow_dead] in ([], [60])
    slow_json = [b for b in slow if b.model_id != "z"]
    assert [_batch_summary(b) for b in fast] == [_batch_summary(b) for b in slow_json]
    assert [(b.model_id, b.model_version) for b in fast][:1] == [(models[0], None if versions[0] is None
                                                                  else str(versions[0]))]


def test_one_pass_path_falls_back_for_bad_model_keys() -> None:
    values = [_rec(0), orjson.dumps({"model_id": ["x"], "timestamp": T0, "features": {}}), _rec(2, model_id="")]
    batches, dead = parse_capture(values)
    assert [b.source_index.tolist() for b in batches] == [[0]]
    assert [(d.index, d.reason) for d in dead] == [(1, "wrong_type"), (2, "wrong_type")]


# ---------------------------------------------------------------- columnar batches through simdjson

needs_simdjson = pytest.mark.skipif(fastcolumnar.simdjson is None, reason="pysimdjson not installed")


def _parsed_summary(values: list[bytes], fast: bool) -> tuple[object, ...]:
    batches, dead = parse_capture(values, fallback_timestamps_ms=[T0 + 7] * len(values), fast_columnar=fast)
    out: list[object] = []
    for b in batches:
        columns = [b.features, *([] if b.attributions is None else [b.attributions])]
        cols = [(n, c.kinds.tolist(), np.nan_to_num(c.numbers, nan=-1.0).tolist(),
                 None if c.strings is None else c.strings.tolist()) for cs in columns for n, c in cs.columns.items()]
        pred = None if b.prediction is None else (b.prediction.kinds.tolist(),
                                                  np.nan_to_num(b.prediction.numbers, nan=-1.0).tolist(),
                                                  None if b.prediction.strings is None else b.prediction.strings.tolist())
        out.append((b.model_id, b.model_version, b.timestamps_ms.tolist(), b.inference_ids.tolist(), cols, pred,
                    None if b.score is None else np.nan_to_num(b.score, nan=-1.0).tolist(), b.source_index.tolist(),
                    b.timestamps_ms.dtype, b.features.n_rows))
    return tuple(out), tuple((d.index, d.reason) for d in dead)


_cell = (_json_scalar | st.lists(st.integers(0, 3), max_size=2) | st.just("a[b")
         | st.dictionaries(st.just("k"), st.integers(0, 3), max_size=1))
_stamp = st.integers(0, 2**53 + 5) | st.floats(0, 2e12) | st.just("2024-06-10T12:00:00Z") | st.booleans() | st.none()


@st.composite
def _columnar_batches(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 6))
    lists = st.lists(_cell, min_size=n, max_size=n) | st.lists(st.floats(-1e9, 1e9), min_size=n, max_size=n)
    batch: dict[str, Any] = {"format": draw(st.sampled_from(["columnar", "columnar", "rows"])),
                             "model_id": draw(st.sampled_from(["m", "m", "", 7])), "n": n}
    if draw(st.booleans()):
        batch["model_version"] = draw(st.sampled_from(["1", 2, None, True]))
    if draw(st.integers(0, 4)):
        batch["timestamp"] = draw(st.lists(_stamp, min_size=n, max_size=n + draw(st.integers(0, 1))))
    batch["features"] = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), lists, max_size=3))
    if draw(st.booleans()):
        batch["inference_id"] = draw(st.lists(st.text(max_size=2) | st.none() | st.integers(0, 9), min_size=n,
                                              max_size=n))
    choice = draw(st.integers(0, 3))
    if choice == 1:
        batch["prediction"] = draw(lists)
    elif choice == 2:
        batch["prediction"] = {"label": draw(lists), "score": draw(st.lists(st.floats(0, 1) | st.none(),
                                                                              min_size=n, max_size=n))}
    if draw(st.booleans()):
        batch["attributions"] = draw(st.dictionaries(st.sampled_from(["a", "z"]), lists, max_size=2))
    if draw(st.integers(0, 5)) == 0:
        batch["metadata"] = {"tags": [1, 2]}
    if draw(st.integers(0, 5)) == 0:
        del batch["features"]
    return batch


@needs_simdjson
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_columnar_batches(), min_size=1, max_size=3))
def test_simdjson_columnar_path_equals_orjson_path(batches: list[dict[str, Any]]) -> None:
    """Valid or not, a columnar batch gives the same batches and dead letters through either parser."""
    values = [orjson.dumps(b) for b in batches]
    assert _parsed_summary(values, fast=True) == _parsed_summary(values, fast=False)


@needs_simdjson
def test_simdjson_reads_clean_batches_and_declines_what_it_cannot_prove() -> None:
    clean = {"format": "columnar", "model_id": "m", "n": 3, "timestamp": [T0, T0 + 1, T0 + 2],
             "inference_id": ["a", None, "c"], "features": {"x": [1, 2.5, -3e3], "c": ["r", None, "g"]},
             "prediction": {"label": [1, 0, 1], "score": [0.5, 0.25, 1]}, "attributions": {"x": [0.1, 0.2, 0.3]}}
    blob = orjson.dumps(clean)
    assert fastcolumnar.fast_columnar(blob, 0, None, DEFAULT_CHECKS) is not None
    assert _parsed_summary([blob], fast=True) == _parsed_summary([blob], fast=False)
    declined = [
        blob.replace(b'"n":3', b'"n":3,"n":3'),  # duplicate key: orjson keeps the last, simdjson the first
        blob.replace(b'"x":[1,2.5,-3000.0]', b'"x":[[1],[2.5],[-3000.0]]'),  # simdjson would flatten nested lists
        blob.replace(b'"r"', b'"[r"'),  # a bracket in a string: nesting cannot be ruled out cheaply
        blob.replace(b'"x":[1,', b'"x":[1e999,'),  # overflow: orjson's reason (non_finite) is kept
        blob.replace(b'"format":"columnar"', b'"format":"other"'),
        b'{"format":"columnar"',
    ]
    for value in declined:
        assert value != blob
        assert fastcolumnar.fast_columnar(value, 0, None, DEFAULT_CHECKS) is None
        assert _parsed_summary([value], fast=True) == _parsed_summary([value], fast=False)
    assert [d.reason for d in parse_capture([declined[3]])[1]] == ["non_finite"]
    [b], _ = parse_capture([declined[0]], fast_columnar=True)
    assert b.n_rows == 3


@needs_simdjson
def test_default_reads_only_large_messages_with_simdjson() -> None:
    n = 400
    batch = {"format": "columnar", "model_id": "m", "n": n, "timestamp": [T0] * n,
             "features": {"x": np.arange(n, dtype=float).tolist()}}
    big, small = orjson.dumps(batch), orjson.dumps({**batch, "n": 1, "timestamp": [T0], "features": {"x": [1.0]}})
    assert len(big) >= fastcolumnar.FAST_MIN_BYTES > len(small)
    assert fastcolumnar.fast_min_bytes(None) == fastcolumnar.FAST_MIN_BYTES and fastcolumnar.fast_min_bytes(False) is None
    assert _parsed_summary([big, small], fast=True) == _parsed_summary([big, small], fast=False)
