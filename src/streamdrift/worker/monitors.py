"""The data plane's per-partition state of the three monitors that are not data quality.

One :class:`PartitionMonitors` per assigned capture partition p (and the co-partitioned labels partition p):

* the label join (:class:`~streamdrift.window.joinstore.JoinStore`): predictions of capture p and labels of labels p,
  matched by (model_id, inference_id) whichever arrives first; a joined row is accounted to the window of its
  prediction's timestamp while that window's *labels stage* is open on this partition (else counted as
  ``late``; its error still feeds the concept-drift detector);
* per (model, window): the model-quality state (joined rows), the bias state (capture rows: facets and the
  predicted outcome, configured by the baseline) and the attribution state (capture ``attributions``);
* label outcome counts for ``Metrics.label_joined``.

A window closes twice (see :mod:`streamdrift.window.partials`): its data stage (profile, bias, attribution) when
the capture watermark passes its end (``closed_before``), its labels stage (model quality) when the labels
watermark passes it too (``labels_closed_before``), so late ground truth is still accounted to its window
while data-quality alerts do not wait for it.

Join time is event time, so a replay decides the same: a label "arrives" at its own timestamp; entries expire
against ``min(capture watermark, labels watermark)`` (a pending prediction once labels have moved ``ttl`` past
it, a pending label once predictions have).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Kind
from streamdrift.errors import StreamdriftError
from streamdrift.ingest.records import CaptureBatch, LabelBatch
from streamdrift.monitors.attribution import AttributionState
from streamdrift.monitors.bias import BiasState
from streamdrift.monitors.model_quality import (
    BinaryQualityState,
    ProblemType,
    QualityState,
    RegressionQualityState,
    infer_problem_type,
    new_state,
)
from streamdrift.window.joinstore import JoinCounts, JoinedRows, JoinStore
from streamdrift.window.windows import window_starts
from streamdrift.worker.setup import ModelSetup, column_values

log = logging.getLogger(__name__)

MODEL_QUALITY, BIAS, ATTRIBUTION = "model_quality", "bias", "attribution"
WindowKey = tuple[str, int]  # (model, window start)


@dataclass(frozen=True)
class ErrorStream:
    """Per-record errors of one model's joined rows (0/1 or |error|), with each row's window start."""

    model_id: str
    errors: NDArray[np.float64]
    window_starts: NDArray[np.int64]


def quality_values(column: Column) -> NDArray[Any]:
    """Labels / predicted labels for the quality states: numbers, booleans as 1/0, text as str."""
    numbers = column.numbers.copy()
    if column.strings is None:
        return numbers
    boolean = column.kinds == Kind.BOOLEAN
    numbers[boolean] = column.strings[boolean] == "true"
    if not (column.kinds == Kind.STRING).any():
        return numbers
    return column_values(column)


class PartitionMonitors:
    """Join store and per-window monitor states of one capture partition (see the module docs)."""

    def __init__(self, store: JoinStore, size_ms: int, closed_before: int | None,
                 setup_of: Callable[[str], ModelSetup], labels_closed_before: int | None = None) -> None:
        self.store = store
        self.size_ms = size_ms
        self.closed_before = closed_before  # windows starting before this are closed on this partition
        self.labels_closed_before = labels_closed_before  # ... and their labels stage before this one
        self._setup_of = setup_of
        self.quality: dict[WindowKey, QualityState] = {}
        self.bias: dict[WindowKey, BiasState] = {}
        self.attribution: dict[WindowKey, AttributionState] = {}
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self._kinds: dict[str, ProblemType] = {}  # problem type inferred from the data (no baseline section)

    # ------------------------------------------------------------ inputs

    def add_capture(self, batch: CaptureBatch, wm_before: int | None) -> list[ErrorStream]:
        """Predictions into the join (rows that complete waiting labels are accounted), bias / attribution."""
        setup = self._setup_of(batch.model_id)
        if setup.bias is not None or setup.attribution_features is not None:  # the rows of open windows
            open_rows = self._open_rows(batch.timestamps_ms, wm_before)
            self._add_bias(batch, setup, open_rows)
            self._add_attribution(batch, setup, open_rows)
        if batch.prediction is None and batch.score is None:
            return []
        has_id: NDArray[np.bool_] = batch.inference_ids != None  # noqa: E711 (elementwise)
        if not has_id.any():
            return []
        rows: slice | NDArray[np.intp] = slice(None) if has_id.all() else np.flatnonzero(has_id)
        ids, ts = batch.inference_ids[rows], batch.timestamps_ms[rows]
        y_pred = quality_values(batch.prediction)[rows] if batch.prediction is not None else np.full(ids.size, np.nan)
        score = batch.score[rows] if batch.score is not None else None
        result = self.store.add_predictions(batch.model_id, ids, ts, y_pred, score)
        self._count(result.counts, batch.model_id)
        return self._account(result.rows)

    def add_labels(self, labels: LabelBatch) -> list[ErrorStream]:
        """Labels (arriving at their own timestamps) into the join; joined rows are accounted."""
        if labels.n_rows == 0:
            return []
        values = quality_values(labels.labels)
        streams: list[ErrorStream] = []
        order = np.argsort(labels.timestamps_ms, kind="stable")
        models = labels.model_ids[order]
        for model in dict.fromkeys(models.tolist()):
            sel = order[models == model]
            # one call per distinct arrival time would be exact but slow: the batch arrives at its newest label
            result = self.store.add_labels(labels.model_ids[sel], labels.inference_ids[sel], values[sel],
                                           now_ms=int(labels.timestamps_ms[sel].max()))
            self._count(result.counts, str(model))
            streams += self._account(result.rows)
        return streams

    def expire(self, now_ms: int) -> None:
        counts = self.store.expire(now_ms)
        if counts.expired_label:
            self.outcomes[("", "unmatched")] += counts.expired_label
        if counts.expired_prediction:
            self.outcomes[("", "expired")] += counts.expired_prediction

    def close_window(self, start_ms: int) -> None:
        """The data stage of the window starting at ``start_ms`` closed (bias and attribution rows stop)."""
        end = start_ms + self.size_ms
        self.closed_before = end if self.closed_before is None else max(self.closed_before, end)

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
        """Every (model, window) state added since the last drain, serialized by monitor name."""
        out: dict[WindowKey, dict[str, bytes]] = {}
        for name, states in ((MODEL_QUALITY, self.quality), (BIAS, self.bias), (ATTRIBUTION, self.attribution)):
            for key, state in states.items():
                out.setdefault(key, {})[name] = state.to_bytes()
            states.clear()
        return out

    def take_outcomes(self) -> Counter[tuple[str, str]]:
        out, self.outcomes = self.outcomes, Counter()
        return out

    # ------------------------------------------------------------ internals

    def _open_rows(self, ts: NDArray[np.int64], wm_before: int | None) -> NDArray[np.bool_]:
        """Capture rows whose window's data stage is open."""
        starts = window_starts(ts, self.size_ms)
        keep = np.ones(ts.shape[0], dtype=bool)
        if self.closed_before is not None:
            keep &= starts >= self.closed_before
        if wm_before is not None:
            keep &= starts + self.size_ms > wm_before
        return keep

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

    def _add_bias(self, batch: CaptureBatch, setup: ModelSetup, keep: NDArray[np.bool_]) -> None:
        config = setup.bias
        if config is None or batch.prediction is None:
            return
        if any(f.name not in batch.features.columns for f in config.facets):
            return
        facets = {f.name: column_values(batch.features.columns[f.name]) for f in config.facets}
        by_score = config.predicted.threshold is not None and batch.score is not None
        predicted = batch.score if by_score and batch.score is not None else column_values(batch.prediction)
        for start, rows in self._by_window(batch.timestamps_ms, keep):
            state = self.bias.get((batch.model_id, start))
            if state is None:
                state = self.bias[(batch.model_id, start)] = BiasState.empty(config)
            try:
                state.update({k: v[rows] for k, v in facets.items()}, predicted[rows])
            except StreamdriftError as exc:
                log.warning("bias update of %s failed: %s", batch.model_id, exc)

    def _add_attribution(self, batch: CaptureBatch, setup: ModelSetup, keep: NDArray[np.bool_]) -> None:
        features = setup.attribution_features
        if features is None or batch.attributions is None:
            return
        columns = {n: c.numbers for n, c in batch.attributions.columns.items() if n in features}
        if not columns:
            return
        for start, rows in self._by_window(batch.timestamps_ms, keep):
            state = self.attribution.get((batch.model_id, start))
            if state is None:
                state = self.attribution[(batch.model_id, start)] = AttributionState.empty(features)
            state.update_columns({k: v[rows] for k, v in columns.items()})

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
            stream = self._account_model(model, rows, sel)
            if stream is not None:
                streams.append(stream)
        return streams

    def _account_model(self, model: str, rows: JoinedRows, sel: NDArray[np.intp]) -> ErrorStream | None:
        ts = rows.timestamps_ms[sel]
        truth, pred, score = rows.labels[sel], rows.y_pred[sel], rows.score[sel]
        kind = self._kind(model, truth, pred, score)
        valid = _valid_rows(kind, truth, pred, score)
        if (n_bad := int((~valid).sum())) > 0:
            self.outcomes[(model, "invalid")] += n_bad
        open_ = self._labels_open(ts)
        keep = open_ & valid
        if late := int((valid & ~open_).sum()):
            self.outcomes[(model, "late")] += late
        if kept := int(keep.sum()):
            self.outcomes[(model, "matched")] += kept
        for start, idx in self._by_window(ts, keep):
            state = self.quality.get((model, start))
            if state is None:
                state = self.quality[(model, start)] = self._new_state(model, kind)
            _update_state(state, truth[idx], pred[idx], score[idx])
        # late rows still tell the concept-drift detector how the model does now
        usable = np.flatnonzero(valid)
        if usable.size == 0:
            return None
        errors = _errors(kind, self._threshold(model), truth[usable], pred[usable], score[usable])
        return ErrorStream(model, errors, window_starts(ts[usable], self.size_ms))

    def _kind(self, model: str, truth: NDArray[Any], pred: NDArray[Any], score: NDArray[np.float64]) -> ProblemType:
        setup = self._setup_of(model)
        if setup.quality is not None:
            return setup.quality.problem_type
        kind = self._kinds.get(model)
        if kind is None:
            has_pred = pred.dtype.kind != "f" or np.isfinite(pred).any()
            kind = self._kinds[model] = infer_problem_type(
                truth, pred if has_pred else None, score if np.isfinite(score).any() else None)
        return kind

    def _threshold(self, model: str) -> float:
        setup = self._setup_of(model)
        return setup.quality.threshold if setup.quality is not None else 0.5

    def _new_state(self, model: str, kind: ProblemType) -> QualityState:
        setup = self._setup_of(model)
        if setup.quality is not None:
            return setup.quality.new_state()
        return new_state(kind)


def _valid_rows(kind: ProblemType, truth: NDArray[Any], pred: NDArray[Any], score: NDArray[np.float64]) -> NDArray[np.bool_]:
    if kind is ProblemType.MULTICLASS:
        return np.array([t is not None and t == t for t in truth.tolist()], dtype=bool)
    t = _floats(truth)
    p = _floats(pred)
    if kind is ProblemType.REGRESSION:
        return np.isfinite(t) & np.isfinite(p)
    ok_truth = (t == 0.0) | (t == 1.0)
    ok_pred = (p == 0.0) | (p == 1.0) | (np.isnan(p) & np.isfinite(score))
    out: NDArray[np.bool_] = ok_truth & ok_pred
    return out


def _floats(values: NDArray[Any]) -> NDArray[np.float64]:
    if values.dtype.kind == "f":
        return values
    out = np.full(values.shape[0], np.nan)
    for i, v in enumerate(values.tolist()):  # text labels of a numeric problem: rare, invalid rows
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[i] = float(v)
    return out


def _update_state(state: QualityState, truth: NDArray[Any], pred: NDArray[Any], score: NDArray[np.float64]) -> None:
    if isinstance(state, BinaryQualityState):
        p = _floats(pred)
        has_pred = bool(np.isfinite(p).all())
        state.update(_floats(truth), p if has_pred else None, score if np.isfinite(score).any() else None)
    elif isinstance(state, RegressionQualityState):
        state.update(_floats(truth), _floats(pred))
    else:
        state.update(truth, pred)


def _errors(kind: ProblemType, threshold: float, truth: NDArray[Any], pred: NDArray[Any],
            score: NDArray[np.float64]) -> NDArray[np.float64]:
    if kind is ProblemType.REGRESSION:
        out: NDArray[np.float64] = np.abs(_floats(pred) - _floats(truth))
        return out
    if kind is ProblemType.BINARY:
        p = _floats(pred)
        p = np.where(np.isnan(p), (score >= threshold).astype(np.float64), p)
        wrong: NDArray[np.float64] = (p != _floats(truth)).astype(np.float64)
        return wrong
    return np.array([str(a) != str(b) for a, b in zip(truth.tolist(), pred.tolist(), strict=True)], dtype=np.float64)
