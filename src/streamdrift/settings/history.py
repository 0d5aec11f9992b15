"""The ``history`` section of the settings: the profiles topic (every merged window, kept for history, baselines
from production and re-evaluation; docs/history.md). :class:`~streamdrift.settings.Settings` holds it as
``history``."""

from __future__ import annotations

from pydantic import Field

from streamdrift.monitors.reference import ReferenceConfig
from streamdrift.settings.sections import Duration, _Frozen

DEFAULT_RETENTION_S = 30 * 86400.0


class HistorySettings(_Frozen):
    """The profiles topic: the control plane writes every merged window (its profile and monitor states, one
    message per model x window stage) in the transaction of its events."""

    enabled: bool = Field(default=True, description="write every merged window to the profiles topic")
    topic: str = Field(default="streamdrift.profiles", min_length=1, description="the profiles topic")
    retention: Duration = Field(
        default=DEFAULT_RETENTION_S, gt=0,
        description="how long the profiles topic keeps a window (its retention.ms at `topics create`; counted from "
        "the window's start, the messages' timestamp)")

    report_windows: int = Field(
        default=288, ge=2, le=100_000,
        description="windows per model whose drift statistics the control plane keeps in memory for the "
        "drift-over-time charts of /report/<model> (a bounded ring, lost at a restart)")

    rolling_windows: int = Field(
        default=0, ge=0, le=10_000,
        description="judge each window also against the merge of the model's last N windows (check "
        "rolling_drift_check); 0: off. Memory: N window profiles per model")
    previous_window: bool = Field(
        default=False, description="judge each window also against the model's previous window (check "
        "previous_window_drift_check)")
    same_hour_last_week: bool = Field(
        default=False, description="judge each window also against the model's windows of the same hour a week "
        "before, merged (check last_week_drift_check). Memory: one merged profile per hour of the last week per "
        "model; the control plane reads a week of windows back at start")
    reference_models: tuple[str, ...] = Field(
        default=(), description="the models judged against the rolling reference / previous window; empty: every "
        "model")

    def reference_config(self) -> ReferenceConfig:
        return ReferenceConfig(self.rolling_windows, self.previous_window, frozenset(self.reference_models),
                               self.same_hour_last_week)

    @property
    def retention_ms(self) -> int:
        return round(self.retention * 1000)
