"""Drift events (the alerts-topic / events.jsonl record) and hysteresis.

One :class:`DriftEvent` per change of state of a (model, monitor, check, feature-or-metric) key:
``raised`` after ``raise_after`` consecutive violating windows, ``cleared`` after ``clear_after`` consecutive
clean windows. Every check the evaluation ran, data-quality checks included, goes through the same hysteresis
(keyed per check and feature), so a flapping completeness or domain check is damped exactly like drift.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, get_args

import orjson

from streamdrift.errors import SerializationError, StreamdriftError
from streamdrift.monitors.violations import MonitorName, Violation, split_subject

if TYPE_CHECKING:
    from streamdrift.monitors.base import MonitorResult

SCHEMA_VERSION = "1"
#: Events of one segment of the traffic carry ``segment``, new in 1.1 (a minor version: events of the whole stay
#: version 1 without the field, so consumers of 1 keep reading them).
SEGMENT_SCHEMA_VERSION = "1.1"
#: Events of a roll-up window (``window.rollups``: hours, days judged from the same partials) carry
#: ``window_seconds``, new in 1.2 (again a minor version: events of the base windows keep their version).
ROLLUP_SCHEMA_VERSION = "1.2"
SCHEMA_VERSIONS: frozenset[str] = frozenset({SCHEMA_VERSION, SEGMENT_SCHEMA_VERSION, ROLLUP_SCHEMA_VERSION})
Monitor = MonitorName
Severity = Literal["info", "warning", "critical"]
Status = Literal["raised", "cleared"]
HysteresisKey = tuple[str, str, str, str]  # (model_id, monitor, check, feature or metric)

_MONITORS: frozenset[str] = frozenset(get_args(Monitor))
_SEVERITIES: frozenset[str] = frozenset(get_args(Severity))
_STATUSES: frozenset[str] = frozenset(get_args(Status))


def rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with milliseconds and a ``Z`` suffix; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> str:
    return rfc3339(datetime.now(UTC))


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """Exactly the fields of ``schemas/drift_event.schema.json``."""

    model_id: str
    monitor: Monitor
    check: str
    window_start: str
    window_end: str
    status: Status
    severity: Severity
    n_window: int
    description: str
    model_version: str | None = None
    feature: str | None = None
    metric: str | None = None
    statistic: str | None = None
    value: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    n_baseline: int | None = None
    baseline_id: str | None = None
    partial: bool = False
    segment: str | None = None  # the slice of traffic (monitors/segments); None: the whole (schema 1.1)
    window_seconds: int | None = None  # a roll-up window's size (window.rollups); None: a base window (1.2)
    schema_version: str = SCHEMA_VERSION
    event_id: str = field(default_factory=_new_id)
    detected_at: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.monitor not in _MONITORS:
            raise SerializationError(f"drift event: unknown monitor {self.monitor!r}")
        if self.severity not in _SEVERITIES:
            raise SerializationError(f"drift event: unknown severity {self.severity!r}")
        if self.status not in _STATUSES:
            raise SerializationError(f"drift event: unknown status {self.status!r}")
        if self.schema_version not in SCHEMA_VERSIONS:
            raise SerializationError(f"drift event: schema_version {self.schema_version!r} is not one of "
                                     f"{sorted(SCHEMA_VERSIONS)}")
        if self.window_seconds is not None and self.schema_version != ROLLUP_SCHEMA_VERSION:
            object.__setattr__(self, "schema_version", ROLLUP_SCHEMA_VERSION)
        elif self.segment is not None and self.schema_version == SCHEMA_VERSION:
            object.__setattr__(self, "schema_version", SEGMENT_SCHEMA_VERSION)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.segment is None:  # an event of the whole is a version-1 event
            del data["segment"]
        if self.window_seconds is None:  # an event of a base window has no window size (1 / 1.1)
            del data["window_seconds"]
        return data

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftEvent:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise SerializationError(f"drift event: unknown fields {sorted(unknown)}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise SerializationError(f"drift event: {exc}") from exc

    @classmethod
    def from_json(cls, data: bytes | str) -> DriftEvent:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SerializationError(f"drift event: not JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise SerializationError("drift event: JSON is not an object")
        return cls.from_dict(parsed)


@dataclass(slots=True)
class _KeyState:
    raised: bool = False
    streak: int = 0  # consecutive windows disagreeing with the current state


class Hysteresis:
    """Per-key state machine: raise after ``raise_after`` drifted windows in a row, clear after ``clear_after``
    clean ones. ``observe`` returns the transition, if any; a key never seen starts clean."""

    def __init__(self, raise_after: int = 1, clear_after: int = 1) -> None:
        if raise_after < 1 or clear_after < 1:
            raise StreamdriftError(f"hysteresis counts must be >= 1 (raise_after={raise_after}, clear_after={clear_after})")
        self.raise_after = raise_after
        self.clear_after = clear_after
        self._states: dict[HysteresisKey, _KeyState] = {}

    def observe(self, key: HysteresisKey, drifted: bool) -> Status | None:
        state = self._states.get(key)
        if state is None:
            if not drifted:
                return None  # clean and unseen: nothing to remember
            state = self._states[key] = _KeyState()
        if drifted == state.raised:
            state.streak = 0
            return None
        state.streak += 1
        if state.raised and state.streak >= self.clear_after:
            del self._states[key]
            return "cleared"
        if not state.raised and state.streak >= self.raise_after:
            state.raised, state.streak = True, 0
            return "raised"
        return None

    def is_raised(self, key: HysteresisKey) -> bool:
        state = self._states.get(key)
        return state is not None and state.raised

    def raised_keys(self) -> list[HysteresisKey]:
        return sorted(k for k, s in self._states.items() if s.raised)

    def export(self, model_id: str) -> bytes:
        """The state of one model's keys (those not clean and unseen) as JSON, for :meth:`restore`."""
        keys = sorted([mon, check, subject, state.raised, state.streak]
                      for (mid, mon, check, subject), state in self._states.items() if mid == model_id)
        return orjson.dumps({"version": HYSTERESIS_FORMAT, "keys": keys})

    def restore(self, model_id: str, blob: bytes | None) -> None:
        """Replace one model's state by an :meth:`export` (None: every key clean), e.g. after a restart."""
        keys = _hysteresis_keys(blob) if blob is not None else []
        for key in [k for k in self._states if k[0] == model_id]:
            del self._states[key]
        for mon, check, subject, raised, streak in keys:
            self._states[(model_id, mon, check, subject)] = _KeyState(raised, streak)


HYSTERESIS_FORMAT = 1


def _hysteresis_keys(blob: bytes) -> list[tuple[str, str, str, bool, int]]:
    try:
        data = orjson.loads(blob)
        if not isinstance(data, dict) or data.get("version") != HYSTERESIS_FORMAT:
            raise SerializationError(f"hysteresis state: not format {HYSTERESIS_FORMAT}")
        out = []
        for mon, check, subject, raised, streak in data["keys"]:
            if not (all(isinstance(v, str) for v in (mon, check, subject)) and isinstance(raised, bool)
                    and isinstance(streak, int) and streak >= 0):
                raise SerializationError(f"hysteresis state: bad key {[mon, check, subject, raised, streak]!r}")
            out.append((mon, check, subject, raised, streak))
        return out
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SerializationError(f"hysteresis state: {exc}") from exc


class WindowBounds(Protocol):
    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def _bounds(window: WindowBounds | tuple[datetime, datetime]) -> tuple[str, str]:
    if isinstance(window, tuple):
        return rfc3339(window[0]), rfc3339(window[1])
    return rfc3339(window.start), rfc3339(window.end)


def _as_monitor(value: str) -> Monitor:
    if value not in _MONITORS:
        raise SerializationError(f"unknown monitor {value!r}")
    return cast("Monitor", value)


def _severity(violation: Violation) -> Severity:
    if violation.check == "missing_column_check":
        return "critical"
    if violation.value is not None and violation.threshold is not None and violation.threshold > 0:
        return "critical" if violation.value >= 2.0 * violation.threshold else "warning"
    return "warning"


def events_from_results(
    results: Sequence[MonitorResult],
    hysteresis: Hysteresis,
    model_id: str,
    window: WindowBounds | tuple[datetime, datetime],
    baseline_id: str | None,
    *,
    model_version: str | None = None,
    partial: bool = False,
    data_quality: bool = True,
    window_seconds: int | None = None,
) -> list[DriftEvent]:
    """Feed every check the monitors judged through ``hysteresis`` and return the state changes as events.

    A violated check counts as drifted, a check that ran clean as clean (it clears a raised alert).
    ``data_quality=False``: the data-quality checks did not run (the labels stage of a window), so none of their
    raised alerts is cleared. ``window_seconds``: the window is a roll-up of that size (its events say so). Event
    ids are deterministic (:func:`event_id`)."""
    start, end = _bounds(window)
    violations = {v.key: v for r in results for v in r.violations}
    measurements = {k: v for r in results for k, v in r.measurements.items()}
    sizes = {r.monitor: (r.n_window, r.n_baseline) for r in results}
    checked = {k for r in results for k in r.checked} | set(violations)
    # an extra column that is gone from the window passes its check (it is not listed as checked by name)
    if data_quality:
        checked |= {(_as_monitor(mon), check, subject) for mid, mon, check, subject in hysteresis.raised_keys()
                    if mid == model_id and check == "extra_column_check"}
    detected_at = _now()
    events: list[DriftEvent] = []
    for monitor, check, subject in sorted(checked):
        violation = violations.get((monitor, check, subject))
        transition = hysteresis.observe((model_id, monitor, check, subject), violation is not None)
        if transition is None:
            continue
        if violation is not None:
            event = DriftEvent(
                model_id=model_id, model_version=model_version, monitor=violation.monitor, check=check,
                feature=violation.feature, metric=violation.metric, segment=violation.segment,
                window_start=start, window_end=end,
                statistic=violation.statistic, value=violation.value, threshold=violation.threshold,
                p_value=violation.p_value, n_window=violation.n_window, n_baseline=violation.n_baseline,
                baseline_id=baseline_id, severity=_severity(violation), status=transition, partial=partial,
                description=violation.description, detected_at=detected_at,
            )
        else:
            m = measurements.get((monitor, check, subject))
            # data-quality checks name a feature (multivariate drift: a metric), other monitors a metric
            is_feature = m.feature is not None if m is not None else monitor == "data_quality"
            n_window, n_baseline = sizes.get(monitor, (0, None))
            name, segment = split_subject(subject)
            where = f" in segment {segment!r}" if segment is not None else ""
            event = DriftEvent(
                model_id=model_id, model_version=model_version, monitor=monitor, segment=segment,
                check=check, feature=name if is_feature else None, metric=None if is_feature else name,
                window_start=start, window_end=end,
                statistic=m.statistic if m else None, value=m.value if m else None,
                threshold=m.threshold if m else None, p_value=m.p_value if m else None,
                n_window=m.n_window if m else n_window, n_baseline=m.n_baseline if m else n_baseline,
                baseline_id=baseline_id, severity="info", status=transition, partial=partial,
                description=f"{check} on {name!r}{where} back within its constraint", detected_at=detected_at,
            )
        if window_seconds is not None:
            event = replace(event, window_seconds=window_seconds)
        events.append(replace(event, event_id=event_id(event)))
    return events


EVENT_NAMESPACE = uuid.UUID("6f6b0d55-3f7e-4d8c-9a40-5d1f1f3e2c11")


def event_id(event: DriftEvent) -> str:
    """Deterministic id: the same (model, window, monitor, check, subject, status) always gets the same id, so
    a window judged again (a replay, or ``check`` and the worker on the same rows) gives the same events."""
    subject = event.feature if event.feature is not None else (event.metric or "")
    parts = [event.model_id, event.window_start, event.monitor, event.check, subject, event.status]
    if event.segment is not None:  # events of the whole keep the ids they had before segments
        parts.append(f"segment={event.segment}")
    if event.window_seconds is not None:  # a roll-up may start where a base window starts: another id
        parts.append(f"window_seconds={event.window_seconds}")
    name = "|".join(parts)
    return str(uuid.uuid5(EVENT_NAMESPACE, name))
