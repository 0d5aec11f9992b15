"""Everything known about one feature: counts by kind, numeric part, categorical part (blob kind
FEATURE_PROFILE); and the finite block, several all-finite numeric columns of a batch added together."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Self

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import N_KINDS, Column, Kind
from streamdrift.columns.typeinference import FeatureType, infer_type
from streamdrift.errors import CorruptBlobError, MergeError
from streamdrift.profile.categorical import CategoricalProfile, format_numbers
from streamdrift.profile.envelope import BlobKind, nested_header, unpack_envelope
from streamdrift.profile.frequent import value_counts
from streamdrift.profile.numeric import NumericProfile
from streamdrift.profile.payload import (
    DEFAULT_PARAMS,
    LEN,
    PayloadReader,
    ProfileParams,
    check_counts,
    profile_blob,
)

_KIND_COUNTS: Final[struct.Struct] = struct.Struct(f"<{N_KINDS}q")


@dataclass(frozen=True)
class FiniteBlock:
    """Columns of one batch whose rows are all finite numbers, stacked, with per-column moments."""

    rows: list[int]  # positions of these columns in the candidate list
    values: NDArray[np.float64]  # (columns, rows): our own copy (row i is handed to a profile's buffer)
    n_fractional: NDArray[np.int64]
    total: NDArray[np.float64]
    mean: NDArray[np.float64]
    m2: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]


def finite_block(candidates: Sequence[Column]) -> FiniteBlock | None:
    """The candidates whose kinds are all INTEGRAL / FRACTIONAL (no missing, non-finite or text row)."""
    if not candidates or candidates[0].kinds.size == 0:
        return None
    kinds = np.stack([c.kinds for c in candidates])
    lo_kind, hi_kind = kinds.min(axis=1), kinds.max(axis=1)
    ok = np.flatnonzero((lo_kind >= Kind.INTEGRAL) & (hi_kind <= Kind.FRACTIONAL))
    if ok.size < 2:
        return None
    rows = ok.tolist()
    values = np.stack([candidates[i].numbers for i in rows])
    n_fractional = np.count_nonzero(kinds[ok] == Kind.FRACTIONAL, axis=1).astype(np.int64)
    total = values.sum(axis=1)
    mean = total / values.shape[1]
    centered = values - mean[:, None]
    m2 = np.einsum("ij,ij->i", centered, centered)
    return FiniteBlock(rows, values, n_fractional, total, mean, m2, values.min(axis=1), values.max(axis=1))


# --------------------------------------------------------------------------------------------- feature


class FeatureProfile:
    """Everything streamdrift knows about one feature: Kind counts, numeric part, categorical part."""

    __slots__ = ("categorical", "declared", "numeric", "params", "type_counts")

    def __init__(self, params: ProfileParams = DEFAULT_PARAMS,
                 declared: FeatureType | None = None, domain: frozenset[str] | None = None) -> None:
        self.params = params
        self.declared = declared
        self.type_counts: NDArray[np.int64] = np.zeros(N_KINDS, dtype=np.int64)
        self.numeric = NumericProfile(params.kll_k)
        self.categorical = CategoricalProfile(params.frequent_lg_max_k, params.hll_lg_k, domain)

    @classmethod
    def empty(cls, params: ProfileParams = DEFAULT_PARAMS,
              declared: FeatureType | None = None, domain: frozenset[str] | None = None) -> Self:
        return cls(params, declared, domain)

    @property
    def n_missing(self) -> int:
        return int(self.type_counts[Kind.MISSING])

    @property
    def n_present(self) -> int:
        return int(self.type_counts.sum()) - self.n_missing

    @property
    def n_records(self) -> int:
        return int(self.type_counts.sum())

    @property
    def completeness(self) -> float:
        """Share of present rows (0.0 before any record)."""
        total = self.n_records
        return self.n_present / total if total else 0.0

    @property
    def inferred_type(self) -> FeatureType:
        return infer_type(self.type_counts)

    @property
    def kind_counts(self) -> dict[Kind, int]:
        return {kind: int(self.type_counts[kind]) for kind in Kind}

    @property
    def is_empty(self) -> bool:
        return self.n_records == 0

    def _feeds_numbers_to_categorical(self, counts: NDArray[np.int64]) -> bool:
        if self.declared is not None:
            return self.declared.is_categorical
        return bool(counts[Kind.STRING] > 0)

    def update(self, column: Column) -> None:
        """Add one batch of this feature (vectorized)."""
        counts = column.kind_counts()
        self.type_counts += counts
        self.numeric.update_column(column, counts)
        self.categorical.missing += int(counts[Kind.MISSING])
        items: list[str] = []
        weights: list[NDArray[np.int64]] = []
        n_text = int(counts[Kind.STRING] + counts[Kind.BOOLEAN])
        if column.strings is not None and n_text:
            if column.categories is not None and not counts[Kind.BOOLEAN]:
                s_items, s_counts = column.categories.counts()
            else:
                # strings is None in MISSING rows, so a column of only text and missing rows needs no mask
                only_text = n_text + int(counts[Kind.MISSING]) == column.strings.size
                text = column.strings if only_text else column.strings[(column.kinds == Kind.STRING) |
                                                                       (column.kinds == Kind.BOOLEAN)]
                s_items, s_counts = value_counts(text)
            items += s_items
            weights.append(s_counts)
        if counts[Kind.INTEGRAL] + counts[Kind.FRACTIONAL] and self._feeds_numbers_to_categorical(counts):
            uniq, n_counts = np.unique(column.numbers[np.isfinite(column.numbers)], return_counts=True)
            items += format_numbers(uniq)
            weights.append(n_counts.astype(np.int64))
        if items:
            self.categorical.update_counts(items, np.concatenate(weights))

    def add_finite_row(self, block: FiniteBlock, i: int) -> None:
        """Add row ``i`` of ``block`` (finite numbers only; the feature is not declared categorical)."""
        n, n_fractional = int(block.values.shape[1]), int(block.n_fractional[i])
        self.type_counts[Kind.INTEGRAL] += n - n_fractional
        self.type_counts[Kind.FRACTIONAL] += n_fractional
        num = self.numeric
        num._combine(n, float(block.lo[i]), float(block.hi[i]), float(block.total[i]), float(block.mean[i]),
                     float(block.m2[i]))
        num._buffer(block.values[i])

    def add_missing(self, n: int) -> None:
        """Count ``n`` records in which the feature is absent."""
        self.type_counts[Kind.MISSING] += n
        self.numeric.missing += n
        self.categorical.missing += n

    def merge(self, other: FeatureProfile) -> Self:
        if not isinstance(other, FeatureProfile):
            raise MergeError(f"cannot merge {type(other).__name__} into a FeatureProfile")
        if other.params != self.params:
            raise MergeError(f"cannot merge feature profiles with params {self.params} vs {other.params}")
        if None not in (self.declared, other.declared) and self.declared != other.declared:
            raise MergeError(f"cannot merge features declared {self.declared} and {other.declared}")
        self.numeric.merge(other.numeric)
        self.categorical.merge(other.categorical)
        self.type_counts += other.type_counts
        self.declared = self.declared or other.declared
        return self

    def reset(self) -> None:
        self.__init__(self.params, self.declared, self.categorical.domain)  # type: ignore[misc]

    def copy(self) -> FeatureProfile:
        return FeatureProfile.from_bytes(self.to_bytes())

    def to_bytes(self, *, nested: bool = False) -> bytes:
        return profile_blob(BlobKind.FEATURE_PROFILE, self.params.as_tuple(), self._payload(), nested)

    def _parts(self) -> list[bytes]:
        """This profile as a nested blob, in parts."""
        payload = self._payload()
        return [nested_header(BlobKind.FEATURE_PROFILE, self.params.as_tuple(), sum(map(len, payload))), *payload]

    def _payload(self) -> list[bytes]:
        """Format 2 (as 1, with nested parts): Kind counts, declared type, numeric part, categorical part."""
        declared = b"" if self.declared is None else self.declared.value.encode()
        counts = _KIND_COUNTS.pack(*self.type_counts.tolist())
        numeric, categorical = self.numeric._parts(), self.categorical._parts()
        return [counts, LEN.pack(len(declared)), declared, LEN.pack(sum(map(len, numeric))), *numeric,
                LEN.pack(sum(map(len, categorical))), *categorical]

    @classmethod
    def from_bytes(cls, blob: bytes, params: ProfileParams | None = None, *, nested: bool = False) -> Self:
        expected = None if params is None else params.as_tuple()
        env = unpack_envelope(blob, BlobKind.FEATURE_PROFILE, expected, nested=nested)
        p = ProfileParams(*env.params)
        r = PayloadReader(env.payload, "feature profile")
        type_counts = [int(v) for v in r.unpack(_KIND_COUNTS)]
        declared_raw, numeric_raw, categorical_raw = r.chunk(), r.chunk(), r.chunk()
        r.finish()
        check_counts(*type_counts)
        out = cls(p, _decode_type(declared_raw))
        out.type_counts = np.array(type_counts, dtype=np.int64)
        out.numeric = NumericProfile.from_bytes(numeric_raw, kll_k=p.kll_k, nested=True)
        out.categorical = CategoricalProfile.from_bytes(categorical_raw, p.frequent_lg_max_k, p.hll_lg_k, nested=True)
        return out

    def __repr__(self) -> str:
        return f"FeatureProfile({self.inferred_type.value}, present={self.n_present}, missing={self.n_missing})"


def _decode_type(raw: bytes) -> FeatureType | None:
    if not raw:
        return None
    try:
        return FeatureType(raw.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptBlobError(f"unknown declared feature type {raw!r}") from exc

