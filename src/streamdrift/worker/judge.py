"""Evaluate a merged window against the model's baseline: drift events, metrics, status."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

from streamdrift.baseline.baseline import Baseline
from streamdrift.errors import SerializationError
from streamdrift.events.events import DriftEvent, Hysteresis, events_from_evaluation, rfc3339
from streamdrift.metrics import Metrics
from streamdrift.monitors.data_quality.evaluation import (
    EvaluationConfig,
    PreparedBaseline,
    WindowEvaluation,
    evaluate,
    prepare,
)
from streamdrift.report.html import ReportWindow
from streamdrift.settings import Settings
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.partials import LABELS
from streamdrift.worker.judge_monitors import MonitorJudge, MonitorOutcome
from streamdrift.worker.status import StatusStore

EVENT_NAMESPACE = uuid.UUID("6f6b0d55-3f7e-4d8c-9a40-5d1f1f3e2c11")
HYSTERESIS_PREFIX = "h|"  # state key of a model's hysteresis: h|<model>

log = logging.getLogger(__name__)


def event_id(event: DriftEvent) -> str:
    """Deterministic id: the same (model, window, monitor, check, subject, status) always gets the same id."""
    subject = event.feature if event.feature is not None else (event.metric or "")
    name = "|".join((event.model_id, event.window_start, event.monitor, event.check, subject, event.status))
    return str(uuid.uuid5(EVENT_NAMESPACE, name))


def evaluation_config(settings: Settings) -> EvaluationConfig:
    e = settings.evaluation
    return EvaluationConfig(
        method=e.method,
        alpha=e.alpha,
        correction=e.correction,
        effect_size_floor=e.effect_size_floor,
        statistic=e.statistic,
        min_window_records=e.min_window_records,
    )


_CLEAN = Hysteresis().export("")  # the export of a model whose every key is clean


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class WindowJudge:
    """One per control plane: holds the hysteresis state of every (model, monitor, check, subject)."""

    def __init__(
        self, settings: Settings, metrics: Metrics, status: StatusStore, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = evaluation_config(settings)
        self._hysteresis = Hysteresis(settings.evaluation.raise_after, settings.evaluation.clear_after)
        self._metrics = metrics
        self._status = status
        self._clock = clock
        self._monitors = MonitorJudge(settings, metrics)
        self._prepared: dict[str, PreparedBaseline] = {}  # model -> its current baseline, prepared once
        self._recalled: set[str] = set()  # models whose hysteresis was read from their state since forget()
        self.last_report: dict[str, tuple[Baseline, ReportWindow]] = {}  # model -> last evaluated window

    def _prepare(self, model_id: str, baseline: Baseline) -> PreparedBaseline:
        """``evaluation.prepare`` once per baseline (immutable): about half of a window's evaluation time."""
        hit = self._prepared.get(model_id)
        if hit is None or hit.baseline is not baseline:
            hit = self._prepared[model_id] = prepare(baseline)
        return hit

    def judge(self, window: ReadyWindow, baseline: Baseline | None,
              state: Mapping[str, bytes] | None = None) -> list[DriftEvent]:
        """The window's drift events (raised / cleared through the hysteresis), metrics and status entry.

        ``state``: where the hysteresis of the window's model persists (``h|<model>``; the control plane's
        changelogged table, so a restarted or rebalanced control plane goes on where it stood: no alert raised
        twice, none left uncleared). Read before the model's first window after :meth:`forget`; the caller
        writes it back with :meth:`remember` once the events are out. None: in memory only."""
        if state is not None and window.model_id not in self._recalled:
            self._recall(window.model_id, state.get(HYSTERESIS_PREFIX + window.model_id))
        return self._judge(window, baseline)

    def remember(self, model_id: str, state: MutableMapping[str, bytes]) -> None:
        """Write the model's hysteresis to ``state`` if it changed. After its window's events were sent: a crash
        in between replays the window against the old state and sends the same events (same ids) again,
        rather than finding the new state and sending nothing."""
        key = HYSTERESIS_PREFIX + model_id
        blob = self._hysteresis.export(model_id)
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
            self._hysteresis.restore(model_id, blob)
        except SerializationError as exc:
            log.error("hysteresis state of %s unreadable, starting clean: %s", model_id, exc)
            self._hysteresis.restore(model_id, None)
        self._recalled.add(model_id)

    def _judge(self, window: ReadyWindow, baseline: Baseline | None) -> list[DriftEvent]:
        if window.stage == LABELS:
            return self._judge_labels(window, baseline)
        m, now = self._metrics, self._clock()
        m.window_evaluated(window.model_id, partial=window.partial)
        m.set_last_window_end(window.model_id, window.window_end_ms)
        m.observe_merge_wait(max(0.0, now - window.first_seen_ms / 1000))
        status = self._status.model(window.model_id)
        summary: dict[str, Any] = {
            "window_start": rfc3339(_ms_to_dt(window.window_start_ms)),
            "window_end": rfc3339(_ms_to_dt(window.window_end_ms)),
            "n_records": window.n_records,
            "partial": window.partial,
            "partitions_closed": sorted(window.partitions_closed),
        }
        monitors = self._monitors.judge(window, baseline)
        summary.update(monitors.status)
        if baseline is None:
            status.baseline_id = None
            status.windows.append({**summary, "evaluated": False, "reason": "no baseline"})
            return []
        evaluation = evaluate(window.profile, self._prepare(window.model_id, baseline), self._config)
        # the other monitors' checks count as run in this window (a clean one clears a raised alert)
        combined = dataclasses.replace(evaluation, checked=evaluation.checked | monitors.checked)
        bounds = (_ms_to_dt(window.window_start_ms), _ms_to_dt(window.window_end_ms))
        events = events_from_evaluation(
            combined,
            self._hysteresis,
            window.model_id,
            bounds,
            baseline.baseline_id,
            model_version=window.model_version,
            partial=window.partial,
            extra_violations=monitors.violations,
        )
        events = [dataclasses.replace(e, event_id=event_id(e)) for e in events]
        self._record(window, baseline, evaluation, events, summary)
        self._keep_report(window, baseline, evaluation, monitors, summary)
        return events

    def _judge_labels(self, window: ReadyWindow, baseline: Baseline | None) -> list[DriftEvent]:
        """The labels stage of a window (model quality, once its late labels had their time): events through
        the same hysteresis; the window's status entry gets the ``model_quality`` section."""
        # the labels stage is open for labels.delay by design: its merge wait counts from the first close
        since = window.closing_since_ms if window.closing_since_ms is not None else window.first_seen_ms
        self._metrics.observe_merge_wait(max(0.0, self._clock() - since / 1000))
        monitors = self._monitors.judge(window, baseline)
        status = self._status.model(window.model_id)
        start = rfc3339(_ms_to_dt(window.window_start_ms))
        entry = next((w for w in status.windows if w.get("window_start") == start), None)
        if entry is None:  # the data stage's entry left the status already (or was never there)
            entry = {"window_start": start, "window_end": rfc3339(_ms_to_dt(window.window_end_ms))}
            status.quality_windows.append(entry)
        entry.update(monitors.status)
        entry["labels_partial"] = window.partial
        report = self.last_report.get(window.model_id)
        if report is not None and report[1].label.startswith(start):
            self.last_report[window.model_id] = (
                report[0], dataclasses.replace(report[1], model_quality=monitors.quality_metrics))
        if baseline is None:
            return []
        empty = WindowEvaluation("calibrated", 0, 0, [], [], frozenset(), {}, 0.0)
        bounds = (_ms_to_dt(window.window_start_ms), _ms_to_dt(window.window_end_ms))
        events = events_from_evaluation(
            dataclasses.replace(empty, checked=frozenset(monitors.checked)), self._hysteresis, window.model_id,
            bounds, baseline.baseline_id, model_version=window.model_version, partial=window.partial,
            extra_violations=monitors.violations, data_quality=False,
        )
        events = [dataclasses.replace(e, event_id=event_id(e)) for e in events]
        for e in events:
            self._metrics.alert(window.model_id, e.monitor, e.check, e.status)
        status.raised = self._raised(window.model_id)
        return events

    def _raised(self, model: str) -> list[dict[str, str]]:
        return [
            {"monitor": mon, "check": check, "subject": subject}
            for (mid, mon, check, subject) in self._hysteresis.raised_keys()
            if mid == model
        ]

    def _keep_report(self, window: ReadyWindow, baseline: Baseline, evaluation: WindowEvaluation,
                     monitors: MonitorOutcome, summary: dict[str, Any]) -> None:
        label = f"{summary['window_start']} .. {summary['window_end']} ({window.n_records} records)"
        self.last_report[window.model_id] = (
            baseline, ReportWindow(label, window.profile, evaluation, monitors.quality_metrics)
        )

    def _record(
        self,
        window: ReadyWindow,
        baseline: Baseline,
        evaluation: WindowEvaluation,
        events: list[DriftEvent],
        summary: dict[str, Any],
    ) -> None:
        m, model = self._metrics, window.model_id
        created = datetime.fromisoformat(baseline.created_at.replace("Z", "+00:00")).timestamp()
        m.set_baseline_age(model, max(0.0, self._clock() - created))
        for r in evaluation.results:
            m.set_drift(model, r.feature, r.statistic, r.value, r.threshold)
            m.set_drift_state(model, "data_quality", r.feature, r.drifted)
        for e in events:
            m.alert(model, e.monitor, e.check, e.status)
            if e.status == "raised":
                m.observe_alert_latency(max(0.0, self._clock() - window.window_end_ms / 1000))
        status = self._status.model(model)
        status.baseline_id = baseline.baseline_id
        status.windows.append({**summary, "evaluated": True, **evaluation.to_dict()})
        status.raised = self._raised(model)
