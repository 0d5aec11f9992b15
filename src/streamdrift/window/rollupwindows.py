"""Roll-up windows in the stream (``window.rollups``): hours or days merged from the base windows the merger
releases, judged as windows of their own (docs/history.md, "Roll-ups in the worker"). No Kafka here: the control
plane keeps the state in its changelogged table (the merger's), ``streamdrift check`` in a dict.

* :meth:`RollupWindows.add`: a released base window (either stage) is merged into its roll-up window of every
  size, ``[k * every, (k + 1) * every)`` from the epoch, with the merge of the history roll-up
  (:func:`~streamdrift.window.rollup.window_delta`: delta id ``(rollup, partial?, base window start)``, so a base
  window released again by a replay is merged once);
* :meth:`RollupWindows.due`: a roll-up window is released when the stage's watermark of **every** capture
  partition has passed its end (then every base window in it has been released: a base window is released as
  soon as every partition closed it, and a delta behind its partition's watermark is a replay the merger ignores),
  or, in :meth:`RollupWindows.add`, when a base window of its model and stage at or after its end is released
  (the merger releases a model's windows of a stage in order). Either way it holds the same base windows, however
  the releases are batched: ``check``, which may release a whole file's windows at one marker, gives the worker's
  roll-ups;
* :meth:`RollupWindows.forget` after its events are out drops it and records that the model's roll-ups of that
  size and stage were released up to its end, so a replayed base window never opens it again (counted
  :attr:`RollupWindows.late`).

Memory: a model's roll-up window (per size and stage) is released once a base window past it is, so one is open
at a time while its windows come in order; ``max_open`` bounds what base windows released out of order (newest
first, e.g. timed out one by one) can open: beyond it the oldest goes out as partial.

State keys (beside the merger's, which never start with ``r``): ``r|<every ms>|<stage>|<model>|<start ms>`` ->
:class:`~streamdrift.window.accumulator.WindowAccumulator` bytes; ``rr|<every ms>|<stage>|<model>`` -> the end
(ms, ASCII) of its last released roll-up window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping, Sequence
from collections.abc import Set as AbstractSet

from streamdrift.errors import ConfigError, MergeError, StreamdriftError
from streamdrift.window.accumulator import WindowAccumulator
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.partials import DATA, LABELS, Stage
from streamdrift.window.rollup import window_delta

__all__ = ["ROLLUP_SOURCE", "RollupWindows"]

log = logging.getLogger(__name__)

ROLLUP_SOURCE = "rollup"  # delta ids of base windows in a roll-up: (rollup, 1 if partial else 0, window start)
_OPEN = "r|"
_RELEASED = "rr|"
_STAGES: dict[str, Stage] = {DATA: DATA, LABELS: LABELS}


def _key(every_ms: int, stage: Stage, model_id: str, start_ms: int) -> str:
    return f"{_OPEN}{every_ms}|{stage}|{model_id}|{start_ms}"


def _parse(key: str) -> tuple[int, Stage, str, int] | None:
    """(every, stage, model, start) of an open roll-up's key; None for any other key."""
    if not key.startswith(_OPEN):
        return None
    every, stage, rest = key[len(_OPEN):].split("|", 2)
    model, start = rest.rsplit("|", 1)
    return int(every), _STAGES[stage], model, int(start)


def _released_key(every_ms: int, stage: Stage, model_id: str) -> str:
    return f"{_RELEASED}{every_ms}|{stage}|{model_id}"


class RollupWindows:
    """The open roll-up windows of one store (the control plane: one partials partition's part of the table)."""

    def __init__(self, store: MutableMapping[str, bytes], sizes_ms: Sequence[int], *, max_open: int = 2,
                 max_features: int | None = None, max_bytes: int | None = None, models: AbstractSet[str] = frozenset(),
                 reserved: Callable[[str], AbstractSet[str]] = lambda model_id: frozenset()) -> None:
        """``max_bytes``: the largest value the store takes (the control plane's ``limits.max_window_bytes``): a
        roll-up window that would outgrow it is released at once, partial, instead of being written. ``models``: the
        models rolled up (empty: every model)."""
        if any(every <= 0 for every in sizes_ms) or max_open < 1:
            raise ConfigError(f"roll-up sizes must be positive and max_open >= 1 (got {list(sizes_ms)}, {max_open})")
        self._store = store
        self.sizes_ms = tuple(sizes_ms)
        self.max_open = max_open
        self._max_features = max_features
        self._max_bytes = max_bytes
        self._models = frozenset(models)
        self._reserved = reserved
        self._cache: dict[str, WindowAccumulator] = {}
        self._loaded = False
        self.late = 0  # base windows of a roll-up window released before (a replay, or pushed out by max_open)
        self.forced = 0  # roll-up windows released early by max_open (partial)

    # ------------------------------------------------------------ the three steps

    def add(self, window: ReadyWindow) -> list[ReadyWindow]:
        """Merge a released base window into its roll-up window of every size. Returns the roll-up windows it
        pushed out (beyond ``max_open``: the oldest, partial) to judge and :meth:`forget` like due ones."""
        self._load_all()
        out: list[ReadyWindow] = []
        if self._models and window.model_id not in self._models:
            return out
        for every in self.sizes_ms:
            out += self._passed(every, window)
            start = window.window_start_ms // every * every
            released = self._store.get(_released_key(every, window.stage, window.model_id))
            if released is not None and start < int(released.decode()):
                self.late += 1
                continue
            key = _key(every, window.stage, window.model_id, start)
            acc = self._cache.get(key)
            if acc is None:
                acc = WindowAccumulator(window.model_id, start, start + every, first_seen_ms=window.first_seen_ms,
                                        params=window.profile.params)
            delta = window_delta(acc, window, ROLLUP_SOURCE, 1 if window.partial else 0)
            cap = None
            if self._max_features is not None and \
                    len(acc.profile.features) + len(window.profile.features) > self._max_features:
                cap = (self._max_features, self._reserved(window.model_id))
            try:
                added = acc.add_delta(delta, cap)
            except StreamdriftError as exc:
                raise MergeError(f"window {window.model_id}@{window.window_start_ms} does not merge into its "
                                 f"{every // 1000} s roll-up (sketch parameters changed?): {exc}") from exc
            if added:
                acc.mark_closed_many(window.partitions_closed)
                self._cache[key] = acc
                blob = acc.to_bytes()
                if self._max_bytes is not None and len(blob) > self._max_bytes:
                    log.warning("%ds roll-up of %s@%d outgrew %d bytes: released early (partial)", every // 1000,
                                window.model_id, start, self._max_bytes)
                    self.forced += 1
                    out.append(self._release(key, partial=True))
                    continue
                self._store[key] = blob
            out += self._over_limit(every, window.stage, window.model_id)
        return out

    def due(self, watermark: Callable[[Stage], int | None]) -> list[ReadyWindow]:
        """The open roll-up windows whose end the stage's watermark (the lowest of every capture partition's;
        None: some partition has none yet) has passed, by end."""
        self._load_all()
        marks = {stage: watermark(stage) for stage in (DATA, LABELS)}
        ready = []
        for key, acc in sorted(self._cache.items(), key=lambda kv: (kv[1].window_end_ms, kv[0])):
            parsed = _parse(key)
            mark = marks[parsed[1]] if parsed is not None else None
            if mark is not None and mark >= acc.window_end_ms:
                ready.append(self._release(key, partial=False))
        return ready

    def flush(self) -> list[ReadyWindow]:
        """Every open roll-up window (``check`` at the end of its input: every base window closed), by end."""
        self._load_all()
        return [self._release(key, partial=False)
                for key in sorted(self._cache, key=lambda k: (self._cache[k].window_end_ms, k))]

    def forget(self, rollup: ReadyWindow) -> None:
        """Its events are out: drop it from the store, and mark its model's roll-ups of its size and stage
        released up to its end."""
        every = rollup.window_end_ms - rollup.window_start_ms
        self._store.pop(_key(every, rollup.stage, rollup.model_id, rollup.window_start_ms), None)
        marker = _released_key(every, rollup.stage, rollup.model_id)
        before = self._store.get(marker)
        if before is None or int(before.decode()) < rollup.window_end_ms:
            self._store[marker] = str(rollup.window_end_ms).encode()

    def open_windows(self) -> int:
        self._load_all()
        return len(self._cache)

    # ------------------------------------------------------------ internals

    def _passed(self, every: int, window: ReadyWindow) -> list[ReadyWindow]:
        """The model's open roll-up windows (of this size and stage) ending at or before ``window``'s start: the
        merger releases a model's windows of a stage in order, so every base window in them was released."""
        done = sorted((acc.window_end_ms, key) for key, acc in self._cache.items()
                      if acc.window_end_ms <= window.window_start_ms
                      and _parse(key) == (every, window.stage, window.model_id, acc.window_start_ms))
        return [self._release(key, partial=False) for _, key in done]

    def _over_limit(self, every: int, stage: Stage, model_id: str) -> list[ReadyWindow]:
        mine = sorted((acc.window_start_ms, key) for key, acc in self._cache.items()
                      if _parse(key) == (every, stage, model_id, acc.window_start_ms))
        out = []
        for _, key in mine[: max(0, len(mine) - self.max_open)]:
            self.forced += 1
            out.append(self._release(key, partial=True))
        return out

    def _release(self, key: str, *, partial: bool) -> ReadyWindow:
        acc = self._cache.pop(key)
        parsed = _parse(key)
        stage = parsed[1] if parsed is not None else DATA
        return ReadyWindow(
            model_id=acc.model_id, model_version=acc.model_version, window_start_ms=acc.window_start_ms,
            window_end_ms=acc.window_end_ms, profile=acc.profile, n_records=acc.n_records,
            partial=partial or any(p for _, p, _ in acc.seen_delta_ids), partitions_closed=acc.partitions_closed,
            first_seen_ms=acc.first_seen_ms, extras=acc.monitor_extras(), stage=stage,
        )  # fmt: skip

    def _load_all(self) -> None:
        """Read every open roll-up of the store once (a restarted control plane's recovered table)."""
        if self._loaded:
            return
        for key in list(self._store):
            if key.startswith(_OPEN) and key not in self._cache:
                blob = self._store.get(key)
                if blob is not None:
                    self._cache[key] = WindowAccumulator.from_bytes(blob)
        self._loaded = True

