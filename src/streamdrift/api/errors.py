"""The errors the Python API raises beside the core's (every one a `streamdrift.errors.StreamdriftError`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamdrift.errors import StreamdriftError

if TYPE_CHECKING:
    from streamdrift.api.results import CheckResult

__all__ = ["DriftDetected", "NotSupportedError"]


class NotSupportedError(StreamdriftError):
    """A documented option streamdrift does not implement yet (e.g. ``segment_by``)."""


class DriftDetected(StreamdriftError):
    """Raised by `CheckResult.raise_for_drift` when a window violated a check: the release gate.
    ``result`` is the failing `streamdrift.api.results.CheckResult`."""

    def __init__(self, message: str, result: CheckResult) -> None:
        super().__init__(message)
        self.result = result
