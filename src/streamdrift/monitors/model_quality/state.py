"""Mergeable per-window model-quality states (same interface as every sketch: empty/update/merge/bytes).

* :class:`BinaryQualityState`: confusion counts at ``threshold`` plus fixed-bin score histograms of positives
  and negatives (``n_bins`` equal bins on [0, 1]) for AUC, and the log-loss sums.
* :class:`MulticlassQualityState`: a confusion matrix over a class index map that grows as labels appear.
* :class:`RegressionQualityState`: exact sums of the error and its powers, Chan-merged mean/M2 of the label and
  of the prediction (R2 under both conventions), and absolute-percentage-error sums over rows with y != 0.

Counts merge exactly (integers); float sums merge up to float rounding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from typing import Any, Final, Self

import numpy as np
import orjson
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import BadRecordError, CorruptBlobError, MergeError, ParameterMismatchError
from streamdrift.monitors.model_quality._blob import pack, peek_kind, unpack
from streamdrift.profile.sketches import BlobKind, Params

DEFAULT_THRESHOLD: Final[float] = 0.5
DEFAULT_BINS: Final[int] = 1024
LOG_LOSS_EPS: Final[float] = 1e-15
_BINARY_HEAD: Final[struct.Struct] = struct.Struct("<dI5qdd")
_REGRESSION_LAYOUT: Final[struct.Struct] = struct.Struct("<q8dq2d")
_THRESHOLD_BITS: Final[struct.Struct] = struct.Struct("<d")


def _float_array(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise BadRecordError("non_numeric", f"{name} must be numeric: {exc}") from exc


def _binary_labels(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = _float_array(values, name)
    bad = np.isfinite(arr) & (arr != 0.0) & (arr != 1.0)
    if bad.any():
        raise BadRecordError("bad_label", f"{name} of a binary model must be 0/1, got {arr[bad][0]!r}")
    return arr


@dataclass(slots=True)
class BinaryQualityState:
    """Confusion counts, score histograms and log-loss sums of a binary classifier over one window."""

    threshold: float = DEFAULT_THRESHOLD
    n_bins: int = DEFAULT_BINS
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    n_scored: int = 0
    log_loss_sum: float = 0.0
    log_loss_sq_sum: float = 0.0
    pos_hist: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    neg_hist: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0 or self.n_bins < 2:
            raise ParameterMismatchError(f"binary state needs threshold in [0,1] and n_bins >= 2 "
                                         f"(got {self.threshold}, {self.n_bins})")
        if self.pos_hist.size == 0:
            self.pos_hist = np.zeros(self.n_bins, dtype=np.int64)
            self.neg_hist = np.zeros(self.n_bins, dtype=np.int64)

    @classmethod
    def empty(cls, threshold: float = DEFAULT_THRESHOLD, n_bins: int = DEFAULT_BINS) -> Self:
        return cls(threshold=threshold, n_bins=n_bins)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def update(self, y_true: ArrayLike, y_pred: ArrayLike | None = None, score: ArrayLike | None = None) -> None:
        """Add a batch. The predicted label is ``y_pred`` when given, else ``score >= threshold``.

        Rows whose label (or predicted label) is NaN are skipped; scores outside [0, 1] are clipped into the
        end bins, NaN scores only leave the histograms and log loss out.
        """
        truth = _binary_labels(y_true, "y_true")
        scores = None if score is None else _float_array(score, "score")
        if y_pred is not None:
            pred = _binary_labels(y_pred, "y_pred")
        elif scores is not None:
            pred = np.where(np.isnan(scores), np.nan, (scores >= self.threshold).astype(np.float64))
        else:
            raise BadRecordError("no_prediction", "a binary model-quality update needs y_pred or score")
        if pred.shape != truth.shape or (scores is not None and scores.shape != truth.shape):
            raise BadRecordError("shape_mismatch", "y_true, y_pred and score must have the same length")
        ok = np.isfinite(truth) & np.isfinite(pred)
        cells = np.bincount((truth[ok] * 2 + pred[ok]).astype(np.intp), minlength=4)
        self.tn += int(cells[0])
        self.fp += int(cells[1])
        self.fn += int(cells[2])
        self.tp += int(cells[3])
        if scores is not None:
            self._update_scores(truth, scores)

    def _update_scores(self, truth: NDArray[np.float64], scores: NDArray[np.float64]) -> None:
        ok = np.isfinite(truth) & np.isfinite(scores)
        t, s = truth[ok], np.clip(scores[ok], 0.0, 1.0)
        bins = np.minimum((s * self.n_bins).astype(np.intp), self.n_bins - 1)
        positive = t == 1.0
        self.pos_hist += np.bincount(bins[positive], minlength=self.n_bins)
        self.neg_hist += np.bincount(bins[~positive], minlength=self.n_bins)
        p = np.clip(s, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
        losses = -np.where(positive, np.log(p), np.log1p(-p))
        self.n_scored += int(t.size)
        self.log_loss_sum += float(losses.sum())
        self.log_loss_sq_sum += float(np.square(losses).sum())

    def merge(self, other: BinaryQualityState) -> Self:
        if not isinstance(other, BinaryQualityState):
            raise MergeError(f"cannot merge {type(other).__name__} into BinaryQualityState")
        if (other.threshold, other.n_bins) != (self.threshold, self.n_bins):
            raise MergeError(f"binary states differ: threshold/bins {self.threshold}/{self.n_bins} vs "
                             f"{other.threshold}/{other.n_bins}")
        self.tp += other.tp
        self.fp += other.fp
        self.tn += other.tn
        self.fn += other.fn
        self.n_scored += other.n_scored
        self.log_loss_sum += other.log_loss_sum
        self.log_loss_sq_sum += other.log_loss_sq_sum
        self.pos_hist += other.pos_hist
        self.neg_hist += other.neg_hist
        return self

    def reset(self) -> None:
        """Back to an empty state with the same threshold and bins."""
        self.tp = self.fp = self.tn = self.fn = self.n_scored = 0
        self.log_loss_sum = self.log_loss_sq_sum = 0.0
        self.pos_hist = np.zeros(self.n_bins, dtype=np.int64)
        self.neg_hist = np.zeros(self.n_bins, dtype=np.int64)

    def to_bytes(self) -> bytes:
        head = _BINARY_HEAD.pack(self.threshold, self.n_bins, self.tp, self.fp, self.tn, self.fn, self.n_scored,
                               self.log_loss_sum, self.log_loss_sq_sum)
        payload = head + self.pos_hist.tobytes() + self.neg_hist.tobytes()
        return pack(BlobKind.MODEL_QUALITY_BINARY, payload, _binary_params(self.threshold, self.n_bins))

    @classmethod
    def from_bytes(cls, blob: bytes, threshold: float | None = None, n_bins: int | None = None) -> Self:
        """Read a blob; with ``threshold`` / ``n_bins`` given, other parameters are a ParameterMismatchError."""
        params, payload = unpack(blob, BlobKind.MODEL_QUALITY_BINARY, n_params=3)
        size = _BINARY_HEAD.size
        if len(payload) < size:
            raise _corrupt("binary")
        thr, n_bins_read, tp, fp, tn, fn, n_scored, ll, ll2 = _BINARY_HEAD.unpack_from(payload)
        if params != _binary_params(thr, n_bins_read):
            raise CorruptBlobError(f"binary model-quality payload (threshold {thr}, {n_bins_read} bins) "
                                   f"differs from its envelope's parameters {params}")
        if (threshold is not None and threshold != thr) or (n_bins is not None and n_bins != n_bins_read):
            raise ParameterMismatchError(f"binary model-quality blob has threshold {thr} and {n_bins_read} bins, "
                                         f"expected {threshold} and {n_bins}")
        if len(payload) != size + 16 * n_bins_read:
            raise _corrupt("binary")
        hists = np.frombuffer(payload, dtype=np.int64, offset=size).reshape(2, n_bins_read).copy()
        return cls(threshold=thr, n_bins=n_bins_read, tp=tp, fp=fp, tn=tn, fn=fn, n_scored=n_scored,
                   log_loss_sum=ll, log_loss_sq_sum=ll2, pos_hist=hists[0], neg_hist=hists[1])


def _binary_params(threshold: float, n_bins: int) -> Params:
    """Envelope slots of a binary state: bins, then the two 32-bit halves of the float64 threshold (exact)."""
    bits = int.from_bytes(_THRESHOLD_BITS.pack(threshold), "little")
    return (n_bins, bits & 0xFFFFFFFF, bits >> 32)


def _corrupt(kind: str) -> CorruptBlobError:
    return CorruptBlobError(f"{kind} model-quality payload has the wrong size")


def class_labels(values: ArrayLike) -> NDArray[np.str_]:
    """Labels as strings: integral floats become ``"1"`` (not ``"1.0"``), so 1, 1.0 and "1" are one class."""
    arr = np.asarray(values).reshape(-1)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise BadRecordError("bad_label", "class labels must not be NaN/inf")
        if np.array_equal(arr, np.round(arr)):
            arr = arr.astype(np.int64)
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    return arr.astype(np.str_)


@dataclass(slots=True)
class MulticlassQualityState:
    """Confusion matrix (rows: actual, columns: predicted) over ``classes``, which grows as labels appear."""

    classes: list[str] = field(default_factory=list)
    matrix: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    @classmethod
    def empty(cls) -> Self:
        return cls()

    @property
    def n(self) -> int:
        return int(self.matrix.sum())

    def _grow(self, labels: list[str]) -> NDArray[np.intp]:
        """Index of each label, adding unseen labels at the end (a loop over distinct labels only)."""
        index = {c: i for i, c in enumerate(self.classes)}
        new = [c for c in labels if c not in index]
        if new:
            for c in new:
                index[c] = len(self.classes)
                self.classes.append(c)
            k = len(self.classes)
            grown = np.zeros((k, k), dtype=np.int64)
            old = self.matrix.shape[0]
            grown[:old, :old] = self.matrix
            self.matrix = grown
        return np.fromiter((index[c] for c in labels), dtype=np.intp, count=len(labels))

    def update(self, y_true: ArrayLike, y_pred: ArrayLike | None = None, score: ArrayLike | None = None) -> None:
        """Add a batch of (actual, predicted) class labels; ``score`` is ignored (kept for one interface)."""
        if y_pred is None:
            raise BadRecordError("no_prediction", "a multiclass model-quality update needs y_pred")
        truth, pred = class_labels(y_true), class_labels(y_pred)
        if truth.shape != pred.shape:
            raise BadRecordError("shape_mismatch", "y_true and y_pred must have the same length")
        if truth.size == 0:
            return
        uniq, inverse = np.unique(np.concatenate([truth, pred]), return_inverse=True)
        codes = self._grow([str(u) for u in uniq])[inverse]
        k = len(self.classes)
        flat = codes[: truth.size] * k + codes[truth.size :]
        self.matrix += np.bincount(flat, minlength=k * k).reshape(k, k)

    def merge(self, other: MulticlassQualityState) -> Self:
        if not isinstance(other, MulticlassQualityState):
            raise MergeError(f"cannot merge {type(other).__name__} into MulticlassQualityState")
        codes = self._grow(list(other.classes))
        self.matrix[np.ix_(codes, codes)] += other.matrix
        return self

    def reset(self) -> None:
        """Back to an empty state (no classes)."""
        self.classes = []
        self.matrix = np.zeros((0, 0), dtype=np.int64)

    def to_bytes(self) -> bytes:
        names = orjson.dumps(self.classes)
        return pack(BlobKind.MODEL_QUALITY_MULTICLASS, struct.pack("<I", len(names)) + names + self.matrix.tobytes())

    @classmethod
    def from_bytes(cls, blob: bytes) -> Self:
        _, payload = unpack(blob, BlobKind.MODEL_QUALITY_MULTICLASS)
        try:
            (length,) = struct.unpack_from("<I", payload)
            classes = orjson.loads(payload[4 : 4 + length])
        except (struct.error, orjson.JSONDecodeError) as exc:
            raise _corrupt("multiclass") from exc
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise _corrupt("multiclass")
        k = len(classes)
        body = payload[4 + length :]
        if len(body) != 8 * k * k:
            raise _corrupt("multiclass")
        matrix = np.frombuffer(body, dtype=np.int64).reshape(k, k).copy()
        return cls(classes=classes, matrix=matrix)


def _chan(n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float) -> tuple[float, float]:
    n = n_a + n_b
    if n == 0:
        return 0.0, 0.0
    delta = mean_b - mean_a
    return mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


@dataclass(slots=True)
class RegressionQualityState:
    """Exact sums for MAE/MSE/RMSE/R2/MAPE and their standard errors (err = y_pred - y_true)."""

    n: int = 0
    sum_err: float = 0.0
    sum_abs_err: float = 0.0
    sum_sq_err: float = 0.0
    sum_err4: float = 0.0
    mean_y: float = 0.0
    m2_y: float = 0.0
    mean_pred: float = 0.0
    m2_pred: float = 0.0
    n_ape: int = 0
    sum_ape: float = 0.0
    sum_ape_sq: float = 0.0

    @classmethod
    def empty(cls) -> Self:
        return cls()

    def update(self, y_true: ArrayLike, y_pred: ArrayLike | None = None, score: ArrayLike | None = None) -> None:
        """Add a batch; rows with a non-finite label or prediction are skipped. ``score`` is ignored."""
        if y_pred is None:
            raise BadRecordError("no_prediction", "a regression model-quality update needs y_pred")
        truth, pred = _float_array(y_true, "y_true"), _float_array(y_pred, "y_pred")
        if truth.shape != pred.shape:
            raise BadRecordError("shape_mismatch", "y_true and y_pred must have the same length")
        ok = np.isfinite(truth) & np.isfinite(pred)
        self.merge(self._from_batch(truth[ok], pred[ok]))

    @classmethod
    def _from_batch(cls, y: NDArray[np.float64], p: NDArray[np.float64]) -> Self:
        if y.size == 0:
            return cls()
        err = p - y
        nz = y != 0.0
        with np.errstate(over="ignore"):
            sq = np.square(err)
            ape = np.abs(err[nz] / y[nz])
            ape_sq = np.square(ape)
            err4 = np.square(sq)
        return cls(n=int(y.size), sum_err=float(err.sum()), sum_abs_err=float(np.abs(err).sum()),
                   sum_sq_err=float(sq.sum()), sum_err4=float(err4.sum()),
                   mean_y=float(y.mean()), m2_y=float(np.square(y - y.mean()).sum()),
                   mean_pred=float(p.mean()), m2_pred=float(np.square(p - p.mean()).sum()),
                   n_ape=int(ape.size), sum_ape=float(ape.sum()), sum_ape_sq=float(ape_sq.sum()))

    def merge(self, other: RegressionQualityState) -> Self:
        if not isinstance(other, RegressionQualityState):
            raise MergeError(f"cannot merge {type(other).__name__} into RegressionQualityState")
        self.mean_y, self.m2_y = _chan(self.n, self.mean_y, self.m2_y, other.n, other.mean_y, other.m2_y)
        self.mean_pred, self.m2_pred = _chan(self.n, self.mean_pred, self.m2_pred,
                                             other.n, other.mean_pred, other.m2_pred)
        self.n += other.n
        self.sum_err += other.sum_err
        self.sum_abs_err += other.sum_abs_err
        self.sum_sq_err += other.sum_sq_err
        self.sum_err4 += other.sum_err4
        self.n_ape += other.n_ape
        self.sum_ape += other.sum_ape
        self.sum_ape_sq += other.sum_ape_sq
        return self

    def reset(self) -> None:
        """Back to an empty state (every field is a scalar with a zero default)."""
        for f in fields(self):
            setattr(self, f.name, f.default)

    def to_bytes(self) -> bytes:
        return pack(BlobKind.MODEL_QUALITY_REGRESSION, _REGRESSION_LAYOUT.pack(
            self.n, self.sum_err, self.sum_abs_err, self.sum_sq_err, self.sum_err4, self.mean_y, self.m2_y,
            self.mean_pred, self.m2_pred, self.n_ape, self.sum_ape, self.sum_ape_sq))

    @classmethod
    def from_bytes(cls, blob: bytes) -> Self:
        _, payload = unpack(blob, BlobKind.MODEL_QUALITY_REGRESSION)
        if len(payload) != _REGRESSION_LAYOUT.size:
            raise _corrupt("regression")
        return cls(*_REGRESSION_LAYOUT.unpack(payload))


QualityState = BinaryQualityState | MulticlassQualityState | RegressionQualityState

_BY_KIND: Final[dict[BlobKind, Any]] = {
    BlobKind.MODEL_QUALITY_BINARY: BinaryQualityState,
    BlobKind.MODEL_QUALITY_MULTICLASS: MulticlassQualityState,
    BlobKind.MODEL_QUALITY_REGRESSION: RegressionQualityState,
}


def state_from_bytes(blob: bytes) -> QualityState:
    """Read any model-quality state blob (the kind comes from its header)."""
    state: QualityState = _BY_KIND[peek_kind(blob)].from_bytes(blob)
    return state
