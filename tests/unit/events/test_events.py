from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import orjson
import pytest

from streamdrift.errors import SerializationError, StreamdriftError
from streamdrift.events.events import DriftEvent, Hysteresis, events_from_results, rfc3339
from streamdrift.monitors.data_quality.evaluation import FeatureResult, WindowEvaluation
from streamdrift.monitors.data_quality.monitor import result_of
from streamdrift.monitors.violations import CheckKey, Violation

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "drift_event.schema.json"
KEY = ("m1", "data_quality", "baseline_drift_check", "age")
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=1))


def events_from_evaluation(evaluation: WindowEvaluation, h: Hysteresis, model: str,
                           window: tuple[datetime, datetime], baseline_id: str | None, *, model_version: str | None = None,
                           partial: bool = False) -> list[DriftEvent]:
    return events_from_results([result_of(evaluation)], h, model, window, baseline_id, model_version=model_version,
                               partial=partial)


def test_hysteresis_default_reports_every_change_once() -> None:
    h = Hysteresis()
    seq = [False, True, True, False, False, True]
    assert [h.observe(KEY, d) for d in seq] == [None, "raised", None, "cleared", None, "raised"]


def test_hysteresis_needs_consecutive_windows() -> None:
    h = Hysteresis(raise_after=2, clear_after=3)
    seq = [True, False, True, True, True, False, False, True, False, False, False, True]
    expected = [None, None, None, "raised", None, None, None, None, None, None, "cleared", None]
    assert [h.observe(KEY, d) for d in seq] == expected
    assert not h.is_raised(KEY)


def test_hysteresis_keys_are_independent() -> None:
    h = Hysteresis()
    other = ("m1", "data_quality", "baseline_drift_check", "income")
    assert h.observe(KEY, True) == "raised"
    assert h.observe(other, False) is None
    assert h.raised_keys() == [KEY]
    with pytest.raises(StreamdriftError):
        Hysteresis(raise_after=0)


def test_hysteresis_export_restore_goes_on_where_it_stood() -> None:
    """A restarted judge restores each model's keys: streaks and raised alerts carry over, other models' keys and
    the restoring model's stale ones do not."""
    h = Hysteresis(raise_after=2, clear_after=2)
    other = ("m2", "data_quality", "baseline_drift_check", "income")
    assert h.observe(KEY, True) is None and h.observe(other, True) is None and h.observe(other, True) == "raised"
    blob = h.export("m1")
    fresh = Hysteresis(raise_after=2, clear_after=2)
    stale = ("m1", "data_quality", "baseline_drift_check", "zip")
    fresh.observe(stale, True)
    fresh.restore("m1", blob)
    assert fresh.observe(KEY, True) == "raised"  # the streak of one survived: the second drifted window raises
    assert fresh.observe(stale, True) is None  # replaced by the restored state (a first drifted window again)
    assert fresh.raised_keys() == [KEY] and fresh.export("m2") == Hysteresis().export("m2")
    fresh.restore("m1", None)
    assert fresh.raised_keys() == []
    with pytest.raises(SerializationError, match="hysteresis state"):
        fresh.restore("m1", b'{"version": 1, "keys": [["data_quality", "c", "f", true]]}')
    with pytest.raises(SerializationError, match="not format 1"):
        fresh.restore("m1", b'{"version": 2, "keys": []}')


def _event(**overrides: object) -> DriftEvent:
    base: dict[str, object] = dict(
        model_id="m1", monitor="data_quality", check="baseline_drift_check", feature="age",
        window_start=rfc3339(WINDOW[0]), window_end=rfc3339(WINDOW[1]), status="raised", severity="warning",
        n_window=1000, n_baseline=100_000, statistic="linf", value=0.2, threshold=0.06, p_value=1e-9,
        baseline_id="b1", description="drift",
    )
    base.update(overrides)
    return DriftEvent.from_dict(base)


def test_drift_event_json_round_trip() -> None:
    event = _event()
    data = orjson.loads(event.to_json())
    assert data["schema_version"] == "1"
    assert str(uuid.UUID(data["event_id"])) == data["event_id"]
    assert data["window_start"] == "2026-01-01T12:00:00.000Z"
    assert data["detected_at"].endswith("Z")
    assert DriftEvent.from_json(event.to_json()) == event
    assert set(data) == {
        "schema_version", "event_id", "model_id", "model_version", "monitor", "check", "feature", "metric",
        "window_start", "window_end", "statistic", "value", "threshold", "p_value", "n_window", "n_baseline",
        "baseline_id", "severity", "status", "partial", "description", "detected_at",
    }


@pytest.mark.parametrize("bad", [{"monitor": "nope"}, {"status": "open"}, {"severity": "high"},
                                 {"schema_version": "2"}, {"unknown_field": 1}])
def test_drift_event_rejects_invalid_fields(bad: dict[str, object]) -> None:
    with pytest.raises(SerializationError):
        _event(**bad)
    with pytest.raises(SerializationError):
        DriftEvent.from_json(b"[1, 2]")


def _evaluation(drifted: bool, missing: bool = False) -> WindowEvaluation:
    result = FeatureResult("age", "numeric", "linf", 0.2 if drifted else 0.01, 0.06, 1e-9 if drifted else 0.9,
                           1000, 100_000, drifted)
    violations = []
    if drifted:
        violations.append(Violation(check="baseline_drift_check", feature="age", statistic="linf", value=0.2,
                                    threshold=0.06, p_value=1e-9, n_window=1000, n_baseline=100_000,
                                    description="age drifted"))
    if missing:
        violations.append(Violation(check="missing_column_check", feature="city", n_window=1000,
                                    description="city missing"))
    checked: set[CheckKey] = {("data_quality", "baseline_drift_check", "age"),
                              ("data_quality", "missing_column_check", "city")}
    return WindowEvaluation("calibrated", 1000, 100_000, [result], violations, frozenset(checked), {}, 0.001)


def test_events_from_evaluation_goes_through_hysteresis() -> None:
    h = Hysteresis(raise_after=1, clear_after=2)
    first = events_from_evaluation(_evaluation(True, missing=True), h, "m1", WINDOW, "b1", model_version="v2")
    assert sorted((e.check, e.status, e.severity) for e in first) == [
        ("baseline_drift_check", "raised", "critical"), ("missing_column_check", "raised", "critical")]
    drift = next(e for e in first if e.check == "baseline_drift_check")
    assert (drift.feature, drift.value, drift.threshold, drift.p_value, drift.n_window, drift.n_baseline) == (
        "age", 0.2, 0.06, 1e-9, 1000, 100_000)
    assert drift.model_version == "v2" and drift.baseline_id == "b1"
    assert events_from_evaluation(_evaluation(True, missing=True), h, "m1", WINDOW, "b1") == []
    assert events_from_evaluation(_evaluation(False), h, "m1", WINDOW, "b1") == []
    cleared = events_from_evaluation(_evaluation(False), h, "m1", WINDOW, "b1")
    assert sorted((e.check, e.status, e.severity) for e in cleared) == [
        ("baseline_drift_check", "cleared", "info"), ("missing_column_check", "cleared", "info")]
    age = next(e for e in cleared if e.feature == "age")
    assert age.value == 0.01 and age.p_value == 0.9


def test_events_validate_against_the_drift_event_schema() -> None:
    schema = orjson.loads(SCHEMA.read_bytes())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    h = Hysteresis()
    raised = events_from_evaluation(_evaluation(True, missing=True), h, "m1", WINDOW, "b1", model_version="v2")
    cleared = events_from_evaluation(_evaluation(False), h, "m1", WINDOW, None, partial=True)
    assert raised and cleared
    for event in [*raised, *cleared]:
        validator.validate(orjson.loads(event.to_json()))
    assert set(schema["required"]) == set(orjson.loads(raised[0].to_json()))


def test_extra_column_event_clears_when_the_column_is_gone() -> None:
    h = Hysteresis()
    extra = Violation(check="extra_column_check", feature="surprise", n_window=10, description="extra")
    with_extra = WindowEvaluation("calibrated", 10, 100, [], [extra],
                                  frozenset({("data_quality", "extra_column_check", "surprise")}), {}, 0.0)
    without = WindowEvaluation("calibrated", 10, 100, [], [], frozenset(), {}, 0.0)
    assert [e.status for e in events_from_evaluation(with_extra, h, "m1", WINDOW, "b1")] == ["raised"]
    assert [e.status for e in events_from_evaluation(without, h, "m2", WINDOW, "b1")] == []
    assert [(e.check, e.status) for e in events_from_evaluation(without, h, "m1", WINDOW, "b1")] == [
        ("extra_column_check", "cleared")]
