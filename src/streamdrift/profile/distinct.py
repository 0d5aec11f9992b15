"""Distinct-count sketch: a wrapper around datasketches' ``hll_sketch`` (HLL_4; blob kind DISTINCT_COUNT)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Self

import datasketches as ds
import numpy as np
from numpy.typing import NDArray

from streamdrift.errors import CorruptBlobError, MergeError, ParameterMismatchError
from streamdrift.profile.envelope import (
    PARSE_ERRORS,
    BlobKind,
    check_hll_lg_k,
    expect_param,
    pack_envelope,
    unpack_envelope,
)
from streamdrift.profile.frequent import value_counts
from streamdrift.profile.sketchbytes import check_hll

DEFAULT_HLL_LG_K: Final[int] = 12


class DistinctCountSketch:
    """Distinct-count sketch (datasketches ``hll_sketch``, HLL_4, lg_k = log2 of the number of buckets)."""

    __slots__ = ("_lg", "_sk")

    def __init__(self, lg_k: int = DEFAULT_HLL_LG_K) -> None:
        self._lg = check_hll_lg_k(lg_k)
        self._sk = ds.hll_sketch(self._lg)

    @classmethod
    def empty(cls, lg_k: int = DEFAULT_HLL_LG_K) -> Self:
        return cls(lg_k)

    @property
    def lg_k(self) -> int:
        return self._lg

    @property
    def is_empty(self) -> bool:
        return bool(self._sk.is_empty())

    @property
    def estimate(self) -> float:
        return float(self._sk.get_estimate())

    def upper_bound(self, stddevs: int = 2) -> float:
        """Upper bound at 1, 2 or 3 standard deviations (about 68 / 95 / 99.7 % confidence)."""
        return float(self._sk.get_upper_bound(_stddevs(stddevs)))

    def lower_bound(self, stddevs: int = 2) -> float:
        return float(self._sk.get_lower_bound(_stddevs(stddevs)))

    def update(self, values: NDArray[np.object_] | Sequence[str]) -> None:
        """Add a batch of strings (one sketch update per distinct value of the batch)."""
        items, _ = value_counts(values)
        self.update_distinct(items)

    def update_distinct(self, items: Iterable[str]) -> None:
        for item in items:
            self._sk.update(item)

    def merge(self, other: DistinctCountSketch) -> Self:
        if not isinstance(other, DistinctCountSketch):
            raise MergeError(f"cannot merge {type(other).__name__} into a DistinctCountSketch")
        if other.lg_k != self._lg:
            raise MergeError(f"cannot merge HLL sketches with lg_k {self._lg} vs {other.lg_k}")
        if not other.is_empty:
            union = ds.hll_union(self._lg)
            union.update(self._sk)
            union.update(other._sk)
            self._sk = union.get_result(ds.tgt_hll_type.HLL_4)
        return self

    def reset(self) -> None:
        self._sk = ds.hll_sketch(self._lg)

    def copy(self) -> DistinctCountSketch:
        return DistinctCountSketch.from_bytes(self.to_bytes())

    def to_bytes(self, *, nested: bool = False) -> bytes:
        payload = bytes(self._sk.serialize_compact())
        return pack_envelope(BlobKind.DISTINCT_COUNT, (self._lg, 0, 0), payload, nested=nested)

    @classmethod
    def from_bytes(cls, blob: bytes, lg_k: int | None = None, *, nested: bool = False) -> Self:
        env = unpack_envelope(blob, BlobKind.DISTINCT_COUNT, n_params=1, expected=expect_param(lg_k), nested=nested)
        out = cls(env.params[0])
        check_hll(env.payload, out.lg_k)  # before datasketches reads it
        try:
            sk = ds.hll_sketch.deserialize(env.payload)
        except PARSE_ERRORS as exc:
            raise CorruptBlobError(f"HLL payload does not parse: {exc}") from exc
        if int(sk.lg_config_k) != out.lg_k:
            raise CorruptBlobError(f"HLL payload has lg_k={sk.lg_config_k} but its header says {out.lg_k}")
        out._sk = sk
        return out

    def __repr__(self) -> str:
        return f"DistinctCountSketch(lg_k={self._lg}, estimate={self.estimate:.1f})"


def _stddevs(value: int) -> int:
    if value not in (1, 2, 3):
        raise ParameterMismatchError(f"HLL bounds take 1, 2 or 3 standard deviations, got {value!r}")
    return value
