"""The mapping engine on the plain ``json`` preset: every way to name a model, features, predictions, ids and
event times, and the dead letters of messages that do not match (with the path that failed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser, Messages

T0 = 1_718_000_000_000


def parser(mapping: dict[str, Any], **extra: Any) -> MappedParser:
    return MappedParser(SourceSettings.model_validate({"name": "s", "topic": "t", "mapping": mapping, **extra}))


def msgs(values: list[Any], *, keys: list[bytes | None] | None = None,
         headers: list[list[tuple[str, bytes]] | None] | None = None, stamps: list[int] | None = None) -> Messages:
    raw = [v if isinstance(v, bytes) else orjson.dumps(v) for v in values]
    n = len(raw)
    return Messages(raw, keys or [None] * n, headers or [None] * n, stamps or [T0 + i for i in range(n)])


def test_object_features_prediction_score_id_and_time_by_pointer() -> None:
    p = parser({"model_id": "/model/name", "model_version": "/model/version",
                "features": {"object": "/request/features"}, "prediction": "/response/label",
                "score": "/response/p", "inference_id": "/rid", "event_time": {"field": "/ts", "unit": "s"}})
    doc = {"model": {"name": "fraud", "version": 3}, "rid": "a1", "ts": 1718000000.5,
           "request": {"features": {"amount": 12.5, "country": "NO"}}, "response": {"label": 1, "p": 0.93}}
    batches, dead = p.parse(msgs([doc, {**doc, "rid": "a2", "request": {"features": {"amount": 3, "country": "SE"}}}]))
    assert dead == []
    (b,) = batches
    assert (b.model_id, b.model_version, b.n_rows) == ("fraud", "3", 2)
    assert b.timestamps_ms.tolist() == [1718000000500] * 2
    assert b.inference_ids.tolist() == ["a1", "a2"]
    assert b.features.columns["amount"].numbers.tolist() == [12.5, 3.0]
    assert b.features.columns["country"].strings is not None or b.features.columns["country"].categories is not None
    assert b.prediction is not None and b.prediction.numbers.tolist() == [1.0, 1.0]
    assert b.score is not None and b.score.tolist() == [0.93, 0.93]


@pytest.mark.parametrize(("unit", "value", "expected"), [
    ("s", 1718000000, 1718000000000), ("ms", 1718000000123, 1718000000123), ("us", 1718000000123456, 1718000000123),
    ("iso", "2024-06-10T06:13:20.123Z", 1718000000123),
])
def test_event_time_units(unit: str, value: object, expected: int) -> None:
    p = parser({"model_id": {"const": "m"}, "features": {"fields": ["/x"]}, "event_time": {"field": "/t", "unit": unit}})
    (b,), dead = p.parse(msgs([{"x": 1, "t": value}]))
    assert dead == [] and b.timestamps_ms.tolist() == [expected]


def test_kafka_timestamp_by_default_and_model_from_key_header_const() -> None:
    body = {"x": 1.0}
    for spec, kwargs in (({"key": True}, {"keys": [b"k-model"]}),
                         ({"header": "model"}, {"headers": [[("model", b"k-model")]]}),
                         ({"const": "k-model"}, {})):
        (b,), dead = parser({"model_id": spec, "features": {"fields": {"x": "/x"}}}).parse(
            msgs([body], stamps=[T0 + 7], **kwargs))
        assert dead == [] and b.model_id == "k-model" and b.timestamps_ms.tolist() == [T0 + 7]


def test_named_fields_list_and_columnar_fields() -> None:
    p = parser({"model_id": {"const": "m"}, "features": {"fields": {"age": "/a/age", "income": "/b"}},
                "prediction": "/pred", "inference_id": "/id"})
    (b,), dead = p.parse(msgs([{"a": {"age": [30, 40, 50]}, "b": [1.0, 2.0, 3.0], "pred": [0, 1, 0], "id": "r"}]))
    assert dead == []
    assert b.features.columns["age"].numbers.tolist() == [30, 40, 50]
    assert b.features.columns["income"].numbers.tolist() == [1.0, 2.0, 3.0]
    assert b.inference_ids.tolist() == ["r:0", "r:1", "r:2"]  # one id per request, suffixed per row
    assert b.source_index.tolist() == [0, 0, 0]


def test_tensor_features_flat_with_shape_nested_and_one_row() -> None:
    p = parser({"model_id": {"const": "m"}, "features": {"tensor": "/t", "names": ["a", "b"]}})
    flat = {"t": {"shape": [3, 2], "data": [1, 2, 3, 4, 5, 6]}}
    nested = {"t": [[1, 2], [3, 4], [5, 6]]}
    one = {"t": [7, 8]}
    (b,), dead = p.parse(msgs([flat, nested, one]))
    assert dead == []
    assert b.features.columns["a"].numbers.tolist() == [1, 3, 5, 1, 3, 5, 7]
    assert b.features.columns["b"].numbers.tolist() == [2, 4, 6, 2, 4, 6, 8]
    assert b.source_index.tolist() == [0, 0, 0, 1, 1, 1, 2]


def test_mismatches_are_dead_letters_naming_the_path_and_lose_no_good_record() -> None:
    p = parser({"model_id": "/m", "features": {"tensor": "/t", "names": ["a", "b"]}, "prediction": "/p"})
    good = {"m": "x", "t": [[1, 2], [3, 4]], "p": [0, 1]}
    values: list[Any] = [
        good,
        {"t": [[1, 2]], "p": [0]},  # no model id
        {"m": "x", "t": [[1, 2, 3]], "p": [0]},  # 3 values for 2 names
        {"m": "x", "t": [[1, 2], [3, 4]], "p": [0]},  # 1 prediction for 2 rows
        b"{not json",
        {"m": "x", "t": [[1, {"deep": 1}], [3, 4]], "p": [0, 1]},  # a nested value in a row: the whole message
        good,
    ]
    batches, dead = p.parse(msgs(values))
    assert [(d.index, d.reason) for d in dead] == [(1, "mapping_mismatch"), (2, "mapping_mismatch"),
                                                   (3, "mapping_mismatch"), (4, "not_json"), (5, "wrong_type")]
    assert dead[0].detail.startswith("/m:")
    assert dead[1].detail.startswith("/t:") and "3 values for 2" in dead[1].detail
    assert dead[2].detail.startswith("/p:")
    (b,) = batches
    assert b.source_index.tolist() == [0, 0, 6, 6]  # nothing of message 5 counts, though its second row was fine
    assert b.features.columns["a"].numbers.tolist() == [1, 3, 1, 3]


def test_models_are_grouped_and_ids_from_header() -> None:
    p = parser({"model_id": "/m", "features": {"object": "/f"}, "inference_id": {"header": "x-request-id"}})
    values = [{"m": "a", "f": {"x": 1}}, {"m": "b", "f": {"x": 2}}, {"m": "a", "f": {"x": 3}}]
    hdrs: list[list[tuple[str, bytes]] | None] = [[("x-request-id", f"id{i}".encode())] for i in range(3)]
    batches, dead = p.parse(msgs(values, headers=hdrs))
    assert dead == []
    assert [(b.model_id, b.inference_ids.tolist()) for b in batches] == [("a", ["id0", "id2"]), ("b", ["id1"])]
    batches, dead = p.parse(msgs(values))  # no header: every message names what failed
    assert batches == [] and {d.detail for d in dead} == {"header x-request-id: inference_id: absent"}


def test_labels_mapping() -> None:
    p = parser({"model_id": "/m", "features": {"object": "/f"}}, labels_topic="lt",
               labels_mapping={"model_id": "/model", "inference_id": "/rid", "label": "/truth",
                               "event_time": {"field": "/at", "unit": "ms"}})
    labels, dead = p.parse_labels(msgs([{"model": "a", "rid": "r1", "truth": 1, "at": T0},
                                        {"model": "a", "truth": 0, "at": T0},
                                        {"model": "a", "rid": "r3", "truth": [1, 2], "at": T0}]))
    assert labels.inference_ids.tolist() == ["r1"] and labels.source_index.tolist() == [0]
    assert np.asarray(labels.timestamps_ms).tolist() == [T0]
    assert [(d.index, d.reason) for d in dead] == [(1, "mapping_mismatch"), (2, "mapping_mismatch")]
