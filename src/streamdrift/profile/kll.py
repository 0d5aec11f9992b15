"""Quantile sketch: a thin wrapper around datasketches' ``kll_doubles_sketch`` (blob kind KLL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Self

import datasketches as ds
import numpy as np
from numpy.typing import NDArray

from streamdrift._native import sorted_floats
from streamdrift.errors import CorruptBlobError, MergeError
from streamdrift.profile.envelope import (
    PARSE_ERRORS,
    BlobKind,
    check_kll_k,
    expect_param,
    pack_envelope,
    unpack_envelope,
)
from streamdrift.profile.sketchbytes import check_kll_doubles

DEFAULT_KLL_K: Final[int] = 200


def as_float_array(values: NDArray[np.generic] | Sequence[float]) -> NDArray[np.float64]:
    """A contiguous float64 copy-free view where possible (datasketches wants numpy arrays, not lists)."""
    return np.ascontiguousarray(values, dtype=np.float64)


# --------------------------------------------------------------------------------------------- KLL

#: Batches of at least this many values enter a KLL sketch sorted (below it, the sort call costs more than it saves).
SORT_MIN: Final[int] = 128


class KllSketch:
    """Quantile sketch (datasketches ``kll_doubles_sketch``). NaN updates are ignored by the sketch."""

    __slots__ = ("_k", "_sk")

    def __init__(self, k: int = DEFAULT_KLL_K) -> None:
        self._k = check_kll_k(k)
        self._sk = ds.kll_doubles_sketch(self._k)

    @classmethod
    def empty(cls, k: int = DEFAULT_KLL_K) -> Self:
        return cls(k)

    @property
    def k(self) -> int:
        return self._k

    @property
    def n(self) -> int:
        return int(self._sk.n)

    @property
    def is_empty(self) -> bool:
        return bool(self._sk.is_empty())

    @property
    def min(self) -> float:
        """Smallest value seen (NaN when empty)."""
        return float("nan") if self.is_empty else float(self._sk.get_min_value())

    @property
    def max(self) -> float:
        """Largest value seen (NaN when empty)."""
        return float("nan") if self.is_empty else float(self._sk.get_max_value())

    @property
    def num_retained(self) -> int:
        return int(self._sk.num_retained)

    def update(self, values: NDArray[np.generic] | Sequence[float]) -> None:
        """Add a batch (NaN is dropped; callers count missing values themselves).

        A batch of :data:`SORT_MIN` values or more is sorted first (natively, without the GIL): the sketch adds
        sorted input about 3.5x faster (its compactions sort level 0), and its error bound holds for any order.
        """
        arr = as_float_array(values).ravel()
        if arr.size >= SORT_MIN:
            arr = np.frombuffer(sorted_floats(arr), dtype=np.float64)  # a writable copy
        elif not arr.flags.writeable:  # nanobind rejects read-only arrays (e.g. zero-copy views of arrow data)
            arr = arr.copy()
        if arr.size:
            self._sk.update(arr)

    def merge(self, other: KllSketch) -> Self:
        if not isinstance(other, KllSketch):
            raise MergeError(f"cannot merge {type(other).__name__} into a KllSketch")
        if other.k != self._k:
            raise MergeError(f"cannot merge KLL sketches with different k ({self._k} vs {other.k})")
        if not other.is_empty:
            self._sk.merge(other._sk)
        return self

    def reset(self) -> None:
        self._sk = ds.kll_doubles_sketch(self._k)

    def copy(self) -> KllSketch:
        return KllSketch.from_bytes(self.to_bytes())

    def rank_error(self, pmf: bool = False) -> float:
        """Normalized rank error at 99% confidence (single-sided for CDF/rank, double-sided for PMF)."""
        return float(ds.kll_doubles_sketch.get_normalized_rank_error(self._k, pmf))

    def cdf(self, points: NDArray[np.float64] | Sequence[float], inclusive: bool = True) -> NDArray[np.float64]:
        """P(X <= x) (``inclusive``) or P(X < x) at strictly increasing ``points``, plus a trailing 1.0.

        Like datasketches, the result has ``len(points) + 1`` entries. Empty sketch: NaN everywhere.
        """
        pts = as_float_array(points)
        if self.is_empty:
            return np.full(pts.size + 1, np.nan)
        if pts.size == 0:
            return np.ones(1)
        return np.asarray(self._sk.get_cdf(pts, inclusive), dtype=np.float64)

    def quantiles(self, ranks: NDArray[np.float64] | Sequence[float]) -> NDArray[np.float64]:
        """Values at normalized ranks in [0, 1] (NaN when empty)."""
        r = as_float_array(ranks)
        if self.is_empty:
            return np.full(r.size, np.nan)
        if r.size == 0:
            return np.zeros(0)
        return np.asarray(self._sk.get_quantiles(r), dtype=np.float64)

    def retained(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """The retained items and their weights (sorted by item); weights sum to ``n``."""
        pairs = list(self._sk)
        if not pairs:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        items = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=len(pairs))
        weights = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        order = np.argsort(items, kind="stable")
        return items[order], weights[order]

    def to_bytes(self, *, nested: bool = False) -> bytes:
        return pack_envelope(BlobKind.KLL, (self._k, 0, 0), bytes(self._sk.serialize()), nested=nested)

    @classmethod
    def from_bytes(cls, blob: bytes, k: int | None = None, *, nested: bool = False) -> Self:
        env = unpack_envelope(blob, BlobKind.KLL, n_params=1, expected=expect_param(k), nested=nested)
        out = cls(env.params[0])
        check_kll_doubles(env.payload, out.k)  # before datasketches reads it
        try:
            sk = ds.kll_doubles_sketch.deserialize(env.payload)
        except PARSE_ERRORS as exc:
            raise CorruptBlobError(f"KLL payload does not parse: {exc}") from exc
        if int(sk.k) != out.k:
            raise CorruptBlobError(f"KLL payload has k={sk.k} but its header says k={out.k}")
        out._sk = sk
        return out

    def __repr__(self) -> str:
        return f"KllSketch(k={self._k}, n={self.n})"

