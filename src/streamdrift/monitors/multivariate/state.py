"""The mergeable window state of multivariate drift: a KLL sketch of the records' reconstruction errors and their
exact count, sum and sum of squares (the mean's z test).

Blob: the shared envelope (kind MULTIVARIATE; parameter slots: the KLL k, the PCA model's fingerprint) around
the sums and the nested KLL blob. States of different k or models do not merge (MergeError).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Self

import numpy as np
from numpy.typing import ArrayLike

from streamdrift.errors import CorruptBlobError, MergeError, ParameterMismatchError, SerializationError
from streamdrift.profile.envelope import check_kll_k
from streamdrift.profile.sketches import BlobKind, KllSketch, pack_envelope, unpack_envelope

DEFAULT_K: Final[int] = 1000
_HEAD: Final[struct.Struct] = struct.Struct("<IIqdd")  # k, fingerprint (as the parameters), n, sum, sum of squares


@dataclass(slots=True)
class MultivariateState:
    """Reconstruction errors of one window: KLL sketch plus exact moments."""

    k: int = DEFAULT_K
    fingerprint: int = 0
    sketch: KllSketch = field(default_factory=lambda: KllSketch(DEFAULT_K))
    total: float = 0.0
    total_sq: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.fingerprint <= 0x7FFFFFFF:
            raise ParameterMismatchError(f"multivariate state fingerprint {self.fingerprint} out of range")
        check_kll_k(self.k)
        if self.sketch.k != self.k:
            self.sketch = KllSketch(self.k)

    @classmethod
    def empty(cls, k: int = DEFAULT_K, fingerprint: int = 0) -> Self:
        return cls(k, fingerprint)

    @property
    def n(self) -> int:
        return self.sketch.n

    @property
    def is_empty(self) -> bool:
        return self.sketch.is_empty

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def variance(self) -> float:
        n = self.n
        if n < 2:
            return float("nan")
        return max(self.total_sq / n - (self.total / n) ** 2, 0.0) * n / (n - 1)

    def update(self, errors: ArrayLike) -> None:
        """Add a batch of reconstruction errors (non-finite ones are dropped)."""
        values = np.asarray(errors, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        self.sketch.update(values)
        self.total += float(values.sum())
        self.total_sq += float(np.dot(values, values))

    def merge(self, other: MultivariateState) -> Self:
        if not isinstance(other, MultivariateState):
            raise MergeError(f"cannot merge {type(other).__name__} into a MultivariateState")
        if (other.k, other.fingerprint) != (self.k, self.fingerprint):
            raise MergeError(f"multivariate states differ: k/model {self.k}/{self.fingerprint} vs "
                             f"{other.k}/{other.fingerprint}")
        self.sketch.merge(other.sketch)
        self.total += other.total
        self.total_sq += other.total_sq
        return self

    def reset(self) -> None:
        self.sketch = KllSketch(self.k)
        self.total = self.total_sq = 0.0

    def to_bytes(self) -> bytes:
        payload = _HEAD.pack(self.k, self.fingerprint, self.n, self.total, self.total_sq) \
            + self.sketch.to_bytes(nested=True)
        return pack_envelope(BlobKind.MULTIVARIATE, (self.k, self.fingerprint, 0), payload)

    @classmethod
    def from_bytes(cls, blob: bytes, k: int | None = None, fingerprint: int | None = None) -> Self:
        expected = None if k is None or fingerprint is None else (k, fingerprint, 0)
        env = unpack_envelope(blob, BlobKind.MULTIVARIATE, expected, n_params=2)
        if len(env.payload) < _HEAD.size:
            raise CorruptBlobError("multivariate blob truncated")
        k_, fingerprint_, n, total, total_sq = _HEAD.unpack_from(env.payload)
        if (k_, fingerprint_) != env.params[:2]:
            raise CorruptBlobError("multivariate blob: header and payload disagree")
        try:
            sketch = KllSketch.from_bytes(env.payload[_HEAD.size:], env.params[0], nested=True)
            state = cls(env.params[0], env.params[1], sketch, float(total), float(total_sq))
        except (SerializationError, ValueError) as exc:
            raise CorruptBlobError(f"multivariate blob: {exc}") from exc
        if sketch.n != n or not (np.isfinite(total) and np.isfinite(total_sq)) or total_sq < 0:
            raise CorruptBlobError("multivariate blob: sums and sketch disagree")
        return state
