"""Events of a roll-up window (schema 1.2): ``window_seconds`` says which window size was judged; a roll-up's
judge has its own hysteresis; events of base windows are unchanged (version 1 / 1.1, same ids)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
import pytest

from streamdrift.errors import SerializationError
from streamdrift.events.events import DriftEvent, Hysteresis, event_id, events_from_results
from streamdrift.monitors.base import MonitorResult
from streamdrift.monitors.violations import Violation

SCHEMA = orjson.loads((Path(__file__).resolve().parents[3] / "schemas" / "drift_event.schema.json").read_bytes())
WINDOW = (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 13, tzinfo=UTC))


def _result(segment: str | None = None) -> MonitorResult:
    v = Violation("baseline_drift_check", "drift", 100, feature="x", statistic="ks", value=0.2, threshold=0.1,
                  segment=segment)
    return MonitorResult("data_quality", [v], frozenset({v.key}), {}, "")


def test_a_rollup_event_carries_its_window_size_and_version_1_2() -> None:
    base = events_from_results([_result()], Hysteresis(), "m", WINDOW, "b")[0]
    rolled = events_from_results([_result()], Hysteresis(), "m", WINDOW, "b", window_seconds=3600)[0]
    data = orjson.loads(rolled.to_json())
    assert data["window_seconds"] == 3600 and data["schema_version"] == "1.2"
    jsonschema.validate(data, SCHEMA)
    jsonschema.validate(orjson.loads(base.to_json()), SCHEMA)
    assert "window_seconds" not in orjson.loads(base.to_json()) and base.schema_version == "1"
    # a roll-up may start where a base window starts: its id differs; a base event's id is what it was
    assert rolled.event_id != base.event_id
    assert base.event_id == event_id(dataclasses.replace(rolled, window_seconds=None, schema_version="1"))
    assert DriftEvent.from_json(rolled.to_json()) == rolled
    segment = events_from_results([_result("eu")], Hysteresis(), "m", WINDOW, "b", window_seconds=86400)[0]
    assert (segment.schema_version, segment.segment, segment.window_seconds) == ("1.2", "eu", 86400)
    jsonschema.validate(orjson.loads(segment.to_json()), SCHEMA)


def test_window_seconds_is_a_positive_integer_in_the_schema() -> None:
    rolled = events_from_results([_result()], Hysteresis(), "m", WINDOW, "b", window_seconds=3600)[0]
    data = orjson.loads(rolled.to_json())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "window_seconds": 0}, SCHEMA)
    with pytest.raises(SerializationError):
        DriftEvent.from_dict({**data, "schema_version": "1.3"})
