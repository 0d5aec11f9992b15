"""The one mergeable-state interface and thin wrappers around Apache DataSketches.

Every state streamdrift keeps per window (sketches, profiles, and later model-quality states) follows
:class:`MergeableState`: ``empty`` / ``update`` / ``merge`` (in place, returns self) / ``to_bytes`` /
``from_bytes``. Every blob shares one versioned envelope (:mod:`streamdrift.profile.envelope`).

This module gathers the public names of the sketch modules (import from here or from them):
:mod:`~streamdrift.profile.envelope` (envelope, kinds, versions, parameter checks),
:mod:`~streamdrift.profile.kll` (:class:`KllSketch`), :mod:`~streamdrift.profile.frequent`
(:class:`FrequentItemsSketch`, :func:`value_counts`) and :mod:`~streamdrift.profile.distinct`
(:class:`DistinctCountSketch`); it defines :class:`MergeableState` and :func:`empty_blob`.
"""

from __future__ import annotations

import functools
from typing import Protocol, Self

import numpy as np
from numpy.typing import NDArray

from streamdrift.errors import ParameterMismatchError
from streamdrift.profile.distinct import DEFAULT_HLL_LG_K, DistinctCountSketch
from streamdrift.profile.envelope import (
    FORMAT_VERSION,
    HEADER_SIZE,
    KIND_VERSIONS,
    MAGIC,
    BlobKind,
    Envelope,
    Params,
    check_hll_lg_k,
    check_kll_k,
    check_lg_max_k,
    current_version,
    envelope_parts,
    kind_name,
    nested_header,
    pack_envelope,
    read_envelope,
    unpack_envelope,
)
from streamdrift.profile.frequent import DEFAULT_LG_MAX_K, FrequentItem, FrequentItemsSketch, value_counts
from streamdrift.profile.kll import DEFAULT_KLL_K, SORT_MIN, KllSketch, as_float_array

__all__ = [
    "DEFAULT_HLL_LG_K",
    "DEFAULT_KLL_K",
    "DEFAULT_LG_MAX_K",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "KIND_VERSIONS",
    "MAGIC",
    "SORT_MIN",
    "BlobKind",
    "DistinctCountSketch",
    "Envelope",
    "FrequentItem",
    "FrequentItemsSketch",
    "KllSketch",
    "MergeableState",
    "Params",
    "as_float_array",
    "check_hll_lg_k",
    "check_kll_k",
    "check_lg_max_k",
    "current_version",
    "empty_blob",
    "envelope_parts",
    "nested_header",
    "pack_envelope",
    "read_envelope",
    "unpack_envelope",
    "value_counts",
]


class MergeableState(Protocol):
    """What every mergeable per-window state offers (params of ``empty`` differ per state)."""

    def update(self, values: NDArray[np.generic]) -> None: ...

    def merge(self, other: Self) -> Self: ...

    def to_bytes(self) -> bytes: ...

    @classmethod
    def from_bytes(cls, blob: bytes) -> Self: ...


@functools.lru_cache(maxsize=64)
def empty_blob(kind: BlobKind, param: int, nested: bool = False) -> bytes:
    """``to_bytes()`` of a new, empty KLL / frequent-items / HLL sketch with parameter ``param`` (memoized:
    profiles that never allocated a sketch serialize this, the same bytes as an allocated empty one)."""
    if kind == BlobKind.KLL:
        return KllSketch(param).to_bytes(nested=nested)
    if kind == BlobKind.FREQUENT_ITEMS:
        return FrequentItemsSketch(param).to_bytes(nested=nested)
    if kind == BlobKind.DISTINCT_COUNT:
        return DistinctCountSketch(param).to_bytes(nested=nested)
    raise ParameterMismatchError(f"no empty sketch of kind {kind_name(kind)}")
