"""The references' read-back at start (worker/references.py) takes base windows only: a roll-up window on the
profiles topic (window.rollups) carries its model's id in its header, but is no window of the rolling reference."""

from __future__ import annotations

from history import MINUTE_MS, ready_window, rows_of

from streamdrift.monitors.reference import ReferenceConfig, ReferenceWindows
from streamdrift.window.stored import encode_stored, stored_key
from streamdrift.worker.references import _add


def test_rollup_windows_are_not_read_back_as_references() -> None:
    references = ReferenceWindows(ReferenceConfig(rolling_windows=3))
    base = ready_window("m", 5 * MINUTE_MS, rows_of(20, 1))
    rolled = ready_window("m", 5 * MINUTE_MS, rows_of(20, 2), size_ms=5 * MINUTE_MS)
    assert _add(references, stored_key("m", 5 * MINUTE_MS, 300), encode_stored(rolled, None, window_seconds=300), 1) == 0
    assert _add(references, stored_key("m", 5 * MINUTE_MS), encode_stored(base, None), 2) == 1
