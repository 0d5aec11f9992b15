"""What every monitor reports of a window: violations and the keys of the checks it ran.

A check key ``(monitor, check, subject)`` names one hysteresis state per model: a violation raises it, a
window in which the check ran clean clears it (:mod:`streamdrift.events.events`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MonitorName = Literal["data_quality", "model_quality", "bias", "attribution"]
CheckKey = tuple[MonitorName, str, str]  # (monitor, check, feature or metric)


@dataclass(frozen=True, slots=True)
class Violation:
    check: str  # SageMaker constraint_check_type (or another monitor's check name)
    description: str
    n_window: int
    feature: str | None = None
    metric: str | None = None
    statistic: str | None = None
    value: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    n_baseline: int | None = None
    monitor: MonitorName = "data_quality"
    segment: str | None = None  # the slice of traffic judged (monitors/segments); None: the whole

    @property
    def subject(self) -> str:
        return self.feature if self.feature is not None else (self.metric or "")

    @property
    def key(self) -> CheckKey:
        return (self.monitor, self.check, segment_subject(self.subject, self.segment))


#: Between a check's subject and its segment in a check key (a hysteresis key per segment and check).
SEGMENT_SEPARATOR = "\x1f"


def segment_subject(subject: str, segment: str | None) -> str:
    """The subject of a check key: the feature or metric, and the segment when the check judged one."""
    return subject if segment is None else f"{subject}{SEGMENT_SEPARATOR}{segment}"


def split_subject(subject: str) -> tuple[str, str | None]:
    """(feature or metric, segment or None) of a check key's subject."""
    name, sep, segment = subject.partition(SEGMENT_SEPARATOR)
    return (name, segment) if sep else (subject, None)
