"""The numeric part of a feature profile: moments, counts by kind and a KLL sketch (blob kind NUMERIC_PROFILE)."""

from __future__ import annotations

import math
import struct
import sys
from typing import Final, Self

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Kind
from streamdrift.errors import CorruptBlobError, MergeError
from streamdrift.profile.envelope import BlobKind, check_kll_k, nested_header, unpack_envelope
from streamdrift.profile.kll import DEFAULT_KLL_K, KllSketch
from streamdrift.profile.payload import LEN, PayloadReader, check_counts, profile_blob

_NUMERIC: Final[struct.Struct] = struct.Struct("<qqqqddddd")
_NUMERIC_V2: Final[struct.Struct] = struct.Struct("<Iqqqqddddd")  # k, then _NUMERIC
_LITTLE_ENDIAN: Final[bool] = sys.byteorder == "little"
#: A numeric profile feeds its buffered values to its KLL sketch once this many times k are pending.
PENDING_FACTOR: Final[int] = 2
_VALUES_DTYPE: Final[np.dtype[np.float64]] = np.dtype("<f8")


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
        with np.errstate(over="ignore"):  # |values| beyond ~1e154: the sum of squares is +inf in float64, as it should read
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
        return profile_blob(BlobKind.NUMERIC_PROFILE, (self._kll_k, 0, 0), self._payload(), nested)

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
        return [head, LEN.pack(len(kll)), kll, LEN.pack(len(values)), values]

    @classmethod
    def from_bytes(cls, blob: bytes, kll_k: int | None = None, *, nested: bool = False) -> Self:
        """Reads format 2 and format 1 (counts, moments and the sketch: profiles in older baselines)."""
        expected = None if kll_k is None else (kll_k, 0, 0)
        env = unpack_envelope(blob, BlobKind.NUMERIC_PROFILE, expected, n_params=1, nested=nested)
        k = env.params[0]
        r = PayloadReader(env.payload, "numeric profile")
        if env.version >= 2 and r.unpack(LEN)[0] != k:
            raise CorruptBlobError(f"numeric profile payload k differs from its header's k={k}")
        count, missing, non_finite, wrong, lo, hi, total, mean, m2 = r.unpack(_NUMERIC)
        kll_raw = r.chunk()
        values = _decode_values(r.chunk()) if env.version >= 2 else np.zeros(0)
        r.finish()
        kll = KllSketch.from_bytes(kll_raw, k=k, nested=True) if kll_raw or env.version < 2 else None
        out = cls(k)
        out.count, out.missing, out.non_finite, out.wrong_type = int(count), int(missing), int(non_finite), int(wrong)
        check_counts(out.count, out.missing, out.non_finite, out.wrong_type)
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

