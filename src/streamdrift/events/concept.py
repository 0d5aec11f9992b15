"""Drift events of the data plane's fast concept-drift detector (ADWIN on the joined error stream)."""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from streamdrift.events.events import DriftEvent, rfc3339
from streamdrift.monitors.model_quality.concept import ConceptDriftConfig, ConceptDriftMonitor, DriftSignal
from streamdrift.window.labels import ErrorStream

CONCEPT_CHECK = "concept_drift_check"
_NAMESPACE = uuid.UUID("0b5c3c1e-6a57-4f0e-9d55-2f4f0bb7f0a1")


def _iso(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, tz=UTC))


def concept_event(model_id: str, window_start_ms: int, window_end_ms: int, signal: DriftSignal,
                  baseline_id: str | None) -> DriftEvent:
    """A ``raised`` model-quality event for one ADWIN signal; the window is the one of the record that tipped it.

    The event id is deterministic (model, record position, window) so a replay after an abort produces the same id.
    """
    before = signal.error_before if math.isfinite(signal.error_before) else None
    after = signal.error_after if math.isfinite(signal.error_after) else None
    name = f"{model_id}|{window_start_ms}|{signal.record}|{CONCEPT_CHECK}"
    return DriftEvent(
        model_id=model_id, monitor="model_quality", check=CONCEPT_CHECK, metric="error_rate",
        statistic=signal.detector, value=after, threshold=before, window_start=_iso(window_start_ms),
        window_end=_iso(window_end_ms), status="raised", severity="warning", n_window=signal.record + 1,
        baseline_id=baseline_id, event_id=str(uuid.uuid5(_NAMESPACE, name)),
        description=(f"{signal.detector} detected a change in the error rate of {model_id}: "
                     f"{_fmt(before)} -> {_fmt(after)} after {signal.record + 1} labelled records"),
    )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


class ConceptTracker:
    """One ADWIN detector per model over its joined error stream; the detectors roll back with an aborted
    transaction (:meth:`commit` / :meth:`rollback`), so a replay signals at the same records."""

    def __init__(self, config: ConceptDriftConfig, size_ms: int, baseline_id: Callable[[str], str | None]) -> None:
        self._config = config
        self._size_ms = size_ms
        self._baseline_id = baseline_id
        self._live: dict[str, ConceptDriftMonitor] = {}
        self._committed: dict[str, ConceptDriftMonitor] = {}

    def update(self, streams: list[ErrorStream]) -> list[DriftEvent]:
        events = []
        for stream in streams:
            monitor = self._live.get(stream.model_id)
            if monitor is None:
                monitor = self._live[stream.model_id] = ConceptDriftMonitor(self._config)
            for signal in monitor.update(stream.errors):
                start = int(stream.window_starts[signal.index])
                events.append(concept_event(stream.model_id, start, start + self._size_ms, signal,
                                            self._baseline_id(stream.model_id)))
        return events

    def commit(self) -> None:
        self._committed = copy.deepcopy(self._live)

    def rollback(self) -> None:
        self._live = copy.deepcopy(self._committed)
