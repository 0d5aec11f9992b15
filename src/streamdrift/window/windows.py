"""Event-time tumbling windows and the watermark of ONE source partition.

Windows are ``[start, start + size_ms)`` with ``start`` a multiple of ``size_ms`` (epoch milliseconds). The
partition's watermark is ``max event time seen - lateness_ms`` (never moving back), or the wall clock minus
``lateness_ms`` when the caller declares the partition idle (:meth:`PartitionWindows.advance_idle`).

Late rows. Row ``i`` of the input (in source order, across all batches given to one
:meth:`PartitionWindows.add_many` call) is late when its window ended at or before the watermark as it stood
just before row ``i`` (``watermark = max(ts[:i]) - lateness``), or when its window was closed. Because the
decision depends only on the rows before it, the same input split into different batches gives the same
decisions (and, with the watermark restored from the committed offset's metadata, the same decisions on replay).
``late_policy="drop"`` drops late rows; ``"oldest_open"`` adds them to the oldest window that is still open
(the one containing the watermark), counting them as redirected.

Closing. :meth:`PartitionWindows.due_windows` lists, oldest first, every window not yet closed whose end is at
or before the watermark, **including windows in which this partition saw no record** (the merger needs a
``WindowClosed`` marker from every partition). Windows before the "frontier" are closed; the frontier starts at
the window containing the restored watermark; otherwise it is fixed on first use at the oldest window with
data (or the watermark's window if older), or, for a partition idle since start, the window before the
watermark's. The worker must drain and send a window's deltas no later than its ``WindowClosed`` marker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import paused_gc
from streamdrift.errors import ConfigError
from streamdrift.monitors.base import Rows
from streamdrift.monitors.data_quality.monitor import NAME as DATA_QUALITY
from streamdrift.monitors.registry import ModelMonitors, MonitorConfig, monitors_for
from streamdrift.profile.profiles import DatasetProfile, ProfileParams

__all__ = ["AddResult", "PartitionWindows", "WindowDelta", "WindowSpec", "window_starts"]

_NO_TIME: Final[int] = -(1 << 62)  # "no watermark yet": before any epoch time, far from int64 overflow
LatePolicy = Literal["drop", "oldest_open"]


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    lateness_ms: int = 0
    late_policy: LatePolicy = "drop"

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise ConfigError(f"window size must be > 0 ms, not {self.size_ms}")
        if self.lateness_ms < 0:
            raise ConfigError(f"allowed lateness must be >= 0 ms, not {self.lateness_ms}")
        if self.late_policy not in ("drop", "oldest_open"):
            raise ConfigError(f"late_policy must be 'drop' or 'oldest_open', not {self.late_policy!r}")


def window_starts(ts_ms: NDArray[np.int64], size_ms: int) -> NDArray[np.int64]:
    """Start of the tumbling window of each timestamp (floor to a multiple of ``size_ms``)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    return ts - np.mod(ts, size_ms)


def _window_start(ts_ms: int, size_ms: int) -> int:
    return ts_ms - ts_ms % size_ms


MonitorsOf = Callable[[str], ModelMonitors]


def profiles_only(params: ProfileParams | None = None) -> MonitorsOf:
    """Monitors of models without a baseline: the data-quality profile alone."""
    monitors = monitors_for(None, MonitorConfig(profile=params or ProfileParams(), quality_without_baseline=False))
    return lambda model_id: monitors


@dataclass(frozen=True)
class AddResult:
    n_added: int  # rows profiled into a window (on time + redirected)
    n_late: int  # rows behind the watermark or in a closed window
    n_late_dropped: int
    n_late_redirected: int
    dropped: NDArray[np.intp] | None = None  # the batch's rows dropped as late (None: none)

    def __add__(self, other: AddResult) -> AddResult:
        return AddResult(
            self.n_added + other.n_added,
            self.n_late + other.n_late,
            self.n_late_dropped + other.n_late_dropped,
            self.n_late_redirected + other.n_late_redirected,
        )


@dataclass
class WindowDelta:
    """What one partition added to one (model, window) since the last drain: the data-quality profile and the
    other data-stage monitors' states (serialized, by monitor name)."""

    model_id: str
    model_version: str | None
    window_start_ms: int
    window_end_ms: int
    profile: DatasetProfile
    n_records: int
    extras: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class _Acc:
    model_version: str | None
    monitors: ModelMonitors
    states: dict[str, Any]
    n_records: int = 0


@dataclass
class _Assignment:
    """Window of each row of one batch; rows with ``keep == False`` are dropped."""

    starts: NDArray[np.int64]
    keep: NDArray[np.bool_]
    late: NDArray[np.bool_]
    redirected: NDArray[np.bool_]


class PartitionWindows:
    """Windows, watermark and not-yet-drained deltas of one source partition (all models in it)."""

    def __init__(
        self, spec: WindowSpec, params: ProfileParams | None = None, watermark_ms: int | None = None,
        *, monitors_of: MonitorsOf | None = None,
    ) -> None:
        """``monitors_of``: a model's data-stage monitors (default: the profile alone, with ``params``)."""
        self.spec = spec
        self._monitors_of = monitors_of if monitors_of is not None else profiles_only(params)
        self._wm: int | None = watermark_ms
        self._max_event: int | None = None
        self._frontier: int | None = None if watermark_ms is None else _window_start(watermark_ms, spec.size_ms)
        self._closed_ahead: set[int] = set()  # closed windows at or after the frontier
        self._open: dict[int, set[str]] = {}  # window start -> models with records in it, not closed
        self._deltas: dict[tuple[str, int], _Acc] = {}

    # ------------------------------------------------------------ state

    @property
    def watermark_ms(self) -> int | None:
        return self._wm

    @property
    def open_windows(self) -> list[int]:
        """Starts of windows holding records of this partition that are not closed yet."""
        return sorted(self._open)

    @property
    def has_pending(self) -> bool:
        """True when there are deltas to drain."""
        return bool(self._deltas)

    # ------------------------------------------------------------ adding rows

    def add(self, batch: CaptureBatch) -> AddResult:
        """Add one model's batch (see :meth:`add_many` for several models of one poll)."""
        return self.add_many([batch])[0]

    def add_many(self, batches: Sequence[CaptureBatch]) -> list[AddResult]:
        """Add the batches of one poll (batches of different models from ONE ``parse_capture`` call).

        Late decisions follow the rows' source order (``source_index``) across the batches, so they do not
        depend on how records are grouped by model. Returns one :class:`AddResult` per batch.
        """
        wm_before = self._watermarks_before(batches)
        results = []
        with paused_gc():  # many short-lived objects, no cycles: collect once afterwards, not in between
            for batch, wm_b in zip(batches, wm_before, strict=True):
                assignment = self._assign(batch.timestamps_ms, wm_b)
                self._profile(batch, assignment)
                n_late = int(assignment.late.sum())
                n_redirected = int(assignment.redirected.sum())
                dropped = np.flatnonzero(~assignment.keep) if n_late > n_redirected else None
                results.append(AddResult(int(assignment.keep.sum()), n_late, n_late - n_redirected, n_redirected,
                                         dropped))
        for batch in batches:
            if batch.n_rows:
                self._observe(int(batch.timestamps_ms.max()))
        return results

    def _observe(self, max_ts: int) -> None:
        self._max_event = max_ts if self._max_event is None else max(self._max_event, max_ts)
        candidate = self._max_event - self.spec.lateness_ms
        self._wm = candidate if self._wm is None else max(self._wm, candidate)

    def _watermarks_before(self, batches: Sequence[CaptureBatch]) -> list[NDArray[np.int64]]:
        """For every row, the watermark just before it (in source order across ``batches``)."""
        lengths = [b.n_rows for b in batches]
        if sum(lengths) == 0:
            return [np.zeros(0, dtype=np.int64) for _ in batches]
        ts = np.concatenate([b.timestamps_ms for b in batches]).astype(np.int64, copy=False)
        order = np.argsort(np.concatenate([b.source_index for b in batches]), kind="stable")
        ts_sorted = ts[order]
        prev_max = np.empty_like(ts_sorted)
        prev_max[0] = _NO_TIME if self._max_event is None else self._max_event
        np.maximum.accumulate(ts_sorted[:-1], out=prev_max[1:])
        np.maximum(prev_max[1:], prev_max[0], out=prev_max[1:])
        wm_sorted = np.where(prev_max == _NO_TIME, _NO_TIME, prev_max - self.spec.lateness_ms)
        if self._wm is not None:
            np.maximum(wm_sorted, self._wm, out=wm_sorted)
        wm = np.empty_like(wm_sorted)
        wm[order] = wm_sorted
        return np.split(wm, np.cumsum(lengths)[:-1])

    def _is_closed(self, starts: NDArray[np.int64]) -> NDArray[np.bool_]:
        closed = np.zeros(starts.shape[0], dtype=bool)
        if self._frontier is not None:
            closed |= starts < self._frontier
        if self._closed_ahead:
            closed |= np.isin(starts, np.fromiter(self._closed_ahead, dtype=np.int64))
        return closed

    def _assign(self, ts: NDArray[np.int64], wm_before: NDArray[np.int64]) -> _Assignment:
        size = self.spec.size_ms
        starts = window_starts(ts, size)
        late = (starts + size <= wm_before) | self._is_closed(starts)
        redirected = np.zeros_like(late)
        if self.spec.late_policy == "oldest_open" and late.any():
            floor = wm_before if self._frontier is None else np.maximum(wm_before, self._frontier)
            target = window_starts(floor, size)
            redirected = late & (floor != _NO_TIME) & ~self._is_closed(target)
            starts = np.where(redirected, target, starts)
        return _Assignment(starts, ~late | redirected, late, redirected)

    def _profile(self, batch: CaptureBatch, a: _Assignment) -> None:
        rows = np.flatnonzero(a.keep)
        if rows.size == 0:
            return
        uniq, inverse = np.unique(a.starts[rows], return_inverse=True)
        for k, start in enumerate(uniq.tolist()):
            sel = rows if uniq.size == 1 else rows[inverse == k]
            part = Rows(batch, None if sel.size == batch.n_rows else sel)
            acc = self._acc(batch.model_id, batch.model_version, start)
            for monitor in acc.monitors.data:
                monitor.update(acc.states[monitor.name], part)
            acc.n_records += int(sel.size)
            self._open.setdefault(start, set()).add(batch.model_id)

    def _acc(self, model_id: str, model_version: str | None, start: int) -> _Acc:
        acc = self._deltas.get((model_id, start))
        if acc is None:
            monitors = self._monitors_of(model_id)
            acc = self._deltas[(model_id, start)] = _Acc(
                model_version, monitors, {m.name: m.new_state() for m in monitors.data})
        elif model_version is not None:
            acc.model_version = model_version
        return acc

    # ------------------------------------------------------------ watermark, closing, draining

    def advance_idle(self, now_ms: int) -> None:
        """Advance the watermark of a partition the caller found idle to ``now_ms - lateness_ms``."""
        candidate = now_ms - self.spec.lateness_ms
        self._wm = candidate if self._wm is None else max(self._wm, candidate)

    def due_windows(self, limit: int = 10_000) -> list[tuple[int, int]]:
        """(start, end) of windows not closed yet whose end <= watermark, oldest first (at most ``limit``)."""
        if self._wm is None:
            return []
        size = self.spec.size_ms
        start = self._init_frontier(self._wm)
        out: list[tuple[int, int]] = []
        while start + size <= self._wm and len(out) < limit:
            if start not in self._closed_ahead:
                out.append((start, start + size))
            start += size
        return out

    def close(self, window_start_ms: int) -> list[str]:
        """Mark a window closed; later rows for it are late. Returns the models seen in it (sorted)."""
        size = self.spec.size_ms
        if window_start_ms % size:
            raise ConfigError(f"{window_start_ms} is not a window start (size {size} ms)")
        models = sorted(self._open.pop(window_start_ms, set()))
        frontier = self._frontier if self._wm is None else self._init_frontier(self._wm)
        if frontier is not None and window_start_ms < frontier:
            return models
        self._closed_ahead.add(window_start_ms)
        while self._frontier is not None and self._frontier in self._closed_ahead:
            self._closed_ahead.discard(self._frontier)
            self._frontier += size
        return models

    def _init_frontier(self, wm: int) -> int:
        """The frontier, set on first use so that every window before it ended at or before ``wm``.

        It is the oldest window with data, or the window holding the watermark when that is older; with no
        data at all, the window before it (so an idle partition still sends a marker carrying its watermark).
        """
        if self._frontier is None:
            current = _window_start(wm, self.spec.size_ms)
            self._frontier = min(current, *self._open) if self._open else current - self.spec.size_ms
        return self._frontier

    def drain_deltas(self) -> list[WindowDelta]:
        """The (model, window) deltas accumulated since the last drain, oldest window first; then reset."""
        size = self.spec.size_ms
        out = [
            WindowDelta(model, acc.model_version, start, start + size, acc.states[DATA_QUALITY], acc.n_records,
                        {m.name: m.write_state(acc.states[m.name]) for m in acc.monitors.data if m.name != DATA_QUALITY})
            for (model, start), acc in sorted(self._deltas.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]
        self._deltas = {}
        return out
