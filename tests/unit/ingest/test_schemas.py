"""The record JSON Schemas: every example under schemas/examples validates (or fails) as its folder says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from streamdrift.errors import BadRecordError, ConfigError
from streamdrift.ingest.schemas import (
    SCHEMA_NAMES,
    SchemaName,
    columnar_length_errors,
    errors,
    is_rfc3339,
    load_schema,
    validate,
    validator,
)

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "schemas"
EXAMPLES = SCHEMAS / "examples"


def _examples(kind: str) -> list[tuple[SchemaName, Path]]:
    return [(name, path) for name in SCHEMA_NAMES for path in sorted((EXAMPLES / name / kind).glob("*.json"))]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _id(case: tuple[SchemaName, Path]) -> str:
    return f"{case[0]}/{case[1].stem}"


VALID = _examples("valid")
INVALID = _examples("invalid")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_draft_2020_12_with_id_and_version(name: SchemaName) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.schema.json")
    version = schema["properties"]["schema_version"]
    # the drift event's minor versions add optional fields (1.1 the segment, 1.2 a roll-up's window_seconds):
    # version-1 events are still valid
    assert version.get("const", None) == "1" or version.get("enum") in (["1"], ["1", "1.1", "1.2"])


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_packaged_schema_is_the_repository_file(name: SchemaName) -> None:
    assert load_schema(name) == _load(SCHEMAS / f"{name}.schema.json")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_has_valid_and_invalid_examples(name: SchemaName) -> None:
    assert sum(1 for n, _ in VALID if n == name) >= 3
    assert sum(1 for n, _ in INVALID if n == name) >= 5


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_valid_example_passes(case: tuple[SchemaName, Path]) -> None:
    name, path = case
    assert errors(name, _load(path)) == []
    validate(name, _load(path))


@pytest.mark.parametrize("case", INVALID, ids=_id)
def test_invalid_example_fails(case: tuple[SchemaName, Path]) -> None:
    name, path = case
    with pytest.raises(BadRecordError) as info:
        validate(name, _load(path))
    assert info.value.reason == "schema_violation"


@pytest.mark.parametrize("case", [c for c in INVALID if not c[1].stem.startswith("lengths_")], ids=_id)
def test_invalid_example_fails_the_json_schema_itself(case: tuple[SchemaName, Path]) -> None:
    """Apart from the n-length rule, every invalid example is caught by the schema document alone."""
    name, path = case
    assert not validator(name).is_valid(_load(path))


def test_length_examples_pass_the_schema_but_fail_the_length_rule() -> None:
    cases = [c for c in INVALID if c[1].stem.startswith("lengths_")]
    assert len(cases) == 2
    for name, path in cases:
        doc = _load(path)
        assert validator(name).is_valid(doc)
        assert len(columnar_length_errors(doc)) == 1


def test_length_rule_checks_every_column() -> None:
    batch = _load(EXAMPLES / "columnar_batch" / "valid" / "label_and_score.json")
    assert columnar_length_errors(batch) == []
    batch["prediction"]["score"] = [0.5]
    batch["attributions"]["age"] = [0.1, 0.2, 0.3, 0.4]
    assert sorted(columnar_length_errors(batch)) == [
        "attributions.age: 4 items, expected n=3",
        "prediction.score: 1 items, expected n=3",
    ]


def test_date_time_format_is_checked() -> None:
    assert is_rfc3339("2026-07-26T12:00:00Z")
    assert is_rfc3339("2026-07-26t12:00:00.123456789+05:30")
    assert not is_rfc3339("2026-07-26T12:00:00")  # no offset
    assert not is_rfc3339("2026-02-30T12:00:00Z")  # no such day
    assert not is_rfc3339("2026-07-26 12:00:00Z")
    event = _load(EXAMPLES / "drift_event" / "valid" / "data_drift_raised.json")
    event["detected_at"] = "2026-07-26T25:00:00Z"
    assert any("detected_at" in message for message in errors("drift_event", event))


def test_capture_record_default_version_and_key_fields() -> None:
    schema = load_schema("capture_record")
    assert schema["properties"]["schema_version"]["default"] == "1"
    assert set(schema["required"]) == {"model_id", "inference_id", "timestamp", "features", "prediction"}


def test_drift_event_fields_match_the_contract() -> None:
    schema = load_schema("drift_event")
    expected = [
        "schema_version",
        "event_id",
        "model_id",
        "model_version",
        "monitor",
        "check",
        "feature",
        "metric",
        "window_start",
        "window_end",
        "statistic",
        "value",
        "threshold",
        "p_value",
        "n_window",
        "n_baseline",
        "baseline_id",
        "severity",
        "status",
        "partial",
        "description",
        "detected_at",
    ]
    # 1.1 segment, 1.2 window_seconds (a roll-up): optional, so version-1 events stay valid
    assert set(schema["properties"]) == {*expected, "segment", "window_seconds"}
    assert set(schema["required"]) == set(expected)
    assert schema["properties"]["monitor"]["enum"] == ["data_quality", "model_quality", "bias", "attribution"]


def test_unknown_schema_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown schema"):
        load_schema("nope")  # type: ignore[arg-type]


def test_records_and_events_modules_write_schema_valid_documents() -> None:
    """The encoders other modules use produce documents these schemas accept."""
    import orjson

    from streamdrift.events.events import DriftEvent
    from streamdrift.ingest.records import encode_capture_record, encode_columnar_batch, encode_label_record

    record = encode_capture_record(
        "m", features={"a": 1.5, "b": "x", "c": None}, prediction={"label": 1, "score": 0.3},
        inference_id="i-1", timestamp_ms=1785067200000, model_version="2", attributions={"a": 0.2},
    )  # fmt: skip
    assert errors("capture_record", orjson.loads(record)) == []
    rows = [
        {"features": {"a": 1}, "timestamp": 1, "inference_id": "x", "prediction": 1},
        {"features": {"b": "q"}, "timestamp": 2, "inference_id": "y", "prediction": 0},
    ]
    assert errors("columnar_batch", orjson.loads(encode_columnar_batch("m", rows))) == []
    assert errors("label_record", orjson.loads(encode_label_record("m", "i-1", "yes", 5))) == []
    event = DriftEvent(
        model_id="m", monitor="data_quality", check="baseline_drift_check", window_start="2026-07-26T12:00:00Z",
        window_end="2026-07-26T12:05:00Z", status="raised", severity="warning", n_window=10, description="d",
        statistic="linf", value=0.3, threshold=0.1,
    )  # fmt: skip
    assert errors("drift_event", event.to_dict()) == []
    assert errors("drift_event", {**event.to_dict(), "severity": "fatal"}) != []
