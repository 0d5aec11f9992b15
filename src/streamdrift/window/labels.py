"""The labels stage of one capture partition's windows: the label join and the labels-stage monitors' states.

One :class:`PartitionLabels` per capture partition p (and the co-partitioned labels partition p):

* the label join (:class:`~streamdrift.window.joinstore.JoinStore`): predictions of capture p and labels of
  labels p, matched by (model_id, inference_id) whichever arrives first; a joined row is accounted to the
  window of its prediction's timestamp while that window's *labels stage* is open on this partition (else
  counted as ``late``; its error still feeds the concept-drift detector);
* per (model, window): the states of the model's labels-stage monitors (model quality), fed with the joined
  rows (:class:`~streamdrift.monitors.base.LabelledRows`);
* label outcome counts for ``Metrics.label_joined``.

A window's labels stage closes when both the capture and the labels watermark passed its end (the caller's
:meth:`PartitionLabels.close_labels`), so late ground truth is still accounted to its window while the data
stage (profile, bias, attribution) does not wait for it.

Join time is event time, so a replay decides the same: a label "arrives" at its own timestamp; entries expire
against ``min(capture watermark, labels watermark)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureBatch, LabelBatch, role_values
from streamdrift.columns.columns import Column
from streamdrift.monitors.base import LabelledRows
from streamdrift.monitors.model_quality.monitor import NAME as MODEL_QUALITY
from streamdrift.monitors.model_quality.monitor import ModelQualityMonitor
from streamdrift.monitors.registry import ModelMonitors
from streamdrift.window.joinstore import JoinCounts, JoinedRows, JoinResult, JoinStore
from streamdrift.window.windows import window_starts

WindowKey = tuple[str, int]  # (model, window start)


@dataclass(frozen=True)
class ErrorStream:
    """Per-record errors of one model's joined rows (0/1 or |error|), with each row's window start."""

    model_id: str
    errors: NDArray[np.float64]
    window_starts: NDArray[np.int64]


def quality_values(column: Column) -> NDArray[Any]:
    """Labels / predicted labels as the join keeps them: :func:`~streamdrift.columns.chunks.role_values`
    (float64, booleans 1 / 0, NaN missing; or text, numbers written as labels, None missing)."""
    return role_values(column)


def add_predictions(store: JoinStore, batch: CaptureBatch) -> JoinResult | None:
    """A capture batch's predictions (rows with an inference id and a prediction or score) into the join."""
    if batch.prediction is None and batch.score is None:
        return None
    has_id: NDArray[np.bool_] = batch.inference_ids != None  # noqa: E711 (elementwise)
    if not has_id.any():
        return None
    rows: slice | NDArray[np.intp] = slice(None) if has_id.all() else np.flatnonzero(has_id)
    ids, ts = batch.inference_ids[rows], batch.timestamps_ms[rows]
    y_pred = quality_values(batch.prediction)[rows] if batch.prediction is not None else np.full(ids.size, np.nan)
    score = batch.score[rows] if batch.score is not None else None
    return store.add_predictions(batch.model_id, ids, ts, y_pred, score)


def add_labels(store: JoinStore, labels: LabelBatch) -> list[tuple[str, JoinResult]]:
    """Labels into the join, per model; each model's batch arrives at its newest label's timestamp."""
    if labels.n_rows == 0:
        return []
    values = quality_values(labels.labels)
    order = np.argsort(labels.timestamps_ms, kind="stable")
    models = labels.model_ids[order]
    out = []
    for model in dict.fromkeys(models.tolist()):
        sel = order[models == model]
        # one call per distinct arrival time would be exact but slow: the batch arrives at its newest label
        out.append((str(model), store.add_labels(labels.model_ids[sel], labels.inference_ids[sel], values[sel],
                                                 now_ms=int(labels.timestamps_ms[sel].max()))))
    return out


class PartitionLabels:
    """Join store and labels-stage monitor states of one capture partition (see the module docs)."""

    def __init__(self, store: JoinStore, size_ms: int, monitors_of: Callable[[str], ModelMonitors],
                 labels_closed_before: int | None = None) -> None:
        self.store = store
        self.size_ms = size_ms
        self.labels_closed_before = labels_closed_before  # labels stage closed for windows starting before this
        self._monitors_of = monitors_of
        self.states: dict[WindowKey, dict[str, Any]] = {}
        self._monitors: dict[WindowKey, ModelMonitors] = {}
        self.outcomes: Counter[tuple[str, str]] = Counter()

    # ------------------------------------------------------------ inputs

    def add_captures(self, batches: list[CaptureBatch]) -> list[ErrorStream]:
        """Predictions into the join; rows completing waiting labels are accounted. Returns the error streams."""
        streams: list[ErrorStream] = []
        for batch in batches:
            result = add_predictions(self.store, batch)
            if result is not None:
                self._count(result.counts, batch.model_id)
                streams += self._account(result.rows)
        return streams

    def add_labels(self, labels: LabelBatch) -> list[ErrorStream]:
        """Labels (arriving at their own timestamps) into the join; joined rows are accounted."""
        streams: list[ErrorStream] = []
        for model, result in add_labels(self.store, labels):
            self._count(result.counts, model)
            streams += self._account(result.rows)
        return streams

    def expire(self, now_ms: int) -> None:
        counts = self.store.expire(now_ms)
        if counts.expired_label:
            self.outcomes[("", "unmatched")] += counts.expired_label
        if counts.expired_prediction:
            self.outcomes[("", "expired")] += counts.expired_prediction

    def close_labels(self, watermark_ms: int) -> int | None:
        """Close the labels stage of every window ending at or before ``watermark_ms`` (the smaller of the
        capture and labels watermarks); returns the new ``labels_closed_before`` when it moved, else None."""
        boundary = watermark_ms - watermark_ms % self.size_ms
        if self.labels_closed_before is not None and boundary <= self.labels_closed_before:
            return None
        self.labels_closed_before = boundary
        return boundary

    # ------------------------------------------------------------ outputs

    def drain(self) -> dict[WindowKey, dict[str, bytes]]:
        """Every (model, window) state changed since the last drain, serialized by monitor name."""
        out: dict[WindowKey, dict[str, bytes]] = {}
        for key, states in self.states.items():
            monitors = self._monitors[key]
            out[key] = {name: m.write_state(states[name]) for m in monitors.labels if (name := m.name) in states}
        self.states.clear()
        self._monitors.clear()
        return out

    def take_outcomes(self) -> Counter[tuple[str, str]]:
        out, self.outcomes = self.outcomes, Counter()
        return out

    # ------------------------------------------------------------ internals

    def _labels_open(self, ts: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Joined rows whose prediction window's labels stage is open."""
        if self.labels_closed_before is None:
            return np.ones(ts.shape[0], dtype=bool)
        out: NDArray[np.bool_] = window_starts(ts, self.size_ms) >= self.labels_closed_before
        return out

    def _by_window(self, ts: NDArray[np.int64], keep: NDArray[np.bool_]) -> list[tuple[int, NDArray[np.intp]]]:
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            return []
        starts = window_starts(ts[rows], self.size_ms)
        uniq, inverse = np.unique(starts, return_inverse=True)
        return [(int(s), rows[inverse == k]) for k, s in enumerate(uniq.tolist())]

    def _count(self, counts: JoinCounts, model: str) -> None:
        for outcome, n in (("duplicate", counts.duplicate_label), ("early", counts.unmatched_label),
                           ("duplicate_prediction", counts.duplicate_prediction),
                           ("sampled_out", counts.sampled_out_label)):
            if n:
                self.outcomes[(model, outcome)] += n

    def _account(self, rows: JoinedRows) -> list[ErrorStream]:
        """Joined rows into their prediction's window (when still open); returns the error streams."""
        if len(rows) == 0:
            return []
        models = np.asarray(rows.model_ids, dtype=object)
        streams = []
        for model in dict.fromkeys(rows.model_ids):
            sel = np.flatnonzero(models == model)
            joined = LabelledRows(rows.timestamps_ms[sel], rows.y_pred[sel], rows.score[sel], rows.labels[sel])
            stream = self._account_model(model, joined)
            if stream is not None:
                streams.append(stream)
        return streams

    def _account_model(self, model: str, rows: LabelledRows) -> ErrorStream | None:
        monitors = self._monitors_of(model)
        quality = monitors.get(MODEL_QUALITY)
        valid = quality.usable(rows) if isinstance(quality, ModelQualityMonitor) else np.ones(rows.n_rows, bool)
        if (n_bad := int((~valid).sum())) > 0:
            self.outcomes[(model, "invalid")] += n_bad
        open_ = self._labels_open(rows.timestamps_ms)
        keep = open_ & valid
        if late := int((valid & ~open_).sum()):
            self.outcomes[(model, "late")] += late
        if kept := int(keep.sum()):
            self.outcomes[(model, "matched")] += kept
        for start, idx in self._by_window(rows.timestamps_ms, keep):
            part = rows.take(idx)
            key = (model, start)
            states = self.states.get(key)
            if states is None:
                states = self.states[key] = {}
                self._monitors[key] = monitors
            for monitor in self._monitors[key].labels:
                state = states.get(monitor.name)
                if state is None:
                    state = states[monitor.name] = monitor.new_state(part)
                monitor.update(state, part)
        # late rows still tell the concept-drift detector how the model does now
        usable = np.flatnonzero(valid)
        if usable.size == 0 or not isinstance(quality, ModelQualityMonitor):
            return None
        part = rows.take(usable)
        return ErrorStream(model, quality.errors(part), window_starts(part.timestamps_ms, self.size_ms))
