"""Arrow IPC columnar batches: the same rows as a JSON columnar batch, every bad batch a named dead letter."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import Column, Kind, take_column
from streamdrift.ingest.arrow import FORMAT, encode_arrow_batch, is_arrow_batch, read_arrow_poll, stream_bytes
from streamdrift.ingest.records import encode_capture_record, encode_columnar_batch, parse_capture
from streamdrift.ingest.schemas import errors
from streamdrift.profile.profiles import FeatureProfile, ProfileParams

T0 = 1_718_000_000_000


def _summary(values: list[bytes], fallback: int | None = T0 + 7, *, arrow_poll: bool = True) -> tuple[object, ...]:
    """Everything parse_capture returns, as comparable plain values (NaN as -1; -0.0 apart from 0.0)."""
    stamps = None if fallback is None else [fallback + i for i in range(len(values))]
    batches, dead = parse_capture(values, fallback_timestamps_ms=stamps, arrow_poll=arrow_poll)
    out: list[object] = []
    for b in batches:
        def cols(columns: Any) -> object:
            if columns is not None:
                for c in columns.columns.values():
                    _check_categories(c)
            return None if columns is None else [
                (name, c.kinds.tolist(), np.nan_to_num(c.numbers, nan=-1.0).tolist(), np.signbit(c.numbers).tolist(),
                 None if c.strings is None else c.strings.tolist()) for name, c in columns.columns.items()]
        pred = None if b.prediction is None else cols(type(b.features)(b.n_rows, {"p": b.prediction}))
        out.append((b.model_id, b.model_version, b.timestamps_ms.tolist(), b.inference_ids.tolist(),
                    cols(b.features), pred, None if b.score is None else np.nan_to_num(b.score, nan=-1.0).tolist(),
                    cols(b.attributions), b.source_index.tolist(), b.n_rows))
    return tuple(out), tuple((d.index, d.reason) for d in dead)


def _check_categories(column: Column) -> None:
    """A column's codes, when it has them, name exactly its STRING rows' texts (-1 on every other row)."""
    cat = column.categories
    if cat is None:
        return
    assert column.strings is not None and cat.codes.size == column.kinds.size
    text = column.kinds == Kind.STRING
    assert np.array_equal(cat.codes >= 0, text)
    assert cat.values[cat.codes[text]].tolist() == column.strings[text].tolist()


def _ipc(fields: dict[str, pa.Array], metadata: dict[str, str] | None = None) -> bytes:
    meta = {"streamdrift.format": FORMAT, "model_id": "m"} if metadata is None else metadata
    return stream_bytes(pa.RecordBatch.from_arrays(list(fields.values()), names=list(fields), metadata=meta))


def _features(**columns: pa.Array) -> pa.Array:
    return pa.StructArray.from_arrays(list(columns.values()), names=list(columns))


# ------------------------------------------------------------------------------------ same rows as JSON

_finite = st.floats(allow_nan=False, allow_infinity=False)
_typed_values = st.sampled_from([
    _finite | st.none(),
    st.floats() | st.none(),  # NaN / inf: the SDK writes them as null (missing) in both forms
    st.integers(-(2**53), 2**53) | st.none(),
    st.sampled_from(["red", "green", "", "bl ue"]) | st.text(max_size=3) | st.none(),
    st.booleans() | st.none(),
    st.none(),
])


@st.composite
def _rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 12))
    features = {name: draw(_typed_values) for name in draw(st.lists(st.sampled_from("abcde"), unique=True))}
    prediction = draw(st.sampled_from(["none", "scalar", "pair"]))
    label = draw(_typed_values)
    attributions = draw(st.booleans())
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {
            "timestamp": T0 + draw(st.integers(0, 10**6)),
            "inference_id": draw(st.none() | st.text(max_size=4)),
            "features": {k: draw(v) for k, v in features.items() if draw(st.integers(0, 5))},  # some absent
        }
        if prediction == "scalar":
            row["prediction"] = draw(label)
        elif prediction == "pair":
            row["prediction"] = {"label": draw(label), "score": draw(_finite | st.none())}
        if attributions:
            row["attributions"] = {k: draw(_finite | st.none()) for k in features if draw(st.booleans())}
        if i == 0 and attributions:
            row["attributions"] = {"a": 0.5}
        rows.append(row)
    return rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows(), st.sampled_from([None, "3"]))
def test_arrow_batch_reads_exactly_as_the_json_columnar_batch(rows: list[dict[str, Any]], version: str | None) -> None:
    arrow = encode_arrow_batch("m", rows, model_version=version)
    assert arrow is not None and is_arrow_batch(arrow)
    json_batch = encode_columnar_batch("m", rows, model_version=version)
    assert not is_arrow_batch(json_batch)
    assert _summary([arrow]) == _summary([json_batch])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["m", "n"]), _rows()), min_size=1, max_size=3),
       st.lists(st.integers(0, 2), min_size=1, max_size=8))
def test_a_poll_of_arrow_batches_reads_one_model_at_a_time_as_message_by_message(
        messages: list[tuple[str, list[dict[str, Any]]]], order: list[int]) -> None:
    """A poll of Arrow batches (each message repeated in any order, so a model's messages share a schema unless
    two differ) reads the same read one model at a time (concatenated) as one message at a time."""
    encoded = [encode_arrow_batch(model, rows) for model, rows in messages]
    values = [encoded[i % len(encoded)] for i in order]
    assume(all(v is not None for v in values))
    poll = cast("list[bytes]", values)
    if len({model for model, _ in messages}) == len(messages):  # a model's messages are one message repeated
        assert read_arrow_poll(poll, 1 << 20) is not None
    assert _summary(poll) == _summary(poll, arrow_poll=False)


def _capture_rows(i: int, categories: list[str]) -> list[dict[str, Any]]:
    return [{"timestamp": T0 + 10 * i + j, "inference_id": f"{i}-{j}",
             "features": {"c": categories[(i + j) % len(categories)], "f": i * j + 0.5, "k": j},
             "prediction": {"label": j % 2, "score": 0.25}} for j in range(4)]


def test_a_poll_reads_one_model_at_a_time_across_dictionaries() -> None:
    """Messages of one schema whose category dictionaries differ, two models interleaved: read by the poll path,
    groups in the order of their first message, the same rows as message by message."""
    values = [encode_arrow_batch("m" if i % 3 else "n", _capture_rows(i, [["q", "x"], ["x", "y", "z"]][i % 2]))
              for i in range(6)]
    assert all(v is not None for v in values)
    poll = cast("list[bytes]", values)
    groups = read_arrow_poll(poll, 1 << 20)
    assert groups is not None and [g.model_id for g in groups] == ["n", "m"]
    assert groups[0].source_index.tolist() == [0] * 4 + [3] * 4
    assert _summary(poll) == _summary(poll, arrow_poll=False)


def test_polls_the_poll_path_leaves_to_the_message_path() -> None:
    """A bad message, a message too large, a model whose messages differ in schema, or a null timestamp: the poll
    path declines and the message path names the dead letters and takes each message's own fallback."""
    good = encode_arrow_batch("m", _capture_rows(0, ["a"]))
    other = encode_arrow_batch("m", [{"timestamp": T0, "features": {"c": "a"}}])  # another schema
    untimed = _ipc({"timestamp": pa.array([T0, None], type=pa.int64()),
                    "features": _features(f=pa.array([0.5, 1.5]))})  # its null row takes the Kafka timestamp
    assert good is not None and other is not None
    for poll in ([good, b"\xff\xff\xff\xffjunk"], [good, other], [untimed, untimed], [good, good + b"\0" * 64]):
        assert read_arrow_poll(poll, len(good)) is None
        assert _summary(poll) == _summary(poll, arrow_poll=False)
    _, dead = _summary([good, b"\xff\xff\xff\xffjunk"])
    assert dead == ((1, "bad_batch"),)


def test_malformed_arrow_data_is_a_dead_letter_in_any_poll() -> None:
    """Arrow data that reads as a stream but is not valid (text that is not UTF-8, a dictionary index past its
    dictionary, a field named twice) is dead-lettered, alone or next to a good batch of its model, never raised."""
    good = _ipc({"timestamp": pa.array([T0]), "features": _features(c=pa.array(["b"]).dictionary_encode())})
    not_utf8 = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(b"\0\0\0\0\2\0\0\0"),
                                                     pa.py_buffer(b"\xff\xfe")])
    past_end = pa.DictionaryArray.from_arrays(pa.array([100_000], pa.int32()), pa.array(["a"]), safe=False)
    bad = [
        _ipc({"timestamp": pa.array([T0]), "features": _features(c=not_utf8)}),
        _ipc({"timestamp": pa.array([T0]), "inference_id": not_utf8, "features": _features(c=pa.array(["b"]))}),
        _ipc({"timestamp": pa.array([T0]), "features": _features(c=past_end)}),
        stream_bytes(pa.RecordBatch.from_arrays([pa.array([T0]), pa.array([T0]), _features(f=pa.array([1.0]))],
                                                names=["timestamp", "timestamp", "features"],
                                                metadata={"streamdrift.format": FORMAT, "model_id": "m"})),
    ]
    for value in bad:
        for poll in ([value], [good, value], [value, good]):
            assert read_arrow_poll(poll, 1 << 20) is None
            batches, dead = parse_capture(poll, fallback_timestamps_ms=[T0] * len(poll))
            assert [(d.index, d.reason) for d in dead] == [(poll.index(value), "bad_batch")]
            assert sum(b.n_rows for b in batches) == len(poll) - 1


def test_a_column_mixing_text_and_numbers_is_not_an_arrow_batch() -> None:
    rows = [{"timestamp": T0, "features": {"x": 1.5}}, {"timestamp": T0, "features": {"x": "a"}}]
    assert encode_arrow_batch("m", rows) is None
    rows = [{"timestamp": T0, "features": {"x": True}}, {"timestamp": T0, "features": {"x": 2}}]
    assert encode_arrow_batch("m", rows) is None


def test_categories_are_dictionary_encoded_and_numbers_float64() -> None:
    rows = [{"timestamp": T0 + i, "features": {"c": ["x", "y"][i % 2], "f": i + 0.5}} for i in range(100)]
    blob = encode_arrow_batch("m", rows)
    assert blob is not None
    schema = pa.ipc.open_stream(blob).schema
    features = schema.field("features").type
    assert pa.types.is_dictionary(features.field("c").type) and features.field("f").type == pa.float64()
    batch = pa.ipc.open_stream(blob).read_next_batch()
    assert len(batch.column("features").field("c").dictionary) == 2  # each category once per message


def test_encoded_metadata_matches_its_json_schema() -> None:
    rows = [{"timestamp": T0, "features": {"x": 1}}]
    for version in (None, "7"):
        blob = encode_arrow_batch("churn", rows, model_version=version)
        assert blob is not None
        raw = pa.ipc.open_stream(blob).schema.metadata
        meta = {k.decode(): v.decode() for k, v in raw.items()}
        assert errors("columnar_batch_arrow", meta) == []
        assert meta["model_id"] == "churn" and meta.get("model_version") == version


# ------------------------------------------------------------------------------------ Arrow-only inputs


def test_arrow_types_the_sdk_does_not_write_are_read_too() -> None:
    us = pa.array([T0 * 1000, None, (T0 + 2) * 1000], type=pa.timestamp("us"))
    cats = pa.array(["a", None, "b"]).dictionary_encode()
    value = _ipc({
        "timestamp": us,
        "inference_id": pa.array([1, 2, None], type=pa.int32()),
        "features": _features(c=cats, s=pa.array(["x", "y", None], type=pa.large_string()),
                              f=pa.array([1.5, None, 2.0], type=pa.float32()), n=pa.array([None, None, None])),
        "prediction": pa.array([True, False, None]),
    })
    [b], dead = parse_capture([value], fallback_timestamps_ms=[T0 + 9])
    assert dead == []
    assert b.timestamps_ms.tolist() == [T0, T0 + 9, T0 + 2]  # a null timestamp takes the message's
    assert b.inference_ids.tolist() == ["1", "2", None]
    cols = b.features.columns
    assert cols["c"].strings is not None and cols["c"].strings.tolist() == ["a", None, "b"]
    assert cols["c"].kinds.tolist() == [3, 0, 3] and cols["s"].kinds.tolist() == [3, 3, 0]
    assert np.array_equal(cols["f"].numbers, [1.5, np.nan, 2.0], equal_nan=True)
    assert cols["f"].kinds.tolist() == [2, 0, 1]  # fractional, missing, integral (as JSON 2.0)
    assert cols["n"].kinds.tolist() == [0, 0, 0]
    assert b.prediction is not None and b.prediction.strings is not None
    assert b.prediction.strings.tolist() == ["true", "false", None]


def test_features_struct_nulls_make_every_feature_missing_in_that_row() -> None:
    struct = pa.StructArray.from_arrays([pa.array([1.0, 2.0]), pa.array(["a", "b"])], names=["f", "c"],
                                        mask=pa.array([False, True]))
    [b], dead = parse_capture([_ipc({"timestamp": pa.array([T0, T0]), "features": struct})])
    assert dead == []
    assert b.features.columns["f"].kinds.tolist() == [1, 0]
    assert b.features.columns["c"].kinds.tolist() == [3, 0]


_BAD: list[tuple[str, bytes, str]] = [
    ("garbage after the marker", b"\xff\xff\xff\xffjunk", "bad_batch"),
    ("not our format", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([1.0]))},
                            {"streamdrift.format": "other", "model_id": "m"}), "bad_batch"),
    ("unknown version", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([1.0]))},
                             {"streamdrift.format": FORMAT, "schema_version": "9", "model_id": "m"}), "bad_batch"),
    ("no model id", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([1.0]))},
                         {"streamdrift.format": FORMAT}), "missing_field"),
    ("empty model id", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([1.0]))},
                            {"streamdrift.format": FORMAT, "model_id": ""}), "wrong_type"),
    ("no features", _ipc({"timestamp": pa.array([T0])}), "missing_field"),
    ("features not a struct", _ipc({"timestamp": pa.array([T0]), "features": pa.array([1.0])}), "bad_batch"),
    ("NaN feature", _ipc({"timestamp": pa.array([T0, T0]), "features": _features(x=pa.array([1.0, np.nan]))}),
     "non_finite"),
    ("inf feature with nulls", _ipc({"timestamp": pa.array([T0, T0]),
                                     "features": _features(x=pa.array([None, np.inf]))}), "non_finite"),
    ("list feature", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([[1, 2]]))}),
     "wrong_type"),
    ("text attribution", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([1.0])),
                               "attributions": _features(x=pa.array(["a"]))}), "wrong_type"),
    ("negative timestamp", _ipc({"timestamp": pa.array([-1]), "features": _features(x=pa.array([1.0]))}),
     "bad_timestamp"),
    ("text timestamp", _ipc({"timestamp": pa.array(["2024-01-01"]), "features": _features(x=pa.array([1.0]))}),
     "bad_timestamp"),
    ("text score", _ipc({"timestamp": pa.array([T0]), "features": _features(x=pa.array([1.0])),
                         "prediction": _features(label=pa.array([1]), score=pa.array(["hi"]))}), "wrong_type"),
]


@pytest.mark.parametrize(("what", "value", "reason"), _BAD, ids=[b[0] for b in _BAD])
def test_bad_arrow_batches_are_dead_lettered_with_a_reason(what: str, value: bytes, reason: str) -> None:
    batches, dead = parse_capture([value], fallback_timestamps_ms=[T0])
    assert batches == []
    assert [(d.index, d.reason) for d in dead] == [(0, reason)], what
    assert dead[0].detail


def test_missing_timestamps_need_the_message_timestamp() -> None:
    value = _ipc({"features": _features(x=pa.array([1.0, 2.0]))})
    assert _summary([value], fallback=None)[1] == ((0, "missing_field"),)
    [b], dead = parse_capture([value], fallback_timestamps_ms=[T0 + 5])
    assert dead == [] and b.timestamps_ms.tolist() == [T0 + 5, T0 + 5]


def test_oversize_arrow_batch_is_dead_lettered() -> None:
    rows = [{"timestamp": T0, "features": {"x": float(i)}} for i in range(2000)]
    blob = encode_arrow_batch("m", rows)
    assert blob is not None
    _, dead = parse_capture([blob], max_bytes=len(blob) - 1)
    assert [(d.index, d.reason) for d in dead] == [(0, "too_large")]


def test_arrow_json_and_bad_messages_in_one_poll_keep_their_order() -> None:
    rows = [{"timestamp": T0 + i, "inference_id": f"a{i}", "features": {"x": float(i)}} for i in range(3)]
    arrow = encode_arrow_batch("m", rows)
    assert arrow is not None
    record = encode_capture_record("m", features={"x": 9.0}, prediction=None, inference_id="r",
                                   timestamp_ms=T0 + 9)
    values = [record, b"\xff\xff\xff\xff", arrow, encode_columnar_batch("m", rows), record.replace(b"9.0", b"8.0")]
    [b], dead = parse_capture(values)
    assert [(d.index, d.reason) for d in dead] == [(1, "bad_batch")]
    assert b.source_index.tolist() == [0, 2, 2, 2, 3, 3, 3, 4]
    assert b.features.columns["x"].numbers.tolist() == [9.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 8.0]
    assert b.inference_ids.tolist() == ["r", "a0", "a1", "a2", "a0", "a1", "a2", "r"]


def test_dictionary_text_is_counted_by_its_codes_as_by_its_strings() -> None:
    """Arrow dictionary text (with nulls, and cut into window-like parts) keeps codes that name its strings; a
    profile counting the codes holds the same frequencies as one counting the strings."""
    rng = np.random.default_rng(11)
    texts = rng.choice(np.array(["a", "b", "c", "d", None], dtype=object), size=3000, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    value = _ipc({"timestamp": pa.array(np.full(texts.size, T0)),
                  "features": _features(c=pa.array(texts.tolist()).dictionary_encode())})
    batches, dead = parse_capture([value])
    assert not dead
    column = batches[0].features.columns["c"]
    assert column.categories is not None
    for part in (column, take_column(column, slice(100, 2100)), take_column(column, np.arange(0, 3000, 7))):
        _check_categories(part)
        assert part.categories is not None and part.strings is not None
        by_codes, by_strings = FeatureProfile(ProfileParams()), FeatureProfile(ProfileParams())
        by_codes.update(part)
        by_strings.update(Column(part.numbers, part.kinds, part.strings))
        assert by_codes.categorical.frequencies() == by_strings.categorical.frequencies()
        assert by_codes.type_counts.tolist() == by_strings.type_counts.tolist()
        want = {str(k): int(v) for k, v in zip(*np.unique(part.strings[part.kinds == Kind.STRING].astype(str),
                                                          return_counts=True), strict=True)}
        assert by_codes.categorical.frequencies() == want
