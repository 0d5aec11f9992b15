from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from capture_records import T0, json_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import Column, Kind, column_from_values
from streamdrift.ingest import fastcolumnar
from streamdrift.ingest.limits import DEFAULT_CHECKS
from streamdrift.ingest.records import encode_columnar_batch, parse_capture


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
    values = [json_record(0), encode_columnar_batch("m", _rows(3, start=10)), json_record(1), json_record(2, "other")]
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
