"""The mergeable window state of confidence-based performance estimation (binary classification).

Per predicted class (``score >= threshold`` is positive): the record count, the sum of calibrated probabilities
``p`` and of ``p**2``; and a fine histogram of the calibrated probabilities (``n_bins`` equal bins of [0, 1]:
count and sum of ``p`` per bin, for the estimated ROC AUC). Every sum is an integer: ``p`` and ``p**2`` are
summed in fixed point (units of ``2**-20``), so states merge exactly in any order (the worker's partitions and
``check`` give the same bits). Rows without a finite score are counted in ``n_skipped``.

Blob: the shared envelope (kind ESTIMATED_PERFORMANCE; parameter slots: bin count, threshold in millionths).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import (
    BadRecordError,
    CorruptBlobError,
    MergeError,
    ParameterMismatchError,
)
from streamdrift.profile.sketches import BlobKind, pack_envelope, unpack_envelope

DEFAULT_BINS: Final[int] = 1024
DEFAULT_THRESHOLD: Final[float] = 0.5
_HEAD: Final[struct.Struct] = struct.Struct("<dI7q")  # threshold, bins, n0, n1, skipped, psum0/1, p2sum0/1
SCALE: Final[int] = 1 << 20  # fixed-point unit of the probability sums
_MILLION: Final[int] = 1_000_000


def _params(threshold: float, n_bins: int) -> tuple[int, int, int]:
    return (n_bins, round(threshold * _MILLION), 0)


@dataclass(slots=True)
class EstimatedPerformanceState:
    """Counts and calibrated-probability sums per predicted class, and the calibrated-score histogram."""

    threshold: float = DEFAULT_THRESHOLD
    n_bins: int = DEFAULT_BINS
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(2, dtype=np.int64))
    psum: NDArray[np.int64] = field(default_factory=lambda: np.zeros(2, dtype=np.int64))  # in units of 1/SCALE
    p2sum: NDArray[np.int64] = field(default_factory=lambda: np.zeros(2, dtype=np.int64))
    hist_count: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hist_psum: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_skipped: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0 or not 2 <= self.n_bins <= 1 << 20:
            raise ParameterMismatchError(f"estimated-performance state needs a threshold in [0, 1] and 2 to 2^20 "
                                         f"bins (got {self.threshold}, {self.n_bins})")
        if self.hist_count.size == 0:
            self.hist_count = np.zeros(self.n_bins, dtype=np.int64)
            self.hist_psum = np.zeros(self.n_bins, dtype=np.int64)

    @classmethod
    def empty(cls, threshold: float = DEFAULT_THRESHOLD, n_bins: int = DEFAULT_BINS) -> Self:
        return cls(threshold=threshold, n_bins=n_bins)

    @property
    def n(self) -> int:
        """Records estimated (with a score)."""
        return int(self.counts.sum())

    @property
    def is_empty(self) -> bool:
        return self.n == 0 and self.n_skipped == 0

    def update(self, scores: ArrayLike, probabilities: ArrayLike) -> None:
        """Add a batch: the raw scores (the predicted class) and their calibrated probabilities; rows where either
        is not finite are skipped (counted)."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        if s.shape != p.shape:
            raise BadRecordError("shape_mismatch", "scores and probabilities must have the same length")
        ok = np.isfinite(s) & np.isfinite(p)
        if not ok.all():
            self.n_skipped += int(s.size - ok.sum())
            s, p = s[ok], p[ok]
        if s.size == 0:
            return
        p = np.clip(p, 0.0, 1.0)
        q = np.rint(p * SCALE).astype(np.int64)
        q2 = np.rint(p * p * SCALE).astype(np.int64)
        predicted = (s >= self.threshold).astype(np.intp)
        self.counts += np.bincount(predicted, minlength=2)
        self.psum += _int_bincount(predicted, q, 2)
        self.p2sum += _int_bincount(predicted, q2, 2)
        bins = np.minimum((p * self.n_bins).astype(np.intp), self.n_bins - 1)
        self.hist_count += np.bincount(bins, minlength=self.n_bins)
        self.hist_psum += _int_bincount(bins, q, self.n_bins)

    def sums(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Sum of ``p`` and of ``p**2`` per predicted class, sum of ``p`` per histogram bin (as floats)."""
        return self.psum / SCALE, self.p2sum / SCALE, self.hist_psum / SCALE

    def merge(self, other: EstimatedPerformanceState) -> Self:
        if not isinstance(other, EstimatedPerformanceState):
            raise MergeError(f"cannot merge {type(other).__name__} into an EstimatedPerformanceState")
        if (other.threshold, other.n_bins) != (self.threshold, self.n_bins):
            raise MergeError(f"estimated-performance states differ: threshold/bins {self.threshold}/{self.n_bins} "
                             f"vs {other.threshold}/{other.n_bins}")
        self.counts += other.counts
        self.psum += other.psum
        self.p2sum += other.p2sum
        self.hist_count += other.hist_count
        self.hist_psum += other.hist_psum
        self.n_skipped += other.n_skipped
        return self

    def reset(self) -> None:
        """Back to an empty state with the same threshold and bins."""
        fresh = type(self).empty(self.threshold, self.n_bins)
        self.counts, self.psum, self.p2sum = fresh.counts, fresh.psum, fresh.p2sum
        self.hist_count, self.hist_psum, self.n_skipped = fresh.hist_count, fresh.hist_psum, 0

    def to_bytes(self) -> bytes:
        head = _HEAD.pack(self.threshold, self.n_bins, int(self.counts[0]), int(self.counts[1]), self.n_skipped,
                          int(self.psum[0]), int(self.psum[1]), int(self.p2sum[0]), int(self.p2sum[1]))
        payload = head + self.hist_count.astype("<i8").tobytes() + self.hist_psum.astype("<i8").tobytes()
        return pack_envelope(BlobKind.ESTIMATED_PERFORMANCE, _params(self.threshold, self.n_bins), payload)

    @classmethod
    def from_bytes(cls, blob: bytes, threshold: float | None = None, n_bins: int | None = None) -> Self:
        expected = None if threshold is None or n_bins is None else _params(threshold, n_bins)
        env = unpack_envelope(blob, BlobKind.ESTIMATED_PERFORMANCE, expected, n_params=2)
        payload = env.payload
        if len(payload) < _HEAD.size:
            raise CorruptBlobError("estimated-performance blob truncated")
        t, bins, n0, n1, skipped, ps0, ps1, p20, p21 = _HEAD.unpack_from(payload)
        if (bins, round(t * _MILLION)) != env.params[:2] or len(payload) != _HEAD.size + 16 * bins:
            raise CorruptBlobError("estimated-performance blob: header and payload disagree")
        hist = np.frombuffer(payload, dtype="<i8", count=bins, offset=_HEAD.size).astype(np.int64)
        psums = np.frombuffer(payload, dtype="<i8", count=bins, offset=_HEAD.size + 8 * bins).astype(np.int64)
        sums = np.array([ps0, ps1, p20, p21], dtype=np.int64)
        if min(n0, n1, skipped, ps0, ps1, p20, p21) < 0 or (hist < 0).any() or (psums < 0).any() \
                or (psums > hist * SCALE).any() or int(hist.sum()) != n0 + n1:
            raise CorruptBlobError("estimated-performance blob: negative or inconsistent counts")
        try:
            state = cls(t, bins, np.array([n0, n1], dtype=np.int64), sums[:2].copy(), sums[2:].copy(), hist,
                        psums, skipped)
        except ParameterMismatchError as exc:
            raise CorruptBlobError(f"estimated-performance blob: {exc}") from exc
        return state


def _int_bincount(index: NDArray[np.intp], weights: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    """Exact integer sums of ``weights`` (each < 2**21) per index: bincount's float64 sums of integers are exact
    below 2**53, i.e. for batches of up to 2**32 records."""
    return np.bincount(index, weights.astype(np.float64), minlength=size).astype(np.int64)
