"""The ``history`` section of the settings: the profiles topic (every merged window, kept for history, baselines
from production and re-evaluation; docs/history.md). Its own module, so that :mod:`streamdrift.settings` stays
small; :class:`~streamdrift.settings.Settings` holds it as ``history``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DEFAULT_RETENTION_S = 30 * 86400.0


def _seconds(value: object) -> float:
    """Seconds from a number or a string with a unit (``"30d"``); the settings' duration rules."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 12h, 7d, 30d)")
    return float(match["value"]) * _UNIT_SECONDS[match["unit"] or "s"]


class HistorySettings(BaseModel):
    """The profiles topic: the control plane writes every merged window (its profile and monitor states, one
    message per model x window stage) in the transaction of its events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="write every merged window to the profiles topic")
    topic: str = Field(default="streamdrift.profiles", min_length=1, description="the profiles topic")
    retention: Annotated[float, BeforeValidator(_seconds)] = Field(
        default=DEFAULT_RETENTION_S, gt=0,
        description="how long the profiles topic keeps a window (its retention.ms at `topics create`; counted from "
        "the window's start, the messages' timestamp)")

    @property
    def retention_ms(self) -> int:
        return round(self.retention * 1000)
