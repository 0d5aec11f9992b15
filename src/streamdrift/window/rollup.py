"""Roll-ups: stored windows merged into coarser ones (an hour, a day, or one span), with the merge the control
plane uses (:class:`~streamdrift.window.accumulator.WindowAccumulator`: profiles and monitor states are
mergeable, and a window given twice, e.g. replayed by a crash of the control plane, counts once).

A roll-up window ``[k * every, (k + 1) * every)`` holds every stored window stage whose start falls in it
(windows are aligned to the epoch, like the worker's); ``every=None`` merges the whole span into one window
``[first start, last end)``. Each stage (data, labels) rolls up on its own. The result is a
:class:`~streamdrift.window.merger.ReadyWindow` like a live one: judge it, summarize it or make a baseline of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType

from streamdrift.errors import MergeError, StreamdriftError
from streamdrift.monitors.base import Stage
from streamdrift.monitors.states import merge_state_blobs
from streamdrift.window.accumulator import WindowAccumulator
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.partials import PartialDelta

__all__ = ["RollUp", "window_delta"]

log = logging.getLogger(__name__)

_SOURCE = "history"  # the delta id of a stored window: (history, 0, its start); unique per (model, stage)


@dataclass
class _Bucket:
    acc: WindowAccumulator
    first_start_ms: int
    last_end_ms: int
    windows: int = 0
    partial: bool = False
    partitions: set[int] = field(default_factory=set)


class RollUp:
    """Adds stored windows of one model one at a time (memory: one merged window per roll-up window and stage,
    plus the starts seen) and hands out the merged windows."""

    def __init__(self, every_ms: int | None) -> None:
        if every_ms is not None and every_ms <= 0:
            raise MergeError(f"roll-up size must be positive, got {every_ms} ms")
        self.every_ms = every_ms
        self._buckets: dict[tuple[Stage, int], _Bucket] = {}
        self.duplicates = 0  # windows given again (a replay wrote them twice): merged once

    def add(self, window: ReadyWindow) -> bool:
        """Merge ``window`` into its roll-up window; False when that window (stage) was added already."""
        bucket_start = 0 if self.every_ms is None else window.window_start_ms // self.every_ms * self.every_ms
        key = (window.stage, bucket_start)
        bucket = self._buckets.get(key)
        if bucket is None:
            end = bucket_start + (self.every_ms or 0)
            acc = WindowAccumulator(window.model_id, bucket_start, end, first_seen_ms=window.first_seen_ms,
                                    params=window.profile.params)
            bucket = self._buckets[key] = _Bucket(acc, window.window_start_ms, window.window_end_ms)
        elif bucket.acc.model_id != window.model_id:
            raise MergeError(f"roll-up of {bucket.acc.model_id!r} given a window of {window.model_id!r}")
        acc = bucket.acc
        delta = window_delta(acc, window, _SOURCE)
        try:
            added = acc.add_delta(delta)
        except StreamdriftError as exc:
            raise MergeError(f"window {window.model_id}@{window.window_start_ms} does not merge into its roll-up "
                             f"(sketch parameters changed?): {exc}") from exc
        if not added:
            self.duplicates += 1
            return False
        bucket.windows += 1
        bucket.partial |= window.partial
        bucket.partitions.update(window.partitions_closed)
        bucket.first_start_ms = min(bucket.first_start_ms, window.window_start_ms)
        bucket.last_end_ms = max(bucket.last_end_ms, window.window_end_ms)
        return True

    def add_all(self, windows: Iterable[ReadyWindow]) -> RollUp:
        for window in windows:
            self.add(window)
        return self

    def windows_in(self, stage: Stage, start_ms: int) -> int:
        bucket = self._buckets.get((stage, start_ms))
        return 0 if bucket is None else bucket.windows

    def result(self) -> list[tuple[ReadyWindow, int]]:
        """(merged window, how many windows it holds), by start then stage (data first)."""
        out = []
        for (stage, start), b in sorted(self._buckets.items(), key=lambda kv: (kv[0][1], kv[0][0] != "data")):
            lo, hi = (b.first_start_ms, b.last_end_ms) if self.every_ms is None else (start, start + self.every_ms)
            out.append((ReadyWindow(
                model_id=b.acc.model_id, model_version=b.acc.model_version, window_start_ms=lo, window_end_ms=hi,
                profile=b.acc.profile, n_records=b.acc.n_records, partial=b.partial,
                partitions_closed=frozenset(b.partitions), first_seen_ms=b.acc.first_seen_ms,
                extras=b.acc.monitor_extras(), stage=stage,
            ), b.windows))  # fmt: skip
        return out


def window_delta(acc: WindowAccumulator, window: ReadyWindow, source: str, partition: int = 0) -> PartialDelta:
    """``window`` as a delta of the coarser window ``acc`` merges (its id ``(source, partition, window start)``:
    the same window given again is merged once)."""
    return PartialDelta(
        model_id=acc.model_id, model_version=window.model_version, window_start_ms=acc.window_start_ms,
        window_end_ms=acc.window_end_ms, source_topic=source, partition=partition, end_offset=window.window_start_ms,
        n_records=window.n_records, profile=window.profile, stage=window.stage,
        extras=MappingProxyType({name: _one_state(window, name, blobs) for name, blobs in window.extras.items()
                                 if blobs}),
    )  # fmt: skip


def _one_state(window: ReadyWindow, name: str, blobs: list[bytes]) -> bytes:
    """A window's state of one monitor as one blob (the live merge keeps states apart that do not merge, e.g.
    of another config: the first one counts then, and the roll-up says so in the log)."""
    if len(blobs) == 1:
        return blobs[0]
    try:
        return merge_state_blobs(blobs)
    except StreamdriftError as exc:
        log.warning("%s state of %s@%d: %d states that do not merge (%s); the first one is rolled up", name,
                    window.model_id, window.window_start_ms, len(blobs), exc)
        return blobs[0]
