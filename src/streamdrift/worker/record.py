"""What the control plane keeps of each judged window: Prometheus series, the ``/status`` entries and the last
window of each model for ``/report/<model>``, with the drift-over-time summaries of its last
``history.report_windows`` windows (a bounded ring per model, in memory: empty again after a restart; the
profiles topic and ``streamdrift report --from-history`` hold the longer view)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from streamdrift.baseline.baseline import Baseline
from streamdrift.events.events import rfc3339
from streamdrift.events.judge import JudgedWindow, WindowJudge, ms_to_datetime
from streamdrift.metrics import Metrics
from streamdrift.monitors.base import DATA
from streamdrift.monitors.estimated_performance.monitor import NAME as ESTIMATED
from streamdrift.monitors.estimated_performance.monitor import side_by_side
from streamdrift.monitors.model_quality.monitor import NAME as MODEL_QUALITY
from streamdrift.monitors.multivariate.monitor import NAME as MULTIVARIATE
from streamdrift.monitors.registry import ModelMonitors
from streamdrift.monitors.segments.monitor import NAME as SEGMENTS
from streamdrift.report.html import ReportWindow
from streamdrift.report.timeseries import WindowSummary, summarize, with_alerts, with_realised
from streamdrift.worker.status import StatusStore


class WindowRecorder:
    """Records judged windows into the metrics, the status store and the report cache."""

    def __init__(self, judge: WindowJudge, metrics: Metrics, status: StatusStore,
                 clock: Callable[[], float] = time.time, keep_windows: int = 288) -> None:
        self._judge = judge
        self._metrics = metrics
        self._status = status
        self._clock = clock
        self.last_report: dict[str, tuple[Baseline, ReportWindow]] = {}  # model -> last evaluated window
        self._keep = keep_windows
        self.over_time: dict[str, deque[WindowSummary]] = {}  # model -> its last keep_windows evaluated windows

    def record(self, judged: JudgedWindow, monitors: ModelMonitors) -> None:
        window, model = judged.window, judged.window.model_id
        m, now = self._metrics, self._clock()
        for name, result in judged.results.items():
            monitor = monitors.get(name)
            if monitor is not None:
                monitor.publish(result, m, model)
        for e in judged.events:
            m.alert(model, e.monitor, e.check, e.status)
            if e.status == "raised" and window.stage == DATA:
                m.observe_alert_latency(max(0.0, now - window.window_end_ms / 1000))
        status = self._status.model(model)
        if window.stage == DATA:
            self._record_data(judged, monitors, now)
        else:
            self._record_labels(judged)
        status.raised = self._judge.raised(model)

    def _record_data(self, judged: JudgedWindow, monitors: ModelMonitors, now: float) -> None:
        window, model, m = judged.window, judged.window.model_id, self._metrics
        m.window_evaluated(model, partial=window.partial)
        m.set_last_window_end(model, window.window_end_ms)
        m.observe_merge_wait(max(0.0, now - window.first_seen_ms / 1000))
        status = self._status.model(model)
        baseline = monitors.baseline
        summary = judged.summary()
        status.baseline_id = judged.baseline_id
        if baseline is None:
            status.windows.append({**summary, "evaluated": False, "reason": "no baseline"})
            return
        created = datetime.fromisoformat(baseline.created_at.replace("Z", "+00:00")).timestamp()
        m.set_baseline_age(model, max(0.0, now - created))
        evaluation = judged.evaluation
        status.windows.append({**summary, "evaluated": evaluation is not None,
                               **(evaluation.to_dict() if evaluation is not None else {})})
        if evaluation is not None:
            label = f"{summary['window_start']} .. {summary['window_end']} ({window.n_records} records)"
            label_free = {k: r.summary for k, r in judged.results.items()
                          if k in (ESTIMATED, MULTIVARIATE, SEGMENTS)}
            self.last_report[model] = (baseline, ReportWindow(label, window.profile, evaluation, {}, label_free))
            ring = self.over_time.setdefault(model, deque(maxlen=self._keep))
            entry = summarize(window.window_start_ms, window.window_end_ms, summary["window_start"],
                              window.n_records, evaluation, judged.events, label_free, partial=window.partial)
            if ring and ring[-1].start_ms == window.window_start_ms:
                # judged again (faust replayed it after a rebalance): its alerts are those sent either time (the
                # replay sends none that the first judging's table state already recorded)
                entry = with_alerts(entry, ring.pop().alerts)
            ring.append(entry)

    def _record_labels(self, judged: JudgedWindow) -> None:
        """The labels stage of a window (model quality, once its late labels had their time): the window's
        status entry gets the ``model_quality`` section; its merge wait counts from the first close (the stage
        stays open for labels.delay by design)."""
        window, model = judged.window, judged.window.model_id
        since = window.closing_since_ms if window.closing_since_ms is not None else window.first_seen_ms
        self._metrics.observe_merge_wait(max(0.0, self._clock() - since / 1000))
        status = self._status.model(model)
        start = rfc3339(ms_to_datetime(window.window_start_ms))
        entry: dict[str, Any] | None = next((w for w in status.windows if w.get("window_start") == start), None)
        if entry is None:  # the data stage's entry left the status already (or was never there)
            entry = {"window_start": start, "window_end": rfc3339(ms_to_datetime(window.window_end_ms))}
            status.quality_windows.append(entry)
        for name, result in judged.results.items():
            entry[name] = result.summary
        for name, error in judged.errors.items():
            entry[name] = {"error": error}
        entry["labels_partial"] = window.partial
        estimated, realised = entry.get(ESTIMATED), entry.get(MODEL_QUALITY)
        if isinstance(estimated, dict) and isinstance(realised, dict):
            entry["estimated_vs_realised"] = side_by_side(estimated, realised)
        quality = judged.results.get(MODEL_QUALITY)
        report = self.last_report.get(model)
        metrics = {k: v for k, v in (quality.summary.get("metrics", {}) if quality is not None else {}).items()
                   if isinstance(v, float)}
        ring = self.over_time.get(model)
        for i in range(len(ring) - 1 if ring is not None else -1, -1, -1):
            if ring is not None and ring[i].start_ms == window.window_start_ms:
                ring[i] = with_realised(ring[i], metrics)
                break
        if quality is not None and report is not None and report[1].label.startswith(start):
            self.last_report[model] = (report[0], ReportWindow(report[1].label, report[1].profile,
                                                               report[1].evaluation, metrics,
                                                               report[1].label_free))
