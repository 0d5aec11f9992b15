"""The one monitor interface that ``streamdrift check`` and the stream worker both call.

A monitor kind (data quality, model quality, bias, attribution, ...) is one :class:`Monitor` subclass, built
per model from the model's baseline (:mod:`streamdrift.monitors.registry`). It owns

* its mergeable window state (``new_state`` / ``update`` / ``read_state``; the state itself merges and
  serializes through the shared blob envelope, see :mod:`streamdrift.profile.sketches`);
* the window *stage* that feeds and closes it: ``data`` monitors see the capture rows routed to a window
  (:class:`Rows`) and close when the capture watermark passes the window's end; ``labels`` monitors see the
  rows the label join completed (:class:`LabelledRows`) and close when the labels watermark passes it too, so
  late ground truth still counts;
* how a merged state is judged against the model's baseline (``judge``): violations, the checks that ran (a
  clean check clears a raised alert), a JSON summary for ``/status`` and ``summary.json``, a short verdict, and
  the SageMaker violation files of the window.

Nothing here knows Kafka or files: the windowing (:mod:`streamdrift.window`) routes rows to states, the merge
folds the partitions' states, and :mod:`streamdrift.events.judge` turns results into events.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Generic, Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Column, Columns, take, take_column
from streamdrift.errors import BaselineError
from streamdrift.monitors.violations import CheckKey, Violation

Stage = Literal["data", "labels"]
#: A window closes twice: ``data`` when the capture watermark passes its end (profile, bias, attribution);
#: ``labels`` when the labels watermark passes it too (model quality: late ground truth still counts).
DATA: Final[Stage] = "data"
LABELS: Final[Stage] = "labels"

S = TypeVar("S")
R = TypeVar("R", contravariant=True)


class Rows:
    """One model's capture rows routed to one window: a row subset of a :class:`CaptureBatch`, its parts
    taken only when a monitor asks for them (the profile needs the features, bias the facets and predictions,
    attribution the attributions)."""

    __slots__ = ("__dict__", "_batch", "_rows")

    def __init__(self, batch: CaptureBatch, rows: NDArray[np.intp] | slice | None = None) -> None:
        self._batch = batch
        self._rows = _as_slice(rows, batch.n_rows)

    @property
    def batch(self) -> CaptureBatch:
        return self._batch

    @functools.cached_property
    def n_rows(self) -> int:
        rows = self._rows
        if isinstance(rows, slice):
            return len(range(*rows.indices(self._batch.n_rows)))
        return int(rows.shape[0])

    @functools.cached_property
    def features(self) -> Columns:
        return _take_columns(self._batch.features, self._rows, self._batch.n_rows)

    @functools.cached_property
    def prediction(self) -> Column | None:
        column = self._batch.prediction
        return None if column is None else take_column(column, self._rows)

    @functools.cached_property
    def score(self) -> NDArray[np.float64] | None:
        score = self._batch.score
        return None if score is None else score[self._rows]

    @functools.cached_property
    def attributions(self) -> Columns | None:
        columns = self._batch.attributions
        return None if columns is None else _take_columns(columns, self._rows, self._batch.n_rows)

    @functools.cached_property
    def labels(self) -> NDArray[Any] | None:
        """The rows' own labels (role values), when the input carried them with the rows (``check`` on a file
        with its target column or a label file read up front); never in the stream, where labels come later
        through the join (:class:`LabelledRows`)."""
        labels = self._batch.labels
        return None if labels is None else labels[self._rows]


def _as_slice(rows: NDArray[np.intp] | slice | None, n: int) -> NDArray[np.intp] | slice:
    """Sorted row indices as a slice when they are one contiguous run (views instead of copies)."""
    if rows is None:
        return slice(0, n)
    if isinstance(rows, slice):
        return rows
    if rows.size and int(rows[-1]) - int(rows[0]) + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _take_columns(columns: Columns, rows: NDArray[np.intp] | slice, n: int) -> Columns:
    if isinstance(rows, slice):
        if rows == slice(0, n):
            return columns
        return Columns(len(range(*rows.indices(n))),
                       {name: take_column(col, rows) for name, col in columns.columns.items()})
    return take(columns, rows)


@dataclass(frozen=True, slots=True)
class LabelledRows:
    """Rows the label join completed for one model and window: the prediction (class / value / NaN), its score
    (NaN where none), the ground truth, each row's prediction timestamp."""

    timestamps_ms: NDArray[np.int64]
    y_pred: NDArray[Any]
    score: NDArray[np.float64]
    y_true: NDArray[Any]

    @property
    def n_rows(self) -> int:
        return int(self.timestamps_ms.shape[0])

    def take(self, rows: NDArray[np.intp]) -> LabelledRows:
        return LabelledRows(self.timestamps_ms[rows], self.y_pred[rows], self.score[rows], self.y_true[rows])


@dataclass(frozen=True)
class MonitorResult:
    """One monitor's judgement of one closed window."""

    monitor: str
    violations: list[Violation]
    checked: frozenset[CheckKey]  # every check judged (violated or not): clean ones clear raised alerts
    summary: dict[str, Any]  # JSON-able: /status, summary.json
    verdict: str  # short text for a summary table
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # window-relative path -> JSON document
    n_window: int = 0  # records (or labelled rows) judged
    n_baseline: int | None = None
    # what a clean check measured (statistic, value, threshold, p-value), for the event that clears it
    measurements: Mapping[CheckKey, Violation] = field(default_factory=dict)
    details: Any = None  # the monitor's own result object (data quality: the WindowEvaluation, for reports)


class MetricSink(Protocol):
    """The part of :class:`streamdrift.metrics.Metrics` monitors publish to (the worker's Prometheus series)."""

    def set_drift(self, model: str, feature: str, statistic: str, value: float, threshold: float) -> None: ...
    def set_drift_state(self, model: str, monitor: str, feature: str, drifting: bool) -> None: ...
    def set_model_quality(self, model: str, metric: str, value: float) -> None: ...
    def set_bias(self, model: str, facet: str, metric: str, value: float) -> None: ...
    def set_attribution_ndcg(self, model: str, value: float) -> None: ...
    def set_estimated_performance(self, model: str, metric: str, value: float) -> None: ...
    def set_reconstruction_error(self, model: str, quantile: str, value: float) -> None: ...
    def set_segment_drift(self, model: str, segment: str, feature: str, statistic: str, value: float,
                          drifting: bool) -> None: ...


class Monitor(ABC, Generic[S, R]):
    """One monitor kind for one model (its baseline section and rule settings are fixed at construction)."""

    name: ClassVar[str]
    stage: ClassVar[Stage]

    @abstractmethod
    def new_state(self, rows: R | None = None) -> S:
        """An empty window state (``rows``: the first rows it will see, for monitors that size their state
        from the data, e.g. model quality without a baseline infers the problem type)."""

    @abstractmethod
    def update(self, state: S, rows: R) -> None:
        """Add rows of the window (vectorized; rows the monitor cannot use are skipped, never raised on)."""

    @abstractmethod
    def read_state(self, blob: bytes) -> S:
        """A state from its blob (CorruptBlobError and friends on bad bytes)."""

    @abstractmethod
    def write_state(self, state: S) -> bytes:
        """The state's blob."""

    @abstractmethod
    def judge(self, state: S) -> MonitorResult:
        """The merged window state against the baseline section (pure)."""

    def publish(self, result: MonitorResult, sink: MetricSink, model_id: str) -> None:
        """Set this monitor's Prometheus series from a result (default: none)."""


class DataMonitor(Monitor[S, Rows]):
    """A monitor of the capture rows (closed with the window's data stage)."""

    stage: ClassVar[Stage] = DATA


class LabelsMonitor(Monitor[S, LabelledRows]):
    """A monitor of the rows the label join completed (closed with the window's labels stage)."""

    stage: ClassVar[Stage] = LABELS


def no_result(monitor: str, status: str, **summary: Any) -> MonitorResult:
    """A window the monitor could not judge (no baseline, no labels, ...): no checks, the reason in status."""
    return MonitorResult(monitor, [], frozenset(), {"status": status, **summary}, status.replace("_", " "))


def check_section_version(data: Mapping[str, Any], section: str, supported: int) -> None:
    """Raise :class:`BaselineError` unless a baseline section's ``version`` is the one this build reads."""
    version = data.get("version")
    if version != supported:
        raise BaselineError(f"{section} section version {version!r} is not supported (this build reads {supported})")


def fmt(x: float | None) -> str:
    """A number for a verdict or description: 4 significant digits, '-' when undefined."""
    return "-" if x is None or not np.isfinite(x) else f"{x:.4g}"


def finite_or_none(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if np.isfinite(v)}
