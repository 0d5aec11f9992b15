"""Mergeable per-feature profiles: numeric moments + KLL, categorical frequent items + HLL, Kind counts.

A :class:`DatasetProfile` is what streamdrift keeps per model x window x partition. ``update`` is vectorized
(one numpy pass per column), ``merge`` is exact for counts / min / max and uses Chan's parallel formulas for
mean and M2, and ``to_bytes`` writes one versioned, checksummed envelope (see :mod:`streamdrift.profile.sketches`).

Which rows feed a feature's categorical part (docs/profiles.md): STRING and BOOLEAN rows always; numeric rows
too when the feature is declared String/Boolean by the schema given to :meth:`DatasetProfile.empty`, or,
without a declaration, in batches where the column also has STRING rows. Numbers are fed in their canonical
text form (``3`` for integral values, Python ``repr`` otherwise); NONFINITE rows never feed it.
Invariant: for every feature, ``n_present + n_missing == n_records``.
"""

from __future__ import annotations

import functools
import math
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Self

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.columns.columns import N_KINDS, Column, Columns, Kind, paused_gc
from streamdrift.columns.typeinference import FeatureType, infer_type
from streamdrift.errors import BadRecordError, CorruptBlobError, MergeError, ParameterMismatchError
from streamdrift.profile.sketches import (
    DEFAULT_HLL_LG_K,
    DEFAULT_KLL_K,
    DEFAULT_LG_MAX_K,
    BlobKind,
    DistinctCountSketch,
    FrequentItemsSketch,
    KllSketch,
    check_hll_lg_k,
    check_kll_k,
    check_lg_max_k,
    empty_blob,
    envelope_parts,
    nested_header,
    unpack_envelope,
    value_counts,
)

Schema = Mapping[str, FeatureType]

_LEN: Final[struct.Struct] = struct.Struct("<I")
_NUMERIC: Final[struct.Struct] = struct.Struct("<qqqqddddd")
_NUMERIC_V2: Final[struct.Struct] = struct.Struct("<Iqqqqddddd")  # k, then _NUMERIC
_EMPTY: Final[bytes] = _LEN.pack(0)
_LITTLE_ENDIAN: Final[bool] = sys.byteorder == "little"
_CATEGORICAL: Final[struct.Struct] = struct.Struct("<qqqB")
_KIND_COUNTS: Final[struct.Struct] = struct.Struct(f"<{N_KINDS}q")
#: Integral values with |x| below this are written as integers in the categorical text form.
_MAX_EXACT_INT: Final[float] = 2.0**53
#: A numeric profile feeds its buffered values to its KLL sketch once this many times k are pending.
PENDING_FACTOR: Final[int] = 2
_VALUES_DTYPE: Final[np.dtype[np.float64]] = np.dtype("<f8")


@dataclass(frozen=True)
class ProfileParams:
    kll_k: int = DEFAULT_KLL_K
    frequent_lg_max_k: int = DEFAULT_LG_MAX_K
    hll_lg_k: int = DEFAULT_HLL_LG_K

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.kll_k, self.frequent_lg_max_k, self.hll_lg_k)


# --------------------------------------------------------------------------------------------- payload io


def _chunks(*chunks: list[bytes]) -> list[bytes]:
    """Length-prefixed chunks, each given in parts (joined once, by whoever writes the outermost blob)."""
    out: list[bytes] = []
    for parts in chunks:
        out.append(_LEN.pack(sum(map(len, parts))))
        out += parts
    return out


def _blob(kind: BlobKind, params: tuple[int, int, int], payload: list[bytes], nested: bool) -> bytes:
    return b"".join(envelope_parts(kind, params, payload, nested=nested))


class _Reader:
    """Reads a payload front to back; any overrun or leftover raises CorruptBlobError."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data, self._pos, self._what = data, 0, what

    def unpack(self, fmt: struct.Struct) -> tuple[int | float, ...]:
        end = self._pos + fmt.size
        if end > len(self._data):
            raise CorruptBlobError(f"{self._what} payload ends early ({len(self._data)} bytes)")
        values: tuple[int | float, ...] = fmt.unpack_from(self._data, self._pos)
        self._pos = end
        return values

    def chunk(self) -> bytes:
        length = int(self.unpack(_LEN)[0])
        end = self._pos + length
        if end > len(self._data):
            raise CorruptBlobError(f"{self._what} payload ends inside a nested blob")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise CorruptBlobError(f"{self._what} payload has {len(self._data) - self._pos} trailing bytes")


def _counts_ok(*counts: int) -> None:
    if any(c < 0 for c in counts):
        raise CorruptBlobError(f"profile blob holds negative counts {counts}")


# --------------------------------------------------------------------------------------------- numeric


class NumericProfile:
    """Moments and KLL of the finite numbers of a feature.

    ``count``: finite numeric values (INTEGRAL + FRACTIONAL rows, the values the moments and the KLL cover);
    ``missing``; ``non_finite`` (+/-inf); ``wrong_type`` (present but not a number: STRING / BOOLEAN rows).
    ``variance`` / ``std_dev`` are population figures (M2 / count), as SageMaker reports them.

    Values are buffered exactly and fed to the KLL sketch in bulk once ``PENDING_FACTOR * k`` are pending, or
    when :attr:`kll` is read. A delta profile that lives only until the next commit (a few thousand values per
    feature) so never pays for sketch updates, and ships its values exactly (format version 2). Accuracy: every
    value still reaches a k-sketch through ``update`` -- here, or in the profile it is merged into -- and KLL
    sketches of one k merge with that k's error bound, so a window merged from such deltas has the error bound
    of one k-sketch updated with all its values (the same as before buffering).
    """

    __slots__ = ("_kll", "_kll_k", "_max", "_min", "_n_pending", "_pending", "count", "m2", "mean", "missing",
                 "non_finite", "sum", "wrong_type")

    def __init__(self, kll_k: int = DEFAULT_KLL_K) -> None:
        self._kll_k = check_kll_k(kll_k)
        self._kll: KllSketch | None = None  # allocated when pending values are fed to it (or on first access)
        self._pending: list[NDArray[np.float64]] = []  # finite values not yet in the sketch (never mutated)
        self._n_pending = 0
        self.count = self.missing = self.non_finite = self.wrong_type = 0
        self._min, self._max = math.inf, -math.inf
        self.sum = self.mean = self.m2 = 0.0

    @classmethod
    def empty(cls, kll_k: int = DEFAULT_KLL_K) -> Self:
        return cls(kll_k)

    @property
    def kll(self) -> KllSketch:
        """The quantile sketch of every value so far (created on first use: categorical features never pay
        for one; pending values are fed to it first)."""
        self._flush()
        return self._sketch()

    @kll.setter
    def kll(self, sketch: KllSketch) -> None:
        self._kll, self._kll_k = sketch, sketch.k
        self._pending, self._n_pending = [], 0

    @property
    def kll_k(self) -> int:
        return self._kll_k

    @property
    def n_pending(self) -> int:
        """Values buffered exactly, not yet fed to the sketch."""
        return self._n_pending

    @property
    def min(self) -> float:
        return self._min if self.count else math.nan

    @property
    def max(self) -> float:
        return self._max if self.count else math.nan

    @property
    def variance(self) -> float:
        return max(self.m2, 0.0) / self.count if self.count else math.nan

    @property
    def std_dev(self) -> float:
        return math.sqrt(self.variance)

    @property
    def is_empty(self) -> bool:
        return self.count + self.missing + self.non_finite + self.wrong_type == 0

    def _sketch(self) -> KllSketch:
        if self._kll is None:
            self._kll = KllSketch(self._kll_k)
        return self._kll

    def _flush(self) -> None:
        if self._pending:
            values = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
            self._pending, self._n_pending = [], 0
            self._sketch().update(values)

    def _buffer(self, values: NDArray[np.float64]) -> None:
        """Keep ``values`` (finite; the caller hands over an array nobody mutates) for the sketch."""
        self._pending.append(values)
        self._n_pending += int(values.size)
        if self._n_pending >= PENDING_FACTOR * self._kll_k:
            self._flush()

    def _pending_values(self) -> NDArray[np.float64]:
        """The pending values as one array (consolidated in place)."""
        if len(self._pending) > 1:
            self._pending = [np.concatenate(self._pending)]
        return self._pending[0] if self._pending else np.zeros(0)

    def update(self, values: NDArray[np.generic]) -> None:
        """Add raw floats: NaN counts as missing, +/-inf as non-finite."""
        arr = np.asarray(values, dtype=np.float64).ravel()
        nan = int(np.count_nonzero(np.isnan(arr)))
        finite = arr[np.isfinite(arr)]
        self.missing += nan
        self.non_finite += int(arr.size) - nan - int(finite.size)
        self.add_finite(finite)

    def update_column(self, column: Column, kind_counts: NDArray[np.int64]) -> None:
        self.missing += int(kind_counts[Kind.MISSING])
        self.non_finite += int(kind_counts[Kind.NONFINITE])
        self.wrong_type += int(kind_counts[Kind.STRING] + kind_counts[Kind.BOOLEAN])
        n_numbers = int(kind_counts[Kind.INTEGRAL] + kind_counts[Kind.FRACTIONAL])
        if n_numbers == column.numbers.size:  # every row a finite number: no mask
            self.add_finite(column.numbers)
        elif n_numbers:
            self.add_finite(column.numbers[np.isfinite(column.numbers)])

    def add_finite(self, finite: NDArray[np.float64]) -> None:
        """Add finite values (vectorized moments, then Chan's combination)."""
        n = int(finite.size)
        if n == 0:
            return
        values = np.array(finite, dtype=np.float64)  # our own copy: the caller's array may be a view or reused
        total = float(values.sum())
        mean = total / n  # what ndarray.mean computes
        centered = values - mean
        m2 = float(np.dot(centered, centered))
        self._combine(n, float(values.min()), float(values.max()), total, mean, m2)
        self._buffer(values)

    def _combine(self, n: int, lo: float, hi: float, total: float, mean: float, m2: float) -> None:
        na = self.count
        if n == 0:
            return
        new_n = na + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / new_n if na else mean
        self.m2 = self.m2 + m2 + delta * delta * na * n / new_n if na else m2
        self.count = new_n
        self.sum += total
        self._min, self._max = min(self._min, lo), max(self._max, hi)

    def merge(self, other: NumericProfile) -> Self:
        if not isinstance(other, NumericProfile):
            raise MergeError(f"cannot merge {type(other).__name__} into a NumericProfile")
        if other.kll_k != self._kll_k:
            raise MergeError(f"cannot merge numeric profiles with KLL k {self._kll_k} vs {other.kll_k}")
        self.missing += other.missing
        self.non_finite += other.non_finite
        self.wrong_type += other.wrong_type
        self._combine(other.count, other._min, other._max, other.sum, other.mean, other.m2)
        if other._kll is not None and not other._kll.is_empty:
            self._sketch().merge(other._kll)
        for values in list(other._pending):  # a copy of the list: other may be self
            self._buffer(values)
        return self

    def reset(self) -> None:
        self.__init__(self._kll_k)  # type: ignore[misc]

    def copy(self) -> NumericProfile:
        return NumericProfile.from_bytes(self.to_bytes())

    def to_bytes(self, *, nested: bool = False) -> bytes:
        return _blob(BlobKind.NUMERIC_PROFILE, (self._kll_k, 0, 0), self._payload(), nested)

    def _parts(self) -> list[bytes]:
        """This profile as a nested blob, in parts."""
        payload = self._payload()
        return [nested_header(BlobKind.NUMERIC_PROFILE, (self._kll_k, 0, 0), sum(map(len, payload))), *payload]

    def _payload(self) -> list[bytes]:
        """Format 2: k again (the header's parameters are outside the CRC, and with nothing in the sketch k is
        checked nowhere else), counts and moments, the sketch (empty chunk when it holds nothing), the pending
        values."""
        head = _NUMERIC_V2.pack(self._kll_k, self.count, self.missing, self.non_finite, self.wrong_type,
                                self._min, self._max, self.sum, self.mean, self.m2)
        kll = b"" if self._kll is None or self._kll.is_empty else self._kll.to_bytes(nested=True)
        values = b""
        if self._pending:
            pending = self._pending_values()
            values = (pending if _LITTLE_ENDIAN else pending.astype(_VALUES_DTYPE)).tobytes()
        return [head, _LEN.pack(len(kll)), kll, _LEN.pack(len(values)), values]

    @classmethod
    def from_bytes(cls, blob: bytes, kll_k: int | None = None, *, nested: bool = False) -> Self:
        """Reads format 2 and format 1 (counts, moments and the sketch: profiles in older baselines)."""
        expected = None if kll_k is None else (kll_k, 0, 0)
        env = unpack_envelope(blob, BlobKind.NUMERIC_PROFILE, expected, n_params=1, nested=nested)
        k = env.params[0]
        r = _Reader(env.payload, "numeric profile")
        if env.version >= 2 and r.unpack(_LEN)[0] != k:
            raise CorruptBlobError(f"numeric profile payload k differs from its header's k={k}")
        count, missing, non_finite, wrong, lo, hi, total, mean, m2 = r.unpack(_NUMERIC)
        kll_raw = r.chunk()
        values = _decode_values(r.chunk()) if env.version >= 2 else np.zeros(0)
        r.finish()
        kll = KllSketch.from_bytes(kll_raw, k=k, nested=True) if kll_raw or env.version < 2 else None
        out = cls(k)
        out.count, out.missing, out.non_finite, out.wrong_type = int(count), int(missing), int(non_finite), int(wrong)
        _counts_ok(out.count, out.missing, out.non_finite, out.wrong_type)
        n_sketch = 0 if kll is None else kll.n
        if n_sketch + values.size != out.count:
            raise CorruptBlobError(f"numeric profile count {out.count} differs from its KLL n {n_sketch} plus "
                                   f"{values.size} pending values")
        out._min, out._max, out.sum, out.mean, out.m2 = float(lo), float(hi), float(total), float(mean), float(m2)
        if kll is not None and n_sketch:  # an empty sketch is not kept (recreated on demand)
            out._kll = kll
        if values.size:
            out._pending, out._n_pending = [values], int(values.size)
        return out

    def __repr__(self) -> str:
        return f"NumericProfile(count={self.count}, missing={self.missing}, mean={self.mean:.6g})"


def _decode_values(raw: bytes) -> NDArray[np.float64]:
    if len(raw) % _VALUES_DTYPE.itemsize:
        raise CorruptBlobError(f"numeric profile values chunk is {len(raw)} bytes, not a multiple of 8")
    values = np.frombuffer(raw, dtype=_VALUES_DTYPE).astype(np.float64, copy=False)
    if not np.isfinite(values).all():
        raise CorruptBlobError("numeric profile holds non-finite pending values")
    return values


# --------------------------------------------------------------------------------------------- categorical


def format_numbers(values: NDArray[np.float64]) -> list[str]:
    """Canonical text of finite numbers: ``"3"`` for integral values, Python repr (``"2.5"``) otherwise."""
    out = values.astype(str).astype(object)
    integral = (values == np.floor(values)) & (np.abs(values) < _MAX_EXACT_INT)
    out[integral] = values[integral].astype(np.int64).astype(str)
    return [str(v) for v in out]


class CategoricalProfile:
    """Frequent items + distinct count of a feature's categorical values.

    ``count``: values fed to the sketches; ``missing``: MISSING rows; ``out_of_domain``: fed values outside
    ``domain`` (always 0 without a domain).
    """

    __slots__ = ("_distinct", "_frequent", "_hll_lg_k", "_lg_max_k", "count", "domain", "missing",
                 "out_of_domain")

    def __init__(self, lg_max_k: int = DEFAULT_LG_MAX_K, hll_lg_k: int = DEFAULT_HLL_LG_K,
                 domain: frozenset[str] | None = None) -> None:
        self._lg_max_k = check_lg_max_k(lg_max_k)
        self._hll_lg_k = check_hll_lg_k(hll_lg_k)
        # Sketches are allocated on the first value fed (or first access): numeric features never pay for them.
        self._frequent: FrequentItemsSketch | None = None
        self._distinct: DistinctCountSketch | None = None
        self.domain = None if domain is None else frozenset(domain)
        self.count = self.missing = self.out_of_domain = 0

    @classmethod
    def empty(cls, lg_max_k: int = DEFAULT_LG_MAX_K, hll_lg_k: int = DEFAULT_HLL_LG_K,
              domain: frozenset[str] | None = None) -> Self:
        return cls(lg_max_k, hll_lg_k, domain)

    @property
    def frequent(self) -> FrequentItemsSketch:
        if self._frequent is None:
            self._frequent = FrequentItemsSketch(self._lg_max_k)
        return self._frequent

    @frequent.setter
    def frequent(self, sketch: FrequentItemsSketch) -> None:
        self._frequent, self._lg_max_k = sketch, sketch.lg_max_k

    @property
    def distinct(self) -> DistinctCountSketch:
        if self._distinct is None:
            self._distinct = DistinctCountSketch(self._hll_lg_k)
        return self._distinct

    @distinct.setter
    def distinct(self, sketch: DistinctCountSketch) -> None:
        self._distinct, self._hll_lg_k = sketch, sketch.lg_k

    @property
    def lg_max_k(self) -> int:
        return self._lg_max_k

    @property
    def hll_lg_k(self) -> int:
        return self._hll_lg_k

    @property
    def is_empty(self) -> bool:
        return self.count + self.missing == 0

    def update(self, values: NDArray[np.object_] | Sequence[str | None]) -> None:
        """Add strings (None counts as missing)."""
        items, counts = value_counts(values)
        self.missing += len(values) - int(counts.sum())
        self.update_counts(items, counts)

    def update_counts(self, items: Sequence[str], counts: NDArray[np.int64]) -> None:
        """Add pre-aggregated distinct values and their counts."""
        if not items:
            return
        self.count += int(counts.sum())
        self.frequent.update_counts(items, counts)
        self.distinct.update_distinct(items)
        if self.domain is not None:
            self.out_of_domain += sum(int(c) for i, c in zip(items, counts, strict=True) if i not in self.domain)

    def frequencies(self) -> dict[str, int]:
        """Estimated count per tracked value (exact while fewer distinct values than the sketch's map size)."""
        return {} if self._frequent is None else self._frequent.frequencies()

    def merge(self, other: CategoricalProfile) -> Self:
        if not isinstance(other, CategoricalProfile):
            raise MergeError(f"cannot merge {type(other).__name__} into a CategoricalProfile")
        if other.domain != self.domain:
            raise MergeError("cannot merge categorical profiles with different domains")
        if other._lg_max_k != self._lg_max_k or other._hll_lg_k != self._hll_lg_k:
            raise MergeError(f"cannot merge categorical profiles with lg_max_k/hll_lg_k {self._lg_max_k}/"
                             f"{self._hll_lg_k} vs {other._lg_max_k}/{other._hll_lg_k}")
        if other._frequent is not None:
            self.frequent.merge(other._frequent)
        if other._distinct is not None:
            self.distinct.merge(other._distinct)
        self.count += other.count
        self.missing += other.missing
        self.out_of_domain += other.out_of_domain
        return self

    def reset(self) -> None:
        self.__init__(self._lg_max_k, self._hll_lg_k, self.domain)  # type: ignore[misc]

    def copy(self) -> CategoricalProfile:
        return CategoricalProfile.from_bytes(self.to_bytes())

    def to_bytes(self, *, nested: bool = False) -> bytes:
        return _blob(BlobKind.CATEGORICAL_PROFILE, (self._lg_max_k, self._hll_lg_k, 0), self._payload(), nested)

    def _parts(self) -> list[bytes]:
        """This profile as a nested blob, in parts."""
        if self._frequent is None and self._distinct is None and self.domain is None and not self.count:
            # the categorical part of a numeric feature: only a missing count, the rest is constant
            head = _CATEGORICAL.pack(0, self.missing, self.out_of_domain, 0)
            tail = _empty_categorical_tail(self._lg_max_k, self._hll_lg_k)
            return [_empty_categorical_header(self._lg_max_k, self._hll_lg_k), head, tail]
        params = (self._lg_max_k, self._hll_lg_k, 0)
        payload = self._payload()
        return [nested_header(BlobKind.CATEGORICAL_PROFILE, params, sum(map(len, payload))), *payload]

    def _payload(self) -> list[bytes]:
        """Format 2 (as 1, with nested sketches): counts, frequent items, distinct count, domain."""
        has_domain = self.domain is not None
        head = _CATEGORICAL.pack(self.count, self.missing, self.out_of_domain, int(has_domain))
        domain = orjson.dumps(sorted(self.domain)) if self.domain is not None else b""
        # not-yet-allocated sketches are written as empty ones (the same bytes as allocated empty ones)
        frequent = (empty_blob(BlobKind.FREQUENT_ITEMS, self._lg_max_k, True) if self._frequent is None
                    else self._frequent.to_bytes(nested=True))
        distinct = (empty_blob(BlobKind.DISTINCT_COUNT, self._hll_lg_k, True) if self._distinct is None
                    else self._distinct.to_bytes(nested=True))
        return [head, *_chunks([frequent], [distinct], [domain])]

    @classmethod
    def from_bytes(cls, blob: bytes, lg_max_k: int | None = None, hll_lg_k: int | None = None, *,
                   nested: bool = False) -> Self:
        env = unpack_envelope(blob, BlobKind.CATEGORICAL_PROFILE, n_params=2, nested=nested)
        lg, hll = env.params[0], env.params[1]
        if (lg_max_k is not None and lg != lg_max_k) or (hll_lg_k is not None and hll != hll_lg_k):
            raise ParameterMismatchError(f"categorical profile blob has lg_max_k={lg}, hll_lg_k={hll}; "
                                         f"expected {lg_max_k}, {hll_lg_k}")
        r = _Reader(env.payload, "categorical profile")
        count, missing, ood, has_domain = (int(v) for v in r.unpack(_CATEGORICAL))
        frequent = FrequentItemsSketch.from_bytes(r.chunk(), lg_max_k=lg, nested=True)
        distinct = DistinctCountSketch.from_bytes(r.chunk(), lg_k=hll, nested=True)
        domain_raw = r.chunk()
        r.finish()
        _counts_ok(count, missing, ood)
        out = cls(lg, hll, _decode_domain(domain_raw) if has_domain else None)
        out.count, out.missing, out.out_of_domain = count, missing, ood
        if count or not frequent.is_empty or frequent.max_error or not distinct.is_empty:
            out.frequent, out.distinct = frequent, distinct  # empty sketches are not kept (recreated on demand)
        return out

    def __repr__(self) -> str:
        return f"CategoricalProfile(count={self.count}, missing={self.missing}, distinct~{self._distinct_estimate():.0f})"

    def _distinct_estimate(self) -> float:
        return 0.0 if self._distinct is None else self._distinct.estimate


@functools.lru_cache(maxsize=16)
def _empty_categorical_header(lg_max_k: int, hll_lg_k: int) -> bytes:
    """Header of a nested categorical profile without values or domain (its payload length is fixed)."""
    length = _CATEGORICAL.size + len(_empty_categorical_tail(lg_max_k, hll_lg_k))
    return nested_header(BlobKind.CATEGORICAL_PROFILE, (lg_max_k, hll_lg_k, 0), length)


@functools.lru_cache(maxsize=16)
def _empty_categorical_tail(lg_max_k: int, hll_lg_k: int) -> bytes:
    """What follows the counts in a categorical profile without values or domain: empty sketches and domain."""
    frequent = empty_blob(BlobKind.FREQUENT_ITEMS, lg_max_k, True)
    distinct = empty_blob(BlobKind.DISTINCT_COUNT, hll_lg_k, True)
    return b"".join(_chunks([frequent], [distinct], [b""]))


def _decode_domain(raw: bytes) -> frozenset[str]:
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"categorical domain is not valid JSON: {exc}") from exc
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CorruptBlobError("categorical domain must be a list of strings")
    return frozenset(values)


# --------------------------------------------------------------------------------------------- finite blocks


@dataclass(frozen=True)
class _FiniteBlock:
    """Columns of one batch whose rows are all finite numbers, stacked, with per-column moments."""

    rows: list[int]  # positions of these columns in the candidate list
    values: NDArray[np.float64]  # (columns, rows): our own copy (row i is handed to a profile's buffer)
    n_fractional: NDArray[np.int64]
    total: NDArray[np.float64]
    mean: NDArray[np.float64]
    m2: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]


def _finite_block(candidates: Sequence[Column]) -> _FiniteBlock | None:
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
    return _FiniteBlock(rows, values, n_fractional, total, mean, m2, values.min(axis=1), values.max(axis=1))


# --------------------------------------------------------------------------------------------- feature


class FeatureProfile:
    """Everything streamdrift knows about one feature: Kind counts, numeric part, categorical part."""

    __slots__ = ("categorical", "declared", "numeric", "params", "type_counts")

    def __init__(self, params: ProfileParams = ProfileParams(),
                 declared: FeatureType | None = None, domain: frozenset[str] | None = None) -> None:
        self.params = params
        self.declared = declared
        self.type_counts: NDArray[np.int64] = np.zeros(N_KINDS, dtype=np.int64)
        self.numeric = NumericProfile(params.kll_k)
        self.categorical = CategoricalProfile(params.frequent_lg_max_k, params.hll_lg_k, domain)

    @classmethod
    def empty(cls, params: ProfileParams = ProfileParams(),
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

    def add_finite_row(self, block: _FiniteBlock, i: int) -> None:
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
        return _blob(BlobKind.FEATURE_PROFILE, self.params.as_tuple(), self._payload(), nested)

    def _parts(self) -> list[bytes]:
        """This profile as a nested blob, in parts."""
        payload = self._payload()
        return [nested_header(BlobKind.FEATURE_PROFILE, self.params.as_tuple(), sum(map(len, payload))), *payload]

    def _payload(self) -> list[bytes]:
        """Format 2 (as 1, with nested parts): Kind counts, declared type, numeric part, categorical part."""
        declared = b"" if self.declared is None else self.declared.value.encode()
        counts = _KIND_COUNTS.pack(*self.type_counts.tolist())
        numeric, categorical = self.numeric._parts(), self.categorical._parts()
        return [counts, _LEN.pack(len(declared)), declared, _LEN.pack(sum(map(len, numeric))), *numeric,
                _LEN.pack(sum(map(len, categorical))), *categorical]

    @classmethod
    def from_bytes(cls, blob: bytes, params: ProfileParams | None = None, *, nested: bool = False) -> Self:
        expected = None if params is None else params.as_tuple()
        env = unpack_envelope(blob, BlobKind.FEATURE_PROFILE, expected, nested=nested)
        p = ProfileParams(*env.params)
        r = _Reader(env.payload, "feature profile")
        type_counts = [int(v) for v in r.unpack(_KIND_COUNTS)]
        declared_raw, numeric_raw, categorical_raw = r.chunk(), r.chunk(), r.chunk()
        r.finish()
        _counts_ok(*type_counts)
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


# --------------------------------------------------------------------------------------------- dataset


class DatasetProfile:
    """Profiles of every feature of a stream of records (mergeable; see the module docstring)."""

    __slots__ = ("domains", "features", "n_records", "params")

    def __init__(self, params: ProfileParams = ProfileParams(),
                 schema: Schema | None = None, domains: Mapping[str, Iterable[str]] | None = None) -> None:
        self.params = params
        self.n_records = 0
        self.domains: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in (domains or {}).items()}
        self.features: dict[str, FeatureProfile] = {}
        for name, ftype in (schema or {}).items():
            self.features[name] = FeatureProfile(params, FeatureType(ftype), self.domains.get(name))

    @classmethod
    def empty(cls, params: ProfileParams = ProfileParams(),
              schema: Schema | None = None, domains: Mapping[str, Iterable[str]] | None = None) -> Self:
        """An empty profile; ``schema`` declares feature types (String/Boolean => categorical), ``domains``
        known categorical domains (counted in ``out_of_domain``)."""
        return cls(params, schema, domains)

    @property
    def is_empty(self) -> bool:
        return self.n_records == 0

    def declared_schema(self) -> dict[str, FeatureType]:
        return {n: f.declared for n, f in self.features.items() if f.declared is not None}

    def schema(self) -> dict[str, FeatureType]:
        """Feature names and their inferred types."""
        return {name: fp.inferred_type for name, fp in self.features.items()}

    def _new_feature(self, name: str) -> FeatureProfile:
        fp = FeatureProfile(self.params, None, self.domains.get(name))
        if self.n_records:
            fp.add_missing(self.n_records)
        self.features[name] = fp
        return fp

    def update(self, columns: Columns) -> None:
        """Add a batch; features absent from it count as missing for its ``n_rows`` records."""
        for name, col in columns.columns.items():
            if len(col) != columns.n_rows:
                raise BadRecordError("column_length", f"column {name!r} has {len(col)} rows, batch {columns.n_rows}")
        done = self._update_finite_block(columns)
        for name, col in columns.columns.items():
            if name not in done:
                fp = self.features.get(name) or self._new_feature(name)
                fp.update(col)
        for name, fp in self.features.items():
            if name not in columns.columns:
                fp.add_missing(columns.n_rows)
        self.n_records += columns.n_rows

    def _update_finite_block(self, columns: Columns) -> frozenset[str]:
        """Columns in which every row is a finite number (the common case), added together: their moments come
        from a few 2-D numpy reductions instead of several per column. Returns their names."""
        names = [name for name, col in columns.columns.items() if col.strings is None and not self._declared_text(name)]
        block = _finite_block([columns.columns[n] for n in names]) if len(names) > 1 else None
        if block is None:
            return frozenset()
        done = [names[i] for i in block.rows]
        for i, name in enumerate(done):
            fp = self.features.get(name) or self._new_feature(name)
            fp.add_finite_row(block, i)
        return frozenset(done)

    def _declared_text(self, name: str) -> bool:
        fp = self.features.get(name)
        return fp is not None and fp.declared is not None and fp.declared.is_categorical

    def merge(self, other: DatasetProfile) -> Self:
        """Merge ``other`` into this profile (in place) and return self."""
        if not isinstance(other, DatasetProfile):
            raise MergeError(f"cannot merge {type(other).__name__} into a DatasetProfile")
        if other.params != self.params:
            raise MergeError(f"cannot merge profiles with params {self.params} vs {other.params}")
        for name in self.domains.keys() & other.domains.keys():
            if self.domains[name] != other.domains[name]:
                raise MergeError(f"cannot merge profiles with different domains for feature {name!r}")
        source = other.copy() if other is self else other
        for name in source.features.keys() - self.features.keys():
            if name in source.domains:
                self.domains[name] = source.domains[name]
            self._new_feature(name)
        for name, fp in self.features.items():
            if name in source.features:
                fp.merge(source.features[name])
            else:
                fp.add_missing(source.n_records)
        self.n_records += source.n_records
        return self

    def reset(self) -> None:
        self.__init__(self.params, self.declared_schema(), self.domains)  # type: ignore[misc]

    def copy(self) -> DatasetProfile:
        return DatasetProfile.from_bytes(self.to_bytes())

    def to_bytes(self, *, nested: bool = False) -> bytes:
        """Format 2 (as 1, with nested feature blobs). ``nested``: without a CRC of its own, for a caller that
        wraps it in its own checksummed message (read it back with ``from_bytes(..., nested=True)``)."""
        names = sorted(self.features)
        head = orjson.dumps({"n_records": self.n_records, "features": names,
                             "domains": {k: sorted(v) for k, v in sorted(self.domains.items())}})
        with paused_gc():  # a few hundred short-lived lists, no cycles
            payload = _chunks([head], *(self.features[n]._parts() for n in names))
            return _blob(BlobKind.DATASET_PROFILE, self.params.as_tuple(), payload, nested)

    @classmethod
    def from_bytes(cls, blob: bytes, params: ProfileParams | None = None, *, nested: bool = False) -> Self:
        """``nested``: the blob comes from a message whose own checksum was verified (no CRC of its own)."""
        expected = None if params is None else params.as_tuple()
        env = unpack_envelope(blob, BlobKind.DATASET_PROFILE, expected, nested=nested)
        p = ProfileParams(*env.params)
        r = _Reader(env.payload, "dataset profile")
        n_records, names, domains = _decode_head(r.chunk())
        out = cls(p, None, domains)
        out.n_records = n_records
        for name in names:
            fp = FeatureProfile.from_bytes(r.chunk(), params=p, nested=True)
            if fp.n_records != n_records:
                raise CorruptBlobError(f"feature {name!r} covers {fp.n_records} records, profile {n_records}")
            out.features[name] = fp
        r.finish()
        return out

    def __repr__(self) -> str:
        return f"DatasetProfile(n_records={self.n_records}, features={len(self.features)})"


def _decode_head(raw: bytes) -> tuple[int, list[str], dict[str, list[str]]]:
    try:
        head = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"dataset profile header is not valid JSON: {exc}") from exc
    ok = (isinstance(head, dict) and isinstance(head.get("n_records"), int) and head["n_records"] >= 0
          and isinstance(head.get("features"), list) and all(isinstance(n, str) for n in head["features"])
          and isinstance(head.get("domains"), dict))
    if not ok:
        raise CorruptBlobError("dataset profile header lacks n_records / features / domains")
    return int(head["n_records"]), list(head["features"]), dict(head["domains"])
