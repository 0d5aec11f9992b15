"""The native capture-record reader (``streamdrift._native`` through :mod:`streamdrift.ingest.native`) against the
Python path of :func:`streamdrift.ingest.records.parse_capture`: the same batches for every poll it takes, and every poll
it does not take left whole to the Python path (which names the dead letters)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import Column, Columns, Kind
from streamdrift.ingest.limits import YEAR_3000_MS
from streamdrift.ingest.native import read_labels, read_records
from streamdrift.ingest.records import CaptureBatch, DeadLetter, LabelBatch, parse_capture, parse_labels

T0 = 1_718_000_000_000
BIG = 1 << 24


def _same_column(a: Column | None, b: Column | None, where: str) -> None:
    assert (a is None) == (b is None), where
    if a is None or b is None:
        return
    assert a.kinds.dtype == b.kinds.dtype == np.uint8, where
    assert a.kinds.tolist() == b.kinds.tolist(), where
    assert a.numbers.dtype == b.numbers.dtype == np.float64, where
    np.testing.assert_array_equal(a.numbers, b.numbers, err_msg=where)  # NaN == NaN here; -0.0 == 0.0
    assert np.signbit(a.numbers).tolist() == np.signbit(b.numbers).tolist(), where
    assert (a.strings is None) == (b.strings is None), where
    if a.strings is not None and b.strings is not None:
        assert a.strings.tolist() == b.strings.tolist(), where
    for col in (a, b):  # codes, where a reader gave them, name exactly the STRING rows' texts, distinct values
        if col.categories is not None:
            assert col.strings is not None, where
            text = col.kinds == Kind.STRING
            assert np.array_equal(col.categories.codes >= 0, text), where
            assert col.categories.values[col.categories.codes[text]].tolist() == col.strings[text].tolist(), where
            assert len(set(col.categories.values.tolist())) == col.categories.values.size, where


def _same_columns(a: Columns | None, b: Columns | None, where: str) -> None:
    assert (a is None) == (b is None), where
    if a is None or b is None:
        return
    assert a.n_rows == b.n_rows, where
    assert list(a.columns) == list(b.columns), where  # names in the same (first-seen) order
    for name in a.columns:
        _same_column(a.columns[name], b.columns[name], f"{where}.{name}")


def assert_same_batches(a: list[CaptureBatch], b: list[CaptureBatch]) -> None:
    assert [(x.model_id, x.model_version) for x in a] == [(x.model_id, x.model_version) for x in b]
    for x, y in zip(a, b, strict=True):
        assert x.timestamps_ms.dtype == y.timestamps_ms.dtype == np.int64
        assert x.timestamps_ms.tolist() == y.timestamps_ms.tolist()
        assert x.source_index.tolist() == y.source_index.tolist()
        assert x.inference_ids.dtype == y.inference_ids.dtype == np.object_
        assert x.inference_ids.tolist() == y.inference_ids.tolist()
        _same_columns(x.features, y.features, "features")
        _same_column(x.prediction, y.prediction, "prediction")
        assert (x.score is None) == (y.score is None)
        if x.score is not None and y.score is not None:
            np.testing.assert_array_equal(x.score, y.score)
            assert np.signbit(x.score).tolist() == np.signbit(y.score).tolist()
        _same_columns(x.attributions, y.attributions, "attributions")


def both_paths(values: list[bytes]) -> tuple[list[CaptureBatch], list[DeadLetter]]:
    """parse_capture natively and in Python, called as the data plane calls it (Kafka timestamps as the fallback,
    the default 1 MiB record limit); asserts they agree and returns the native result."""
    kafka_ts = [T0 + 7 * i for i in range(len(values))]
    native, native_dead = parse_capture(values, max_bytes=1 << 20, fallback_timestamps_ms=kafka_ts)
    python, python_dead = parse_capture(values, max_bytes=1 << 20, fallback_timestamps_ms=kafka_ts, native=False)
    assert native_dead == python_dead
    assert_same_batches(native, python)
    return native, native_dead


# ------------------------------------------------------------------------------------------------ strategies

_names = st.sampled_from(["f0", "f1", "age", "city", "é", "a\"b", "tab\t", "x"]) | st.text(min_size=1, max_size=4)
def _no_negative_zero(x: float) -> float:
    """-0.0 sends the poll to the Python path (serde_json reads the integer -0 as -0.0, orjson as 0): the
    spoilers test it."""
    return 0.0 if x == 0 else x


_number = (
    st.integers(-(2**63), 2**64 - 1)
    | st.integers(-(2**80), 2**80)  # beyond 64 bits: a double on both paths
    | st.floats(allow_nan=False, allow_infinity=False).map(_no_negative_zero)
    | st.sampled_from([0, 1, 0.5, 1e-320, -1e-320, 2.0**53 + 1, 1e308, -1e308])
)
_text = st.sampled_from(["Oslo", "Bergen", "", "ünï", "\\", "\"q\"", "a\nb", "\u2028"]) | st.text(max_size=6)
_numeric_column = st.one_of(_number, st.none())
_text_column = st.one_of(_text, st.none())


@st.composite
def _clean_poll(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid JSON capture records the native reader must take: per feature only numbers or only text (and nulls,
    absent keys), key orders varying, predictions of any form, attributions of numbers."""
    n = draw(st.integers(1, 25))
    names = draw(st.lists(_names, min_size=0, max_size=6, unique=True))
    text_feature = {name: draw(st.booleans()) for name in names}
    pred_form = draw(st.sampled_from(["none", "number", "text", "pair", "mixed"]))
    models = draw(st.lists(st.sampled_from([("m", None), ("m", "2"), ("other", None), ("ünï", "v")]),
                           min_size=n, max_size=n))
    records: list[dict[str, Any]] = []
    for i in range(n):
        present = [name for name in names if draw(st.integers(0, 5)) > 0]
        if draw(st.booleans()):
            present = list(reversed(present))
        features = {name: draw(_text_column if text_feature[name] else _numeric_column) for name in present}
        record: dict[str, Any] = {"model_id": models[i][0], "features": features}
        if models[i][1] is not None or draw(st.booleans()):
            record["model_version"] = models[i][1]
        record["timestamp"] = draw(st.integers(0, YEAR_3000_MS) | st.floats(0, YEAR_3000_MS)
                                   | st.sampled_from([T0 + i, float(T0) + 0.75, 0, 0.0]))
        ident = draw(st.sampled_from(["absent", "none", "text"]))
        if ident != "absent":
            record["inference_id"] = None if ident == "none" else f"id-{i}-{draw(_text)}"
        prediction: Any
        if pred_form == "number":
            prediction = draw(_numeric_column)
        elif pred_form == "text":
            prediction = draw(_text_column)
        elif pred_form == "pair":
            prediction = {"label": draw(_numeric_column), "score": draw(st.none() | st.floats(0.0, 1))}
            if draw(st.booleans()):
                prediction["probabilities"] = [0.1, {"nested": True}]  # other keys: ignored
        elif pred_form == "mixed":
            prediction = draw(st.none() | st.integers(0, 3) | st.fixed_dictionaries(
                {"label": st.integers(0, 3) | st.none(), "score": st.floats(0, 1) | st.none()}))
        else:
            prediction = None
        if prediction is not None or draw(st.booleans()):
            record["prediction"] = prediction
        attributions = draw(st.none() | st.dictionaries(_names, _numeric_column, max_size=3))
        if attributions is not None or draw(st.booleans()):
            record["attributions"] = attributions
        if draw(st.booleans()):
            record["metadata"] = {"nested": [1, {"deep": None}], "flag": True}
        records.append(record)
    return records


def _encode(record: dict[str, Any], style: int) -> bytes:
    """orjson (UTF-8 as is), or the standard library with \\u escapes and whitespace (orjson refuses ints beyond
    64 bits, so those always go through the standard library)."""
    if style == 0:
        try:
            return orjson.dumps(record)
        except TypeError:
            pass
    return json.dumps(record, ensure_ascii=True, indent=None if style == 1 else 2).encode()


# ------------------------------------------------------------------------------------------------ properties


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_clean_poll(), st.integers(0, 2))
def test_native_reads_valid_records_exactly_as_the_python_path(records: list[dict[str, Any]], style: int) -> None:
    values = [_encode(r, style) for r in records]
    assert read_records(values, BIG, BIG) is not None, "a valid poll must take the native path"
    batches, dead = both_paths(values)
    assert dead == []
    assert sum(b.n_rows for b in batches) == len(values)


_spoilers = st.sampled_from([
    b"not json",
    b"[1, 2]",
    b'{"model_id": "m", "timestamp": 1, "features": {"x": true}}',  # a boolean feature
    b'{"model_id": "m", "timestamp": 1, "features": {"x": [1]}}',  # nested
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1, "x": 2}}',  # duplicate feature
    b'{"model_id": "m", "model_id": "n", "timestamp": 1, "features": {}}',  # duplicate field
    b'{"model_id": "m", "model_version": 3, "timestamp": 1, "features": {"x": 1}}',  # integer version
    b'{"model_id": "m", "features": {"x": 1}}',  # no timestamp
    b'{"model_id": "m", "timestamp": "2024-06-10T08:00:00Z", "features": {"x": 1}}',  # ISO timestamp
    b'{"model_id": "m", "timestamp": -1, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1e400}}',  # overflows a double
    b'{"model_id": "m", "timestamp": 1, "inference_id": 7, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "prediction": true}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "prediction": {"label": 1, "score": "high"}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "attributions": {"x": "a"}}',
    b'{"model_id": "", "timestamp": 1, "features": {"x": 1}}',
    b'{"timestamp": 1, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 1, "features": null}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": "\xff"}}',  # not UTF-8
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}} trailing',
    b'{"format": "columnar", "model_id": "m", "n": 1, "timestamp": [1], "features": {"x": [1]}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "prediction": [1]}',
    # values of keys the fast path does not read are checked as orjson checks them
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "metadata": {"v": 1e400}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "metadata": "\\ud800"}',  # a lone surrogate
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "prediction": {"label": 1, "p\\udc00": 0}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "metadata": ' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "metadata": ' + b"[" * 200 + b"]" * 200 + b"}",
    # the integer -0 is 0 for orjson, -0.0 for serde_json
    b'{"model_id": "m", "timestamp": 1, "features": {"x": -0}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "prediction": {"label": 1, "score": -0}}',
    b'{"model_id": "m", "timestamp": -0, "features": {"x": -0.0}}',
    # the timestamp's upper bound, 2^53 ms, is out, and so is anything after the year 3000
    b'{"model_id": "m", "timestamp": 9007199254740992, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 9007199254740992.0, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 32503680000001, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 32503680000000.5, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 1718000000000000, "features": {"x": 1}}',  # microseconds
    b'{"model_id": "m", "timestamp": -0.5, "features": {"x": 1}}',
    # lengths and counts beyond the limits
    b'{"model_id": "' + b"m" * 129 + b'", "timestamp": 1, "features": {"x": 1}}',
    b'{"model_id": "m", "model_version": "' + b"v" * 129 + b'", "timestamp": 1, "features": {"x": 1}}',
    b'{"model_id": "m", "inference_id": "' + b"i" * 257 + b'", "timestamp": 1, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"' + b"n" * 257 + b'": 1}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": "' + b"t" * 1025 + b'"}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": "' + "é".encode() * 1025 + b'"}}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "prediction": "' + b"p" * 1025 + b'"}',
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 1}, "attributions": {"' + b"a" * 257 + b'": 1}}',
    orjson.dumps({"model_id": "m", "timestamp": 1, "features": {f"f{i}": i for i in range(1001)}}),
    orjson.dumps({"model_id": "m", "timestamp": 1, "features": {}, "attributions": {f"a{i}": i for i in range(1001)}}),
])
# valid records at the edges, which either path may read (both must read them alike)
_EDGES = [
    b'{"model_id": "m", "timestamp": 32503680000000, "features": {"x": 1}}',
    b'{"model_id": "m", "timestamp": 32503679999999.5, "features": {"x": 1}}',
    # lengths and counts at the limits (characters, not bytes)
    b'{"model_id": "' + "é".encode() * 128 + b'", "model_version": "' + b"v" * 128 + b'", "timestamp": 1, '
    b'"inference_id": "' + b"i" * 256 + b'", "features": {"' + b"n" * 256 + b'": "' + "é".encode() * 1024 + b'"}}',
    orjson.dumps({"model_id": "m", "timestamp": 1, "features": {f"f{i}": i for i in range(1000)},
                  "attributions": {f"a{i}": i for i in range(1000)}}),
    b'{"model_id": "m", "timestamp": -0, "features": {"x": 0.0}}',
    b'{"model_id": "m", "timestamp": 0.999, "features": {"x": 1e-320}, "metadata": ' + b"[" * 100 + b"]" * 100 + b"}",
    b'{"model_id": "m", "timestamp": 1, "features": {"x": 18446744073709551616}}',
]


@pytest.mark.parametrize("edge", _EDGES)
def test_valid_records_at_the_edges_read_alike(edge: bytes) -> None:
    batches, dead = both_paths([edge, orjson.dumps({"model_id": "m", "timestamp": T0, "features": {"x": 2}})])
    assert dead == [] and sum(b.n_rows for b in batches) == 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_clean_poll(), st.lists(st.tuples(st.integers(0, 30), _spoilers), min_size=1, max_size=3))
def test_a_poll_the_native_reader_refuses_goes_whole_to_the_python_path(
    records: list[dict[str, Any]], spoilers: list[tuple[int, bytes]]
) -> None:
    values = [_encode(r, 0) for r in records]
    for position, spoiler in spoilers:
        values.insert(min(position, len(values)), spoiler)
    assert read_records(values, BIG, BIG) is None
    both_paths(values)


_MIXED_ORDERS = [
    [{"mix": 1.5}, {"mix": "a"}],
    [{"mix": "a"}, {"mix": 1.5}],
    [{"mix": None}, {"mix": "a"}, {"mix": 2}],
    [{}, {"mix": 3}, {"other": 1}, {"mix": "b"}],
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_clean_poll(), st.sampled_from(_MIXED_ORDERS))
def test_text_and_numbers_in_one_column_go_to_the_python_path(
    records: list[dict[str, Any]], mixed: list[dict[str, Any]]
) -> None:
    records = [*records, *({**records[0], "features": f} for f in mixed)]
    values = [_encode(r, 0) for r in records]
    assert read_records(values, BIG, BIG) is None
    both_paths(values)


@pytest.mark.parametrize("predictions", [["yes", {"label": 1, "score": 0.5}], [1, {"label": "no"}], [None, "a", 2]])
def test_text_and_numbers_among_predictions_go_to_the_python_path(predictions: list[Any]) -> None:
    values = [orjson.dumps({"model_id": "m", "timestamp": T0, "features": {"x": 1}, "prediction": p})
              for p in predictions]
    assert read_records(values, BIG, BIG) is None
    both_paths(values)


def _rows_by_source(batches: list[CaptureBatch], offset: int) -> dict[int, tuple[object, ...]]:
    """Every row keyed by its message's index (+ ``offset``): model, timestamp, id, features, prediction, score."""
    out: dict[int, tuple[object, ...]] = {}
    for b in batches:
        for row, source in enumerate(b.source_index.tolist()):
            feats = {name: (int(c.kinds[row]), repr(float(c.numbers[row])),
                            None if c.strings is None else c.strings[row]) for name, c in b.features.columns.items()}
            pred = None if b.prediction is None else (int(b.prediction.kinds[row]), repr(float(b.prediction.numbers[row])))
            score = None if b.score is None else repr(float(b.score[row]))
            out[source + offset] = (b.model_id, b.model_version, int(b.timestamps_ms[row]), b.inference_ids[row],
                                    feats, pred, score)
    return out


def _present(row: tuple[object, ...]) -> tuple[object, ...]:
    """A row without its MISSING features, and no prediction / score as a missing one: a column no record of a
    poll has is absent from that poll's batch, and MISSING in a poll where other records have it."""
    feats = {k: v for k, v in row[4].items() if v[0] != 0}  # type: ignore[attr-defined]
    pred = (0, "nan") if row[5] is None else row[5]
    score = "nan" if row[6] is None else row[6]
    return (*row[:4], feats, pred, score)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_clean_poll(), _clean_poll(), st.lists(st.tuples(st.integers(0, 60), _spoilers | st.sampled_from(_EDGES)),
                                              max_size=2))
def test_a_record_reads_the_same_whatever_poll_it_is_in(
    first: list[dict[str, Any]], second: list[dict[str, Any]], spoilers: list[tuple[int, bytes]]
) -> None:
    """Rows and dead letters do not depend on how the messages are cut into polls (the join-store rebuild
    re-reads the same messages in other chunks): one poll of a + b reads as poll a then poll b, whichever path
    each poll takes."""
    values = [_encode(r, 0) for r in [*first, *second]]
    for position, spoiler in spoilers:
        values.insert(min(position, len(values)), spoiler)
    cut = len(first)
    whole, whole_dead = parse_capture(values)
    a, a_dead = parse_capture(values[:cut])
    b, b_dead = parse_capture(values[cut:])
    split = {**_rows_by_source(a, 0), **_rows_by_source(b, cut)}
    joined = _rows_by_source(whole, 0)
    assert sorted(joined) == sorted(split)
    assert {k: _present(v) for k, v in joined.items()} == {k: _present(v) for k, v in split.items()}
    assert [(d.index, d.reason) for d in whole_dead] == [(d.index, d.reason) for d in a_dead] + [
        (d.index + cut, d.reason) for d in b_dead]


def test_size_limits_and_empty_polls_are_left_to_the_python_path() -> None:
    record = orjson.dumps({"model_id": "m", "timestamp": T0, "features": {"x": 1}})
    assert read_records([record], len(record), len(record)) is not None
    assert read_records([record], len(record) - 1, BIG) is None  # one message too long
    assert read_records([record, record], BIG, 2 * len(record) - 1) is None  # the poll too large
    assert read_records([], BIG, BIG) is None
    batches, dead = parse_capture([record], max_bytes=len(record) - 1)  # too_large, named by the Python path
    assert batches == [] and [d.reason for d in dead] == ["too_large"]


def test_a_repeated_category_is_one_python_string_and_kinds_are_classified() -> None:
    values = [orjson.dumps({"model_id": "m", "timestamp": T0 + i, "inference_id": f"i{i}",
                            "features": {"city": ["Oslo", "Bergen", None][i % 3], "n": [1, 2.5, None][i % 3]},
                            "prediction": {"label": i % 2, "score": 0.25}})
              for i in range(6)]
    groups = read_records(values, BIG, BIG)
    assert groups is not None and len(groups) == 1
    rows = groups[0]  # the CaptureBatch
    city = rows.features.columns["city"]
    assert city.strings is not None
    assert city.strings.tolist() == ["Oslo", "Bergen", None] * 2
    assert city.strings[0] is city.strings[3]  # interned per column
    assert city.categories is not None  # and coded: a profile counts the codes
    assert city.categories.codes.tolist() == [0, 1, -1] * 2 and city.categories.values.tolist() == ["Oslo", "Bergen"]
    assert city.categories.counts()[0] == ["Oslo", "Bergen"] and city.categories.counts()[1].tolist() == [2, 2]
    assert city.kinds.tolist() == [3, 3, 0] * 2  # STRING, STRING, MISSING
    assert rows.features.columns["n"].kinds.tolist() == [1, 2, 0] * 2  # INTEGRAL, FRACTIONAL, MISSING
    assert rows.inference_ids.tolist() == [f"i{i}" for i in range(6)]
    assert rows.score is not None and rows.score.tolist() == [0.25] * 6
    assert groups[0].source_index.tolist() == list(range(6))


@pytest.mark.parametrize("n_models", [1, 3])
def test_benchmark_records_take_the_native_path(n_models: int) -> None:
    """The bench's records (the SDK's JSON records) are what the native path exists for."""
    from harness import capture_records

    rng = np.random.default_rng(3)
    values = [v for m in range(n_models) for v in capture_records(f"m{m}", list(range(T0, T0 + 50)), rng)]
    assert read_records(values, BIG, BIG) is not None
    batches, _ = both_paths(values)
    assert [b.model_id for b in batches] == [f"m{m}" for m in range(n_models)]


# ------------------------------------------------------------------------------------------------ label records


def _same_labels(a: LabelBatch, b: LabelBatch) -> None:
    assert a.model_ids.dtype == b.model_ids.dtype == np.object_
    assert a.model_ids.tolist() == b.model_ids.tolist()
    assert a.inference_ids.tolist() == b.inference_ids.tolist()
    assert a.timestamps_ms.dtype == b.timestamps_ms.dtype == np.int64
    assert a.timestamps_ms.tolist() == b.timestamps_ms.tolist()
    assert a.source_index.dtype == b.source_index.dtype == np.int64
    assert a.source_index.tolist() == b.source_index.tolist()
    _same_column(a.labels, b.labels, "labels")


def both_label_paths(values: list[bytes]) -> tuple[LabelBatch, list[DeadLetter]]:
    kafka_ts = [T0 + 7 * i for i in range(len(values))]
    native, native_dead = parse_labels(values, max_bytes=1 << 20, fallback_timestamps_ms=kafka_ts)
    python, python_dead = parse_labels(values, max_bytes=1 << 20, fallback_timestamps_ms=kafka_ts, native=False)
    assert native_dead == python_dead
    _same_labels(native, python)
    return native, native_dead


@st.composite
def _label_poll(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 30))
    text = draw(st.booleans())
    records: list[dict[str, Any]] = []
    for i in range(n):
        record: dict[str, Any] = {"model_id": draw(st.sampled_from(["m", "other", "ünï"])),
                                  "inference_id": f"id-{i}-{draw(_text)}",
                                  "label": draw(_text if text else _number),
                                  "timestamp": draw(st.integers(0, YEAR_3000_MS)
                                                    | st.floats(0, YEAR_3000_MS))}
        if draw(st.booleans()):
            record["model_version"] = draw(st.none() | st.sampled_from(["1", "v2"]))
        if draw(st.booleans()):
            record["note"] = {"any": [1, None]}
        records.append(record)
    return records


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_label_poll(), st.integers(0, 2))
def test_native_reads_valid_label_records_exactly_as_the_python_path(
    records: list[dict[str, Any]], style: int
) -> None:
    values = [_encode(r, style) for r in records]
    assert read_labels(values, BIG, BIG) is not None, "a valid poll must take the native path"
    batch, dead = both_label_paths(values)
    assert dead == [] and batch.n_rows == len(values)


_label_spoilers = st.sampled_from([
    b"not json",
    b'{"model_id": "m", "inference_id": "a", "timestamp": 1}',  # no label
    b'{"model_id": "m", "inference_id": "a", "label": null, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": true, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": [1], "timestamp": 1}',
    b'{"model_id": "m", "inference_id": 7, "label": 1, "timestamp": 1}',  # an integer id: str() in Python
    b'{"model_id": "m", "label": 1, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": 1}',  # no timestamp
    b'{"model_id": "m", "inference_id": "a", "label": 1, "timestamp": "2024-06-10T08:00:00Z"}',
    b'{"model_id": "m", "model_version": 2, "inference_id": "a", "label": 1, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": 1, "label": 2, "timestamp": 1}',
    b'{"model_id": "", "inference_id": "a", "label": 1, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": "yes", "timestamp": 1}',  # text among numbers (or not)
    b'{"model_id": "m", "inference_id": "a", "label": 0.5, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": 1, "timestamp": 1, "note": 1e400}',
    b'{"model_id": "m", "inference_id": "a", "label": 1, "timestamp": 1, "note": "\\udfff"}',
    b'{"model_id": "m", "inference_id": "a", "label": -0, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": 1, "timestamp": 9007199254740992}',
    b'{"model_id": "m", "inference_id": "a", "label": 1, "timestamp": 1718000000000000}',
    b'{"model_id": "' + b"m" * 129 + b'", "inference_id": "a", "label": 1, "timestamp": 1}',
    b'{"model_id": "m", "model_version": "' + b"v" * 129 + b'", "inference_id": "a", "label": 1, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "' + b"i" * 257 + b'", "label": 1, "timestamp": 1}',
    b'{"model_id": "m", "inference_id": "a", "label": "' + b"t" * 1025 + b'", "timestamp": 1}',
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_label_poll(), st.lists(st.tuples(st.integers(0, 30), _label_spoilers), min_size=1, max_size=3))
def test_a_label_poll_the_native_reader_refuses_goes_whole_to_the_python_path(
    records: list[dict[str, Any]], spoilers: list[tuple[int, bytes]]
) -> None:
    values = [_encode(r, 0) for r in records]
    for position, spoiler in spoilers:
        values.insert(min(position, len(values)), spoiler)
    both_label_paths(values)  # the last two spoilers are valid unless they mix text and numbers


def test_label_fallback_timestamps_go_through_the_python_path() -> None:
    values = [b'{"model_id": "m", "inference_id": "a", "label": 1}']
    assert read_labels(values, BIG, BIG) is None
    batch, dead = parse_labels(values, fallback_timestamps_ms=[4242])
    assert dead == [] and batch.timestamps_ms.tolist() == [4242]
