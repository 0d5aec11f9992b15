"""The presets on messages built as the servers' specifications describe them (tests/support/sources.py cites
them): OIP v2 request/response pairs, KServe CloudEvents (v1 and v2 bodies), SageMaker data capture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from servers import (
    ce_headers,
    kserve_v1_request,
    kserve_v1_response,
    oip_request,
    oip_response,
    oip_tensor,
    sagemaker_csv_record,
)

from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser, Messages

T0 = 1_718_000_000_000
NAMES = [f"f{i}" for i in range(4)]
CONFORMANCE = Path("/work/shared/conformance/sagemaker/capture/captured-data.jsonl")


def parser(preset: str, mapping: dict[str, Any], **extra: Any) -> MappedParser:
    return MappedParser(SourceSettings.model_validate({"name": "s", "topic": "t", "preset": preset,
                                                       "mapping": mapping, **extra}))


def poll(values: list[bytes], headers: list[Any] | None = None, stamps: list[int] | None = None) -> Messages:
    n = len(values)
    return Messages(values, [None] * n, headers or [None] * n, stamps or [T0 + i for i in range(n)])


OIP_TENSOR = {"model_id": "/model_name", "model_version": "/model_version",
              "features": {"tensor": "/inputs/input-0", "names": NAMES},
              "prediction": "/outputs/predict", "score": "/outputs/proba", "inference_id": "/id"}


def test_oip_request_and_response_pair_across_polls() -> None:
    p = parser("oip-v2", OIP_TENSOR)
    pairs = p.new_pairs()
    rows = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    req = oip_request("r1", [oip_tensor("input-0", rows)])
    resp = oip_response("r1", "iris", [oip_tensor("predict", [1, 0], "INT64"), oip_tensor("proba", [0.9, 0.2])])
    batches, dead = p.parse(poll([req]), pairs)
    assert batches == [] and dead == [] and pairs is not None and len(pairs) == 1
    (b,), dead = p.parse(poll([resp], stamps=[T0 + 50]), pairs)
    assert dead == [] and len(pairs) == 0
    assert (b.model_id, b.model_version, b.n_rows) == ("iris", "1", 2)
    assert b.timestamps_ms.tolist() == [T0, T0]  # the request's time
    assert b.features.columns["f3"].numbers.tolist() == [4.0, 8.0]
    assert b.prediction is not None and b.prediction.numbers.tolist() == [1, 0]
    assert b.score is not None and b.score.tolist() == pytest.approx([0.9, 0.2])
    assert b.inference_ids.tolist() == ["r1:0", "r1:1"]
    assert pairs.take_outcomes()["paired"] == 1


def test_oip_named_input_tensors_as_fields_and_nested_data() -> None:
    p = parser("oip-v2", {"model_id": "/model_name", "features": {"fields": {"age": "/inputs/age",
                                                                             "income": "/inputs/income"}},
                          "prediction": "/outputs/output-0"})
    pairs = p.new_pairs()
    req = oip_request("x", [oip_tensor("age", [[30], [41]], "INT32", nested=True),
                            oip_tensor("income", [1.5, 2.5], "FP64")], parameters={"content_type": "pd"})
    resp = oip_response("x", "m", [oip_tensor("output-0", [0, 1], "INT64")], model_version=None)
    (b,), dead = p.parse(poll([resp, req]), pairs)  # the response may come first
    assert dead == []
    assert b.features.columns["age"].numbers.tolist() == [30, 41]
    assert b.features.columns["income"].numbers.tolist() == [1.5, 2.5]
    assert b.model_version is None and b.source_index.tolist() == [1, 1]


def test_unpaired_halves_expire_after_the_ttl_and_are_counted() -> None:
    p = parser("oip-v2", OIP_TENSOR, pairing={"ttl_seconds": 10})
    pairs = p.new_pairs()
    assert pairs is not None
    req = oip_request("lonely", [oip_tensor("input-0", [[1.0, 2.0, 3.0, 4.0]])])
    other = oip_request("later", [oip_tensor("input-0", [[1.0, 2.0, 3.0, 4.0]])])
    p.parse(poll([req], stamps=[T0]), pairs)
    p.parse(poll([req], stamps=[T0 + 1]), pairs)  # a second request with the id: replaces the first
    p.parse(poll([other], stamps=[T0 + 11_000]), pairs)
    assert len(pairs) == 1
    assert pairs.take_outcomes() == {"duplicate": 1, "expired": 1}
    late = oip_response("lonely", "iris", [oip_tensor("predict", [1]), oip_tensor("proba", [0.5])])
    assert p.parse(poll([late], stamps=[T0 + 11_001]), pairs) == ([], [])  # waits in turn


def test_oip_mismatches_name_the_path() -> None:
    p = parser("oip-v2", OIP_TENSOR)
    pairs = p.new_pairs()
    no_id = orjson.dumps({"inputs": [oip_tensor("input-0", [[1.0, 2.0, 3.0, 4.0]])]})
    neither = orjson.dumps({"id": "q", "something": 1})
    req = oip_request("w", [oip_tensor("wrong-name", [[1.0, 2.0, 3.0, 4.0]])])
    resp = oip_response("w", "iris", [oip_tensor("predict", [1]), oip_tensor("proba", [0.5])])
    batches, dead = p.parse(poll([no_id, neither, req, resp]), pairs)
    assert batches == []
    assert [(d.index, d.detail.split(":")[0]) for d in dead] == [(0, "/id"), (1, "/inputs"),
                                                                 (3, "/inputs/input-0")]


def test_kserve_cloudevents_v1_and_v2_bodies_paired_by_ce_id() -> None:
    mapping = {"model_id": {"header": "ce_inferenceservicename"},
               "features": {"tensor": "/instances", "names": ["a", "b"]}, "prediction": "/predictions",
               "inference_id": "/ce/id"}
    p = parser("kserve-cloudevents", mapping)
    pairs = p.new_pairs()
    values = [kserve_v1_request([[6.8, 2.8], [6.0, 3.4]]), kserve_v1_response([1, 1])]
    hdrs = [ce_headers("ev-1", "request", "sklearn-iris"), ce_headers("ev-1", "response", "sklearn-iris")]
    (b,), dead = p.parse(poll(values, hdrs), pairs)
    assert dead == [] and b.model_id == "sklearn-iris" and b.inference_ids.tolist() == ["ev-1:0", "ev-1:1"]
    assert b.features.columns["b"].numbers.tolist() == [2.8, 3.4]
    assert b.prediction is not None and b.prediction.numbers.tolist() == [1, 1]

    v2 = parser("kserve-cloudevents", {"model_id": {"header": "ce_inferenceservicename"},
                                       "features": {"tensor": "/inputs/input-0", "names": ["a", "b"]},
                                       "prediction": "/outputs/output-0", "inference_id": "/id"})
    pairs2 = v2.new_pairs()
    values = [oip_request("ev-2", [oip_tensor("input-0", [[1.0, 2.0]])]),
              oip_response("ev-2", "sklearn-v2", [oip_tensor("output-0", [0], "INT64")])]
    hdrs = [ce_headers("ev-2", "request", "sklearn-v2"), ce_headers("ev-2", "response", "sklearn-v2")]
    (b2,), dead = v2.parse(poll(values, hdrs), pairs2)
    assert dead == [] and (b2.model_id, b2.n_rows, b2.inference_ids.tolist()) == ("sklearn-v2", 1, ["ev-2"])


def test_kserve_ce_time_of_the_request_is_the_declared_event_time() -> None:
    """CloudEvents ``time`` (RFC 3339, ``ce_time``) of the request event as the rows' event time, declared as
    ``/ce_request/time`` (unit iso); ``/ce/time`` is the response's; without it, the request's Kafka timestamp."""
    def rows_at(event_time: dict[str, Any] | None) -> list[int]:
        mapping: dict[str, Any] = {"model_id": {"header": "ce_inferenceservicename"},
                                   "features": {"tensor": "/instances", "names": ["a", "b"]},
                                   "prediction": "/predictions", "inference_id": "/ce/id"}
        if event_time is not None:
            mapping["event_time"] = event_time
        p = parser("kserve-cloudevents", mapping)
        values = [kserve_v1_request([[6.8, 2.8], [6.0, 3.4]]), kserve_v1_response([1, 1])]
        hdrs = [ce_headers("ev-1", "request", "iris", time_ms=T0 + 1_234),
                ce_headers("ev-1", "response", "iris", time_ms=T0 + 1_987)]
        (b,), dead = p.parse(poll(values, hdrs, [T0 + 60_000, T0 + 61_000]), p.new_pairs())
        assert dead == []
        return list(b.timestamps_ms.tolist())

    assert rows_at({"field": "/ce_request/time", "unit": "iso"}) == [T0 + 1_234] * 2
    assert rows_at({"field": "/ce_response/time", "unit": "iso"}) == [T0 + 1_987] * 2
    assert rows_at({"field": "/ce/time", "unit": "iso"}) == [T0 + 1_987] * 2
    assert rows_at(None) == [T0 + 60_000] * 2


def test_kserve_events_without_ce_headers_are_dead_letters() -> None:
    p = parser("kserve-cloudevents", {"model_id": {"header": "ce_inferenceservicename"},
                                      "features": {"tensor": "/instances", "names": ["a"]}})
    pairs = p.new_pairs()
    hdr = [(k, v) for k, v in ce_headers("e", "request", "s") if k != "ce_id"]
    bad_type = [(k, b"com.example.other" if k == "ce_type" else v) for k, v in ce_headers("e", "request", "s")]
    _, dead = p.parse(poll([kserve_v1_request([[1.0]])] * 3, [hdr, bad_type, None]), pairs)
    assert [d.detail.split(":")[0] for d in dead] == ["header ce_id", "header ce_type", "header ce_id"]


SAGEMAKER = {"model_id": {"const": "xgb-churn"}, "features": {"tensor": "/input", "names": ["a", "b", "c"]},
             "score": "/output", "inference_id": "/eventMetadata/inferenceId",
             "event_time": {"field": "/eventMetadata/inferenceTime", "unit": "iso"}}


def test_sagemaker_capture_csv_and_base64_payloads() -> None:
    p = parser("sagemaker-capture", SAGEMAKER)
    values = [sagemaker_csv_record([1, 2, 3], 0.25, event_id="e1", inference_id="i1", time_ms=T0),
              sagemaker_csv_record([4, 5, 6], 0.75, event_id="e2", inference_id="i2", time_ms=T0 + 1000,
                                   base64_input=True),
              sagemaker_csv_record([7, 8], 0.5, event_id="e3", inference_id="i3", time_ms=T0)]
    (b,), dead = p.parse(poll(values))
    assert b.inference_ids.tolist() == ["i1", "i2"] and b.timestamps_ms.tolist() == [T0, T0 + 1000]
    assert b.features.columns["c"].numbers.tolist() == [3.0, 6.0]
    assert b.score is not None and b.score.tolist() == [0.25, 0.75]
    assert [(d.index, d.detail.split(":")[0]) for d in dead] == [(2, "/input")]


def test_sagemaker_capture_json_payloads_of_the_conformance_file() -> None:
    """The real capture file: JSON ``{"instances": [1.0, 2.0, 5.0]}`` in, ``{"predictions": [...]}`` out."""
    p = parser("sagemaker-capture", {"model_id": {"const": "m"}, "features": {"fields": {"x": "/input"}},
                                     "prediction": "/output", "inference_id": "/eventMetadata/eventId",
                                     "event_time": {"field": "/eventMetadata/inferenceTime", "unit": "iso"}})
    lines = [line.encode() for line in CONFORMANCE.read_text().splitlines() if line.strip()]
    (b,), dead = p.parse(poll(lines))
    assert dead == [] and b.n_rows == 6
    assert b.features.columns["x"].numbers.tolist() == [1.0, 2.0, 5.0] * 2
    assert b.prediction is not None and b.prediction.numbers.tolist() == [3.5, 4.0, 5.5] * 2
    assert b.inference_ids.tolist()[:3] == [f"12b73486-e916-45de-9d82-7fa23d4a39a6:{i}" for i in range(3)]
    assert b.timestamps_ms.tolist()[0] == 1574580650000  # 2019-11-24T07:30:50Z
