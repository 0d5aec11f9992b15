"""The categorical part of a feature profile: frequent items, distinct count, domain (blob kind
CATEGORICAL_PROFILE), and the canonical text form of numbers fed to it."""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Final, Self

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.errors import CorruptBlobError, MergeError, ParameterMismatchError
from streamdrift.profile.distinct import DEFAULT_HLL_LG_K, DistinctCountSketch
from streamdrift.profile.envelope import (
    BlobKind,
    check_hll_lg_k,
    check_lg_max_k,
    nested_header,
    unpack_envelope,
)
from streamdrift.profile.frequent import DEFAULT_LG_MAX_K, FrequentItemsSketch, value_counts
from streamdrift.profile.payload import PayloadReader, check_counts, chunked, profile_blob
from streamdrift.profile.sketches import empty_blob

_CATEGORICAL: Final[struct.Struct] = struct.Struct("<qqqB")
#: Integral values with |x| below this are written as integers in the categorical text form.
_MAX_EXACT_INT: Final[float] = 2.0**53


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
        return profile_blob(BlobKind.CATEGORICAL_PROFILE, (self._lg_max_k, self._hll_lg_k, 0), self._payload(), nested)

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
        return [head, *chunked([frequent], [distinct], [domain])]

    @classmethod
    def from_bytes(cls, blob: bytes, lg_max_k: int | None = None, hll_lg_k: int | None = None, *,
                   nested: bool = False) -> Self:
        env = unpack_envelope(blob, BlobKind.CATEGORICAL_PROFILE, n_params=2, nested=nested)
        lg, hll = env.params[0], env.params[1]
        if (lg_max_k is not None and lg != lg_max_k) or (hll_lg_k is not None and hll != hll_lg_k):
            raise ParameterMismatchError(f"categorical profile blob has lg_max_k={lg}, hll_lg_k={hll}; "
                                         f"expected {lg_max_k}, {hll_lg_k}")
        r = PayloadReader(env.payload, "categorical profile")
        count, missing, ood, has_domain = (int(v) for v in r.unpack(_CATEGORICAL))
        if not (count or has_domain) and env.payload[_CATEGORICAL.size:] == _empty_categorical_tail(
                check_lg_max_k(lg), check_hll_lg_k(hll)):
            # the categorical part of a numeric feature (as _parts writes it): nothing to deserialize
            check_counts(missing, ood)
            out = cls(lg, hll)
            out.missing, out.out_of_domain = missing, ood
            return out
        frequent = FrequentItemsSketch.from_bytes(r.chunk(), lg_max_k=lg, nested=True)
        distinct = DistinctCountSketch.from_bytes(r.chunk(), lg_k=hll, nested=True)
        domain_raw = r.chunk()
        r.finish()
        check_counts(count, missing, ood)
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
    return b"".join(chunked([frequent], [distinct], [b""]))


def _decode_domain(raw: bytes) -> frozenset[str]:
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"categorical domain is not valid JSON: {exc}") from exc
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CorruptBlobError("categorical domain must be a list of strings")
    return frozenset(values)

