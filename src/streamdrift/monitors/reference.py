"""References beside the fixed baseline: a **rolling reference** (the model's last N windows merged) and the
**previous window**, each judged with the data-quality drift tests of the one core
(:func:`~streamdrift.monitors.data_quality.evaluation.evaluate`) under its own check name, so an alert says
which reference moved:

- ``rolling_drift_check``: the window against the merge of the model's last ``rolling_windows`` windows (fewer
  while fewer were judged);
- ``previous_window_drift_check``: the window against the model's window judged before it (the last one with
  records, however long ago);
- ``last_week_drift_check``: the window against the merge of the model's windows in the same hour a week
  before (UTC hours; none when that hour had no window).

A reference is just another baseline profile: the fixed baseline's document with its profile replaced by the
merged windows (its constraints: types, drift thresholds, skipped features, the evaluation method), so the same
features are tested with the same rules. Only the drift tests count (the fixed baseline's data-quality checks
are its own business). Memory: the last ``rolling_windows`` (at least one) window profiles of each model that has
a reference, each a window's size on the profiles topic (docs/history.md's sizing), plus the rolling merge's
suffixes; with ``same_hour_last_week``, one merged profile per hour of the last week (169 per model). The control plane fills them
again from the profiles topic at its start (:mod:`streamdrift.worker.references`), so a restart keeps them.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from streamdrift.baseline.document import Baseline
from streamdrift.errors import StreamdriftError
from streamdrift.monitors.base import MonitorResult
from streamdrift.monitors.data_quality.evaluation import (
    EvaluationConfig,
    FeatureResult,
    drift_measurement,
    evaluate,
)
from streamdrift.monitors.violations import CheckKey, Violation
from streamdrift.profile.profiles import DatasetProfile

__all__ = ["LAST_WEEK", "LAST_WEEK_CHECK", "PREVIOUS", "PREVIOUS_CHECK", "ROLLING", "ROLLING_CHECK",
           "ReferenceConfig", "ReferenceWindows"]

ROLLING: Final = "rolling_reference"  # the result's name (JudgedWindow.results, /status)
PREVIOUS: Final = "previous_window"
LAST_WEEK: Final = "same_hour_last_week"
LAST_WEEK_CHECK: Final = "last_week_drift_check"
HOUR_MS: Final = 3_600_000
WEEK_MS: Final = 7 * 24 * HOUR_MS
ROLLING_CHECK: Final = "rolling_drift_check"
PREVIOUS_CHECK: Final = "previous_window_drift_check"


@dataclass(frozen=True)
class ReferenceConfig:
    """Which references judge a model's windows beside its baseline (``history.rolling_windows``,
    ``history.previous_window``, ``history.reference_models``)."""

    rolling_windows: int = 0  # 0: no rolling reference
    previous_window: bool = False
    models: frozenset[str] = frozenset()  # the models that have them; empty: every model
    same_hour_last_week: bool = False

    @property
    def enabled(self) -> bool:
        return self.rolling_windows > 0 or self.previous_window or self.same_hour_last_week

    @property
    def keep(self) -> int:
        """Window profiles kept per model."""
        return max(self.rolling_windows, 1 if self.previous_window else 0)

    def applies(self, model_id: str) -> bool:
        return self.enabled and (not self.models or model_id in self.models)


class _RollingMerge:
    """The merge of the last ``n`` profiles as a two-stack queue: ``front`` holds the merges of the oldest
    block's suffixes (``front[-1]``: the whole block that is left), ``back`` the merge of the newer ones, so a
    window costs about three merges on average instead of ``n`` (the block is merged again once per ``n``
    windows). Memory: up to ``n`` suffix merges beside the ``n`` windows."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.front: list[DatasetProfile] = []
        self.back_items: list[DatasetProfile] = []
        self.back: DatasetProfile | None = None

    def __len__(self) -> int:
        return len(self.front) + len(self.back_items)

    def append(self, profile: DatasetProfile) -> None:
        self.back_items.append(profile)
        self.back = profile.copy() if self.back is None else self.back.merge(profile)
        if len(self) > self.n:
            if not self.front:
                self._flip()
            self.front.pop()

    def _flip(self) -> None:
        suffix: DatasetProfile | None = None
        for profile in reversed(self.back_items):
            suffix = profile.copy() if suffix is None else profile.copy().merge(suffix)
            self.front.append(suffix)
        self.back_items, self.back = [], None

    def merged(self) -> DatasetProfile:
        parts = [p for p in (self.front[-1] if self.front else None, self.back) if p is not None]
        out = parts[0].copy()
        for p in parts[1:]:
            out.merge(p)
        return out


class ReferenceWindows:
    """The last window profiles of each model (bounded), and the window judged against the references they make."""

    def __init__(self, config: ReferenceConfig) -> None:
        self.config = config
        self._windows: dict[str, deque[tuple[int, DatasetProfile]]] = {}
        self._rolling: dict[str, _RollingMerge] = {}
        self._hours: dict[str, dict[int, DatasetProfile]] = {}  # model -> hour start -> its windows merged
        self._last: dict[str, int] = {}  # model -> the start of the last window kept

    def windows(self, model_id: str) -> list[int]:
        """The window starts held for ``model_id``, oldest first."""
        return [start for start, _ in self._windows.get(model_id, ())]

    def add(self, model_id: str, start_ms: int, profile: DatasetProfile) -> None:
        """Keep a judged window (a data stage with records); one not after the last kept (a replay, or a window
        read back at start) is ignored."""
        if not self.config.applies(model_id) or profile.n_records == 0 or start_ms <= self._last.get(model_id, -1):
            return
        self._last[model_id] = start_ms
        if self.config.keep:
            self._windows.setdefault(model_id, deque(maxlen=self.config.keep)).append((start_ms, profile))
        if self.config.same_hour_last_week:
            self._add_hour(model_id, start_ms, profile)
        if self.config.rolling_windows > 0:
            self._rolling.setdefault(model_id, _RollingMerge(self.config.rolling_windows)).append(profile)

    def _add_hour(self, model_id: str, start_ms: int, profile: DatasetProfile) -> None:
        hours = self._hours.setdefault(model_id, {})
        hour = start_ms - start_ms % HOUR_MS
        if hour in hours:
            hours[hour].merge(profile)
        else:
            hours[hour] = profile.copy()
        for old in [h for h in hours if h < hour - WEEK_MS]:
            del hours[old]

    def hours(self, model_id: str) -> list[int]:
        """The hour starts held for the same-hour-last-week reference of ``model_id``."""
        return sorted(self._hours.get(model_id, {}))

    def add_all(self, windows: Iterable[tuple[str, int, DatasetProfile]]) -> int:
        n = 0
        for model_id, start_ms, profile in windows:
            self.add(model_id, start_ms, profile)
            n += 1
        return n

    def judge(self, model_id: str, start_ms: int, profile: DatasetProfile, baseline: Baseline,
              config: EvaluationConfig) -> dict[str, MonitorResult]:
        """The window's results against each reference of its model (windows before ``start_ms`` only), by name;
        none while the model has no earlier window."""
        if not self.config.applies(model_id):
            return {}
        out: dict[str, MonitorResult] = {}
        hour = start_ms - start_ms % HOUR_MS - WEEK_MS
        last_week = self._hours.get(model_id, {}).get(hour) if self.config.same_hour_last_week else None
        if last_week is not None:
            out[LAST_WEEK] = _judged(profile, last_week, baseline, config, LAST_WEEK_CHECK,
                                     "the same hour last week", 0, hour)
        held = self._windows.get(model_id, deque())
        earlier = [(s, p) for s, p in held if s < start_ms]
        if not earlier:
            return out
        if self.config.rolling_windows > 0:
            used = earlier[-self.config.rolling_windows:]
            if len(earlier) == len(held):  # every window held is earlier (a replay is the exception): the running merge
                merged = self._rolling[model_id].merged()
            else:
                merged = used[0][1].copy()
                for _, other in used[1:]:
                    merged.merge(other)
            out[ROLLING] = _judged(profile, merged, baseline, config, ROLLING_CHECK,
                                   f"the rolling reference (last {len(used)} windows)", len(used), used[0][0])
        if self.config.previous_window:
            start, previous = earlier[-1]
            out[PREVIOUS] = _judged(profile, previous, baseline, config, PREVIOUS_CHECK, "the previous window", 1,
                                    start)
        return out


def _measurement(r: FeatureResult, check: str, what: str) -> Violation:
    base = drift_measurement(r)
    description = base.description.replace(" drifted:", f" drifted from {what}:", 1)
    return dataclasses.replace(base, check=check, description=description)


def _judged(window: DatasetProfile, reference: DatasetProfile, baseline: Baseline, config: EvaluationConfig,
            check: str, what: str, n_windows: int, first_start_ms: int) -> MonitorResult:
    name = {ROLLING_CHECK: ROLLING, PREVIOUS_CHECK: PREVIOUS}.get(check, LAST_WEEK)
    summary_base: dict[str, object] = {"check": check, "reference_windows": n_windows,
                                       "reference_first_window_start_ms": first_start_ms,
                                       "n_reference": int(reference.n_records)}
    try:
        evaluation = evaluate(window, dataclasses.replace(baseline, profile=reference), config)
    except StreamdriftError as exc:  # e.g. a feature's type changed: judged against the baseline only
        return MonitorResult(name, [], frozenset(), {**summary_base, "error": str(exc)}, f"not judged: {exc}")
    measurements: dict[CheckKey, Violation] = {("data_quality", check, r.feature): _measurement(r, check, what)
                                               for r in evaluation.results}
    violations = [measurements[("data_quality", check, r.feature)] for r in evaluation.results if r.drifted]
    drifted = [r.feature for r in evaluation.results if r.drifted]
    summary = {**summary_base, "method": evaluation.method,
               "results": [{"feature": r.feature, "statistic": r.statistic, "value": r.value,
                            "threshold": r.threshold, "drifted": r.drifted} for r in evaluation.results]}
    verdict = ("DRIFT from " + what + ": " + ", ".join(drifted)) if drifted else "ok"
    return MonitorResult(name, violations, frozenset(measurements), summary, verdict, {}, evaluation.n_window,
                         evaluation.n_baseline, measurements, evaluation)
