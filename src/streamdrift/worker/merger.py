"""Merging deltas of the ``partials`` topic into complete windows (no Kafka here; the faust agent wraps it).

State lives in a ``MutableMapping[str, bytes]`` (a faust Table in production, a dict in tests) so a restarted
control plane recovers it: ``w|<model>|<start>`` -> serialized :class:`WindowAccumulator`, ``p|<partition>``
-> the source partition's latest watermark (from its ``WindowClosed`` markers). Decoded accumulators are
cached in memory; every change is written through.

A window is complete when every capture partition has closed it explicitly or announced a watermark past its
end (idle partitions send progress markers); when ``merge_timeout`` passes first it is released as partial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field

from streamdrift.merge import WindowAccumulator
from streamdrift.partials import PartialDelta, WindowClosed
from streamdrift.profiles import DatasetProfile

_WINDOW = "w|"
_WATERMARK = "p|"


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


def _window_key(model_id: str, start_ms: int) -> str:
    return f"{_WINDOW}{model_id}|{start_ms}"


class WindowMerger:
    """Idempotent merge of deltas; releases windows when complete or timed out."""

    def __init__(
        self,
        store: MutableMapping[str, bytes],
        n_partitions: int,
        merge_timeout_ms: int,
        clock_ms: Callable[[], int],
    ) -> None:
        self._store = store
        self._n_partitions = n_partitions
        self._timeout_ms = merge_timeout_ms
        self._clock_ms = clock_ms
        self._cache: dict[str, WindowAccumulator] = {}
        self._ends: dict[str, int] = {}  # window key -> end ms
        self.duplicates = 0

    def handle(self, message: PartialDelta | WindowClosed) -> list[ReadyWindow]:
        if isinstance(message, PartialDelta):
            self._add(message)
        else:
            self._closed(message)
        return self._release(timeout=False)

    def expire(self) -> list[ReadyWindow]:
        """Windows whose merge timeout passed (partial) and any complete ones."""
        return self._release(timeout=True)

    def watermark(self, partition: int) -> int | None:
        blob = self._store.get(f"{_WATERMARK}{partition}")
        return int(blob.decode()) if blob is not None else None

    def open_windows(self) -> int:
        self._load_all()
        return len(self._cache)

    # -- internals -----------------------------------------------------------------------------------
    def _add(self, delta: PartialDelta) -> None:
        key = _window_key(delta.model_id, delta.window_start_ms)
        acc = self._get(key)
        if acc is None:
            acc = WindowAccumulator.for_delta(delta, now_ms=self._clock_ms())
            for p in range(self._n_partitions):
                wm = self.watermark(p)
                if wm is not None and wm >= delta.window_end_ms:
                    acc.mark_closed(p)
        if not acc.add_delta(delta):
            self.duplicates += 1
            return
        self._put(key, acc, delta.window_end_ms)

    def _closed(self, marker: WindowClosed) -> None:
        wm_key = f"{_WATERMARK}{marker.partition}"
        current = self.watermark(marker.partition)
        watermark = max(marker.watermark_ms, marker.window_end_ms)
        if current is None or watermark > current:
            self._store[wm_key] = str(watermark).encode()
        self._load_all()
        for key, acc in list(self._cache.items()):
            end = self._ends[key]
            if end <= watermark and marker.partition not in acc.partitions_closed:
                acc.mark_closed(marker.partition)
                self._put(key, acc, end)

    def _release(self, *, timeout: bool) -> list[ReadyWindow]:
        self._load_all()
        now = self._clock_ms()
        ready = []
        for key, acc in sorted(self._cache.items(), key=lambda kv: self._ends[kv[0]]):
            complete = acc.is_complete(self._n_partitions)
            expired = timeout and now - acc.first_seen_ms >= self._timeout_ms
            if complete or expired:
                ready.append(self._ready(key, acc, partial=not complete))
        for window in ready:
            key = _window_key(window.model_id, window.window_start_ms)
            self._cache.pop(key, None)
            self._ends.pop(key, None)
            del self._store[key]
        return ready

    def _ready(self, key: str, acc: WindowAccumulator, *, partial: bool) -> ReadyWindow:
        model_id = key[len(_WINDOW) : key.rfind("|")]
        return ReadyWindow(
            model_id=model_id,
            model_version=acc.model_version,
            window_start_ms=int(key.rsplit("|", 1)[1]),
            window_end_ms=self._ends[key],
            profile=acc.profile,
            n_records=acc.n_records,
            partial=partial,
            partitions_closed=acc.partitions_closed,
            first_seen_ms=acc.first_seen_ms,
            extras={name: list(blobs) for name, blobs in acc.extras.items()},
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
        if len(self._cache) == sum(1 for k in self._store if k.startswith(_WINDOW)):
            return
        for key in list(self._store):
            if key.startswith(_WINDOW) and key not in self._cache:
                self._get(key)
