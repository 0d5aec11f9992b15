"""Merging deltas of the ``partials`` topic into complete windows (no Kafka here; the faust agent wraps it).

State lives in a ``MutableMapping[str, bytes]`` (a faust Table in production, a dict in tests) so a restarted
control plane recovers it: ``w|<model>|<start>`` -> serialized :class:`WindowAccumulator`, ``p|<partition>``
-> the source partition's latest watermark (from its ``WindowClosed`` markers); the labels stage of a window
(model quality, see :mod:`streamdrift.window.partials`) has its own accumulators and watermarks, ``l|`` and ``lp|``,
and is released on its own. Decoded accumulators are cached in memory; every change is written through.

A window (stage) is complete when every capture partition has closed it explicitly or announced a watermark
past its end (idle partitions send progress markers); when ``merge_timeout`` passes after the first partition
closed it, it is released as partial.

Deltas split into parts (too large for one Kafka message, :mod:`streamdrift.window.parts`) are merged once all
their parts arrived. The parts of one delta are keyed alike and sent in one transaction before the partition's
marker, so a window that every partition closed has them all; a window released by its merge timeout (or with a
part the merge refused as corrupt) leaves out the deltas whose parts are incomplete, is released as partial, and
says how many in :attr:`ReadyWindow.incomplete_deltas` (and :attr:`WindowMerger.incomplete_deltas`, a running
total for the status page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.accumulator import WindowAccumulator
from streamdrift.window.partials import DATA, LABELS, PartialDelta, Stage, WindowClosed

_WINDOW: dict[Stage, str] = {DATA: "w|", LABELS: "l|"}
_WATERMARK: dict[Stage, str] = {DATA: "p|", LABELS: "lp|"}


@dataclass(frozen=True)
class ReadyWindow:
    """A merged window to evaluate."""

    model_id: str
    model_version: str | None
    window_start_ms: int
    window_end_ms: int
    profile: DatasetProfile
    n_records: int
    partial: bool
    partitions_closed: frozenset[int]
    first_seen_ms: int
    extras: Mapping[str, list[bytes]] = field(default_factory=dict)  # monitor states of every delta, by name
    stage: Stage = DATA  # labels: only the model-quality states, released when the labels stage closed
    closing_since_ms: int | None = None  # wall clock when the first partition closed it
    incomplete_deltas: int = 0  # split deltas left out: only some of their parts had arrived (then partial)


def _window_key(stage: Stage, model_id: str, start_ms: int) -> str:
    return f"{_WINDOW[stage]}{model_id}|{start_ms}"


def _stage_of(key: str) -> Stage | None:
    return next((stage for stage, prefix in _WINDOW.items() if key.startswith(prefix)), None)


class WindowMerger:
    """Idempotent merge of deltas; releases windows when complete or timed out."""

    def __init__(
        self,
        store: MutableMapping[str, bytes],
        n_partitions: int,
        merge_timeout_ms: int,
        clock_ms: Callable[[], int],
        *,
        keep_released: bool = False,
        max_features: int | None = None,
        reserved: Callable[[str], AbstractSet[str]] = lambda model_id: frozenset(),
    ) -> None:
        """``keep_released``: a released window stays in the store until :meth:`forget` (the caller published its
        events: a crash before that replays into the stored window and releases it again, rather than finding
        it gone and losing its events). ``max_features``: features a merged window's profile holds at most (each
        delta is capped by its data plane, but a window merges many deltas); the model's ``reserved`` names (its
        baseline's) are admitted first; the features left out are counted in :attr:`features_dropped`."""
        self._store = store
        self._max_features = max_features
        self._reserved = reserved
        self._keep_released = keep_released
        self._n_partitions = n_partitions
        self._timeout_ms = merge_timeout_ms
        self._clock_ms = clock_ms
        self._cache: dict[str, WindowAccumulator] = {}
        self._ends: dict[str, int] = {}  # window key -> end ms
        self._loaded = False  # the whole store is in the cache (writes go through it from then on)
        self.duplicates = 0
        self.incomplete_deltas = 0  # split deltas left out of released windows (parts missing)
        self.features_dropped = 0  # feature columns of deltas left out of merged windows (max_features)
        self.replayed = 0  # deltas of windows released before (their partition had closed them): ignored

    def handle(self, message: PartialDelta | WindowClosed) -> list[ReadyWindow]:
        """Merge one message; returns the windows it completed (only those it touched are checked)."""
        changed = [self._add(message)] if isinstance(message, PartialDelta) else self._closed(message)
        return self._release([key for key in changed if key is not None], timeout=False)

    def expire(self) -> list[ReadyWindow]:
        """Windows whose merge timeout passed (partial) and any complete ones: a scan of every open window."""
        self._load_all()
        return self._release(list(self._cache), timeout=True)

    def watermark(self, partition: int, stage: Stage = DATA) -> int | None:
        blob = self._store.get(f"{_WATERMARK[stage]}{partition}")
        return int(blob.decode()) if blob is not None else None

    def low_watermark(self, stage: Stage = DATA) -> int | None:
        """The lowest watermark of every capture partition (None while one has sent no marker): every window of
        the stage ending at or before it has been released."""
        marks = [self.watermark(p, stage) for p in range(self._n_partitions)]
        return None if any(m is None for m in marks) else min(m for m in marks if m is not None)

    def open_windows(self) -> int:
        self._load_all()
        return len(self._cache)

    # -- internals -----------------------------------------------------------------------------------
    def _add(self, delta: PartialDelta) -> str | None:
        key = _window_key(delta.stage, delta.model_id, delta.window_start_ms)
        acc = self._get(key)
        if acc is None:
            own = self.watermark(delta.partition, delta.stage)
            if own is not None and own >= delta.window_end_ms:
                # its partition closed the window before (a data plane sends a window's deltas before its marker,
                # and resumes from its committed watermark): the window was released, and this is a replay of
                # partials read before that release (the table's state can be ahead of the committed offsets);
                # merging it would release a second, smaller copy of the window
                self.replayed += 1
                return None
            now = self._clock_ms()
            acc = WindowAccumulator.for_delta(delta, now_ms=now)
            for p in range(self._n_partitions):
                wm = self.watermark(p, delta.stage)
                if wm is not None and wm >= delta.window_end_ms:
                    acc.mark_closed(p)
                    acc.closing_since_ms = now
        cap = None
        if self._max_features is not None and \
                len(acc.profile.features) + len(delta.profile.features) > self._max_features:  # may bind
            cap = (self._max_features, self._reserved(delta.model_id))
        dropped_before = acc.features_dropped
        if not acc.add_delta(delta, cap):
            self.duplicates += 1
            return None
        self.features_dropped += acc.features_dropped - dropped_before
        self._put(key, acc, delta.window_end_ms)
        return key

    def _closed(self, marker: WindowClosed) -> list[str]:
        wm_key = f"{_WATERMARK[marker.stage]}{marker.partition}"
        current = self.watermark(marker.partition, marker.stage)
        watermark = max(marker.watermark_ms, marker.window_end_ms)
        if current is None or watermark > current:
            self._store[wm_key] = str(watermark).encode()
        self._load_all()
        now = self._clock_ms()
        changed = []
        for key, acc in list(self._cache.items()):
            end = self._ends[key]
            if _stage_of(key) != marker.stage or end > watermark or marker.partition in acc.partitions_closed:
                continue
            acc.mark_closed(marker.partition)
            if acc.closing_since_ms is None:
                acc.closing_since_ms = now
            self._put(key, acc, end)
            changed.append(key)
        return changed

    def _release(self, keys: list[str], *, timeout: bool) -> list[ReadyWindow]:
        now = self._clock_ms()
        ready = []
        for key in sorted(keys, key=lambda k: (self._ends[k], k)):
            acc = self._cache[key]
            complete = acc.is_complete(self._n_partitions)
            closing = acc.closing_since_ms
            expired = timeout and closing is not None and now - closing >= self._timeout_ms
            if complete or expired:
                ready.append(self._ready(key, acc, complete=complete))
        for window in ready:
            key = _window_key(window.stage, window.model_id, window.window_start_ms)
            self._cache.pop(key, None)
            self._ends.pop(key, None)
            if not self._keep_released:
                del self._store[key]
        return ready

    def forget(self, window: ReadyWindow) -> None:
        """Drop a released window from the store (``keep_released``: once its events are out)."""
        key = _window_key(window.stage, window.model_id, window.window_start_ms)
        if key not in self._cache:  # not reopened by a later delta meanwhile
            self._store.pop(key, None)

    def _ready(self, key: str, acc: WindowAccumulator, *, complete: bool) -> ReadyWindow:
        stage = _stage_of(key) or DATA
        incomplete = acc.incomplete_deltas()
        self.incomplete_deltas += incomplete
        model_id = key[len(_WINDOW[stage]) : key.rfind("|")]
        return ReadyWindow(
            model_id=model_id,
            model_version=acc.model_version,
            window_start_ms=int(key.rsplit("|", 1)[1]),
            window_end_ms=self._ends[key],
            profile=acc.profile,
            n_records=acc.n_records,
            partial=not complete or incomplete > 0,
            partitions_closed=acc.partitions_closed,
            first_seen_ms=acc.first_seen_ms,
            extras=acc.monitor_extras(),
            stage=stage,
            closing_since_ms=acc.closing_since_ms,
            incomplete_deltas=incomplete,
        )

    def _get(self, key: str) -> WindowAccumulator | None:
        acc = self._cache.get(key)
        if acc is None:
            blob = self._store.get(key)
            if blob is not None:
                acc = WindowAccumulator.from_bytes(blob)
                self._cache[key] = acc
                self._ends[key] = acc.window_end_ms
        return acc

    def _put(self, key: str, acc: WindowAccumulator, end_ms: int) -> None:
        self._cache[key] = acc
        self._ends[key] = end_ms
        self._store[key] = acc.to_bytes()

    def _load_all(self) -> None:
        """Read every accumulator of the store once (a restarted control plane's recovered table); from then
        on every change goes through the cache. A merger lives as long as its partition's assignment."""
        if self._loaded:
            return
        for key in list(self._store):
            if _stage_of(key) is not None and key not in self._cache:
                self._get(key)
        self._loaded = True
