"""Drift over time: what the report keeps of each judged window to chart it across a span (a few numbers per
feature, no profile), and the order of the features.

A :class:`WindowSummary` holds, per tested feature, the drift statistic, its threshold and the verdict of that
window, the drift alerts the window's events raised or cleared, and the model's accuracy-like metrics (the
label-free estimate with its standard error, the realised value once the labels came). ``streamdrift report``
keeps one per window of the file (or of the stored windows, ``--from-history``); the control plane keeps a
bounded ring of the last ``history.report_windows`` per model for ``/report/<model>``
(:mod:`streamdrift.worker.record`). The charts are drawn by :mod:`streamdrift.report.timecharts`.

Features are sorted by **how long they drifted**: the summed duration of the windows whose verdict was drift,
then by the number of alerts raised, then by the largest value / threshold, then by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamdrift.events.events import DriftEvent
from streamdrift.monitors.data_quality.evaluation import WindowEvaluation

__all__ = ["DRIFT_CHECKS", "FeaturePoint", "QualityPoint", "WindowSummary", "drifted_ms", "feature_order",
           "summarize", "with_alerts", "with_realised"]

# the checks of a feature's drift whose events the charts mark: against the baseline, and against the rolling,
# previous-window and same-hour-last-week references (docs/history.md)
DRIFT_CHECKS: frozenset[str] = frozenset({"baseline_drift_check", "rolling_drift_check", "previous_window_drift_check",
                                          "last_week_drift_check"})


@dataclass(frozen=True, slots=True)
class FeaturePoint:
    """One feature in one window: the drift statistic, its threshold and the verdict."""

    statistic: str
    value: float
    threshold: float
    drifted: bool


@dataclass(frozen=True, slots=True)
class QualityPoint:
    """One model-quality metric in one window: the label-free estimate (with its standard error) and the realised
    value, each when present."""

    estimated: float | None = None
    standard_error: float | None = None
    realised: float | None = None


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """What the drift-over-time charts need of one judged window."""

    start_ms: int
    end_ms: int
    label: str
    n_records: int
    features: Mapping[str, FeaturePoint]
    # feature -> the statuses of its drift events in this window ("raised", "cleared"), by check
    alerts: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    quality: Mapping[str, QualityPoint] = field(default_factory=dict)  # metric -> estimate / realised
    partial: bool = False

    @property
    def duration_ms(self) -> int:
        return max(0, self.end_ms - self.start_ms)


def _floats(section: Mapping[str, Any] | None, key: str) -> dict[str, float]:
    values = (section or {}).get(key) or {}
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _quality(label_free: Mapping[str, Mapping[str, Any]], realised: Mapping[str, float]) -> dict[str, QualityPoint]:
    estimated = label_free.get("estimated_performance")
    metrics, errors = _floats(estimated, "metrics"), _floats(estimated, "standard_errors")
    out = {m: QualityPoint(v, errors.get(m), realised.get(m)) for m, v in metrics.items()}
    for m, v in realised.items():
        if m not in out:
            out[m] = QualityPoint(realised=v)
    return out


def summarize(start_ms: int, end_ms: int, label: str, n_records: int, evaluation: WindowEvaluation | None,
              events: Iterable[DriftEvent] = (), label_free: Mapping[str, Mapping[str, Any]] | None = None,
              realised: Mapping[str, float] | None = None, partial: bool = False) -> WindowSummary:
    """A window's summary from its data-quality evaluation, its events, its label-free monitors' summaries (by
    kind) and its realised model-quality metrics."""
    features = {} if evaluation is None else {
        r.feature: FeaturePoint(r.statistic, float(r.value), float(r.threshold), bool(r.drifted))
        for r in evaluation.results}
    alerts: dict[str, list[tuple[str, str]]] = {}
    for e in events:
        if e.feature is not None and e.check in DRIFT_CHECKS:
            alerts.setdefault(e.feature, []).append((e.check, e.status))
    return WindowSummary(start_ms, end_ms, label, n_records, features, {k: tuple(v) for k, v in alerts.items()},
                         _quality(label_free or {}, realised or {}), partial)


def with_realised(summary: WindowSummary, realised: Mapping[str, float]) -> WindowSummary:
    """The summary with the realised metrics of its labels stage (which comes up to ``labels.delay`` later)."""
    quality = dict(summary.quality)
    for metric, value in realised.items():
        quality[metric] = dataclasses.replace(quality.get(metric, QualityPoint()), realised=value)
    return dataclasses.replace(summary, quality=quality)


def with_alerts(summary: WindowSummary, earlier: Mapping[str, tuple[tuple[str, str], ...]]) -> WindowSummary:
    """The summary with the alerts of an earlier judging of the same window added (each once)."""
    alerts = {name: tuple(dict.fromkeys((*earlier.get(name, ()), *summary.alerts.get(name, ()))))
              for name in {*earlier, *summary.alerts}}
    return dataclasses.replace(summary, alerts=alerts)


def feature_order(summaries: Sequence[WindowSummary]) -> list[str]:
    """The features of ``summaries``, longest drifted first (see the module docs)."""
    drifted: dict[str, int] = {}
    raised: dict[str, int] = {}
    excess: dict[str, float] = {}
    for s in summaries:
        for name, p in s.features.items():
            drifted[name] = drifted.get(name, 0) + ((s.duration_ms or 1) if p.drifted else 0)
            ratio = p.value / p.threshold if p.threshold > 0 else p.value
            excess[name] = max(excess.get(name, float("-inf")), ratio)
        for name, statuses in s.alerts.items():
            raised[name] = raised.get(name, 0) + sum(1 for _, status in statuses if status == "raised")
            drifted.setdefault(name, 0)
            excess.setdefault(name, float("-inf"))
    return sorted(drifted, key=lambda n: (-drifted[n], -raised.get(n, 0), -excess[n], n))


def drifted_ms(summaries: Sequence[WindowSummary], feature: str) -> int:
    """How long ``feature`` drifted over ``summaries`` (the summed duration of its drifted windows)."""
    return sum(s.duration_ms for s in summaries if (p := s.features.get(feature)) is not None and p.drifted)
