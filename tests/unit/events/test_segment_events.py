"""Events of a segment (schema 1.1): the optional ``segment``; events of the whole stay version 1, unchanged."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import orjson
import pytest

from streamdrift.errors import SerializationError
from streamdrift.events.events import DriftEvent, Hysteresis, event_id, events_from_results
from streamdrift.monitors.base import MonitorResult
from streamdrift.monitors.violations import Violation, segment_subject, split_subject

WINDOW = (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 13, tzinfo=UTC))


def _result(*segments: str | None) -> MonitorResult:
    violations = [Violation("baseline_drift_check", "drift", 100, feature="x", statistic="linf", value=0.2,
                            threshold=0.1, segment=s) for s in segments]
    return MonitorResult("segments", violations, frozenset(v.key for v in violations), {}, "")


def test_the_whole_and_each_segment_have_their_own_hysteresis() -> None:
    h = Hysteresis()
    events = events_from_results([_result(None, "eu", "us")], h, "m", WINDOW, "b")
    assert [(e.segment, e.schema_version) for e in events] == [(None, "1"), ("eu", "1.1"), ("us", "1.1")]
    assert len({e.event_id for e in events}) == 3
    events = events_from_results([_result(None, "eu")], h, "m", WINDOW, "b")  # "us" was not judged: stays raised
    assert events == []
    clean = MonitorResult("segments", [], frozenset({_result("us").violations[0].key}), {}, "")
    events = events_from_results([clean], h, "m", WINDOW, "b")
    assert [(e.status, e.segment, e.feature) for e in events] == [("cleared", "us", "x")]


def test_an_event_of_the_whole_is_a_version_1_event() -> None:
    event = events_from_results([_result(None)], Hysteresis(), "m", WINDOW, "b")[0]
    data = orjson.loads(event.to_json())
    assert "segment" not in data and data["schema_version"] == "1"
    assert event.event_id == event_id(dataclasses.replace(event, segment=None))


def test_segment_event_round_trip_and_versions() -> None:
    event = events_from_results([_result("eu,gold")], Hysteresis(), "m", WINDOW, "b")[0]
    data = orjson.loads(event.to_json())
    assert data["segment"] == "eu,gold" and data["schema_version"] == "1.1"
    assert DriftEvent.from_json(event.to_json()) == event
    with pytest.raises(SerializationError):
        DriftEvent.from_dict({**data, "schema_version": "2"})


def test_subjects_of_segment_checks() -> None:
    assert split_subject(segment_subject("x", "eu")) == ("x", "eu")
    assert split_subject(segment_subject("x", None)) == ("x", None)
