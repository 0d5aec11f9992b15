"""Judge a merged window with its model's monitors and turn the results into drift events (pure: no Kafka, no
files, no metrics; the worker's control plane and ``streamdrift check`` both call it).

A window is released twice (:mod:`streamdrift.window.merger`): its data stage is judged by the model's data
monitors (the data-quality profile, bias, attribution), its labels stage by the labels monitors (model
quality). Every judged check goes through the one :class:`~streamdrift.events.events.Hysteresis` per judge, keyed
by (model, monitor, check, subject), so an alert is raised and cleared alike whichever path saw the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamdrift.errors import SerializationError, StreamdriftError
from streamdrift.events.events import DriftEvent, Hysteresis, events_from_results, rfc3339
from streamdrift.monitors.base import DATA, MonitorResult
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig, WindowEvaluation
from streamdrift.monitors.data_quality.monitor import NAME as DATA_QUALITY
from streamdrift.monitors.data_quality.monitor import DataQualityMonitor
from streamdrift.monitors.reference import ReferenceWindows
from streamdrift.monitors.registry import AnyMonitor, ModelMonitors
from streamdrift.monitors.violations import split_subject
from streamdrift.window.merger import ReadyWindow

HYSTERESIS_PREFIX = "h|"  # state key of a model's hysteresis: h|<model>
_CLEAN = Hysteresis().export("")  # the export of a model whose every key is clean

log = logging.getLogger(__name__)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class JudgedWindow:
    """One released window (stage) judged: its events and each monitor's result."""

    window: ReadyWindow
    baseline_id: str | None
    events: list[DriftEvent]
    results: dict[str, MonitorResult]
    errors: dict[str, str] = field(default_factory=dict)  # monitor -> why it was not judged

    @property
    def evaluation(self) -> WindowEvaluation | None:
        """The data-quality evaluation (data stage with a baseline)."""
        result = self.results.get(DATA_QUALITY)
        return result.details if result is not None and isinstance(result.details, WindowEvaluation) else None

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return ms_to_datetime(self.window.window_start_ms), ms_to_datetime(self.window.window_end_ms)

    def summary(self) -> dict[str, Any]:
        """The window's status entry: bounds, records, and each monitor's summary by name."""
        start, end = self.bounds
        out: dict[str, Any] = {"window_start": rfc3339(start), "window_end": rfc3339(end),
                               "n_records": self.window.n_records, "partial": self.window.partial,
                               "partitions_closed": sorted(self.window.partitions_closed)}
        for name, result in self.results.items():
            if name != DATA_QUALITY:  # the data-quality evaluation is the entry itself (see the recorder)
                out[name] = result.summary
        for name, error in self.errors.items():
            out[name] = {"error": error}
        return out


def _state(monitor: AnyMonitor, window: ReadyWindow) -> Any:
    """The monitor's merged state of the window, or None when no partition sent one."""
    if monitor.name == DATA_QUALITY:
        return window.profile
    blobs = window.extras.get(monitor.name)
    if not blobs:
        return None
    state = monitor.read_state(blobs[0])
    for blob in blobs[1:]:  # the merge kept apart what it could not fold: this raises the reason
        state = state.merge(monitor.read_state(blob))
    return state


class WindowJudge:
    """Judges windows and holds the hysteresis state of every (model, monitor, check, subject); with
    ``references``, a data stage is also judged against its model's rolling reference and previous window
    (:mod:`streamdrift.monitors.reference`), then kept for the next windows' references. ``window_seconds``:
    this judge judges roll-up windows of that size (``window.rollups``, :mod:`streamdrift.window.rollups`): its
    events carry the size, and its hysteresis is its own (a roll-up alert neither raises nor clears a base
    window's)."""

    def __init__(self, hysteresis: Hysteresis, references: ReferenceWindows | None = None, *,
                 window_seconds: int | None = None) -> None:
        self.hysteresis = hysteresis
        self.references = references
        self.window_seconds = window_seconds
        self._recalled: set[str] = set()  # models whose hysteresis was read from their state since forget()

    def judge(self, window: ReadyWindow, monitors: ModelMonitors,
              state: Mapping[str, bytes] | None = None) -> JudgedWindow:
        """The window's results and events. ``state``: where the model's hysteresis persists (``h|<model>``;
        the control plane's changelogged table, so a restarted or rebalanced control plane goes on where it
        stood); read before the model's first window after :meth:`forget`. None: in memory only."""
        if state is not None and window.model_id not in self._recalled:
            self._recall(window.model_id, state.get(HYSTERESIS_PREFIX + window.model_id))
        results: dict[str, MonitorResult] = {}
        errors: dict[str, str] = dict(monitors.errors) if window.stage == DATA else {}
        for monitor in monitors.stage(window.stage):
            try:
                merged = _state(monitor, window)
                if merged is not None:
                    results[monitor.name] = monitor.judge(merged)
            except StreamdriftError as exc:
                log.error("%s of %s@%d not judged: %s", monitor.name, window.model_id, window.window_start_ms, exc)
                errors[monitor.name] = str(exc)
        if window.stage == DATA and self.references is not None and monitors.baseline is not None:
            dq = monitors.get(DATA_QUALITY)
            config = dq.config if isinstance(dq, DataQualityMonitor) else EvaluationConfig()
            results.update(self.references.judge(window.model_id, window.window_start_ms, window.profile,
                                                 monitors.baseline, config))
            self.references.add(window.model_id, window.window_start_ms, window.profile)
        start, end = ms_to_datetime(window.window_start_ms), ms_to_datetime(window.window_end_ms)
        events = [] if monitors.baseline is None else events_from_results(
            list(results.values()), self.hysteresis, window.model_id, (start, end), monitors.baseline_id,
            model_version=window.model_version, partial=window.partial, data_quality=window.stage == DATA,
            window_seconds=self.window_seconds,
        )
        return JudgedWindow(window, monitors.baseline_id, events, results, errors)

    def raised(self, model: str) -> list[dict[str, str]]:
        out = []
        for mid, mon, check, key in self.hysteresis.raised_keys():
            if mid == model:
                subject, segment = split_subject(key)
                out.append({"monitor": mon, "check": check, "subject": subject,
                            **({"segment": segment} if segment is not None else {})})
        return out

    # ------------------------------------------------------------ persistence (the control plane's table)

    def remember(self, model_id: str, state: MutableMapping[str, bytes]) -> None:
        """Write the model's hysteresis to ``state`` if it changed. After its window's events were sent: a crash
        in between replays the window against the old state and sends the same events (same ids) again,
        rather than finding the new state and sending nothing."""
        key = HYSTERESIS_PREFIX + model_id
        blob = self.hysteresis.export(model_id)
        if blob != state.get(key, _CLEAN):
            if blob == _CLEAN:
                del state[key]
            else:
                state[key] = blob

    def forget(self) -> None:
        """Partitions were reassigned: read each model's hysteresis from its state again before its next window
        (another control plane may have judged it meanwhile)."""
        self._recalled.clear()

    def _recall(self, model_id: str, blob: bytes | None) -> None:
        try:
            self.hysteresis.restore(model_id, blob)
        except SerializationError as exc:
            log.error("hysteresis state of %s unreadable, starting clean: %s", model_id, exc)
            self.hysteresis.restore(model_id, None)
        self._recalled.add(model_id)
