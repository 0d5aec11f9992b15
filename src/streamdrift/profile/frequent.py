"""Heavy hitters over strings: a wrapper around datasketches' ``frequent_strings_sketch`` (blob kind
FREQUENT_ITEMS), and :func:`value_counts`, the batch pre-aggregation shared with the distinct-count sketch."""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Self

import datasketches as ds
import numpy as np
from numpy.typing import NDArray

from streamdrift._native import canonical_frequent_strings
from streamdrift.errors import CorruptBlobError, MergeError
from streamdrift.profile.envelope import (
    PARSE_ERRORS,
    BlobKind,
    check_lg_max_k,
    expect_param,
    pack_envelope,
    unpack_envelope,
)
from streamdrift.profile.sketchbytes import MAX_WEIGHT, check_frequent_items_read, check_frequent_strings

DEFAULT_LG_MAX_K: Final[int] = 10
#: Frequent-items payload prefix: exact total weight, error offset datasketches lost (both u64).
_FREQ_PREFIX: Final[struct.Struct] = struct.Struct("<QQ")


def value_counts(values: NDArray[np.object_] | Sequence[str | None]) -> tuple[list[str], NDArray[np.int64]]:
    """Distinct strings of a batch (first-seen order) and their counts; None entries are skipped.

    Plain strings are counted with :class:`collections.Counter` (C hashing, str hashes are cached: several
    times faster than converting to arrow for batches of a few thousand rows); anything else goes through
    pyarrow with its ``str()`` form.
    """
    if len(values) == 0:
        return [], np.zeros(0, dtype=np.int64)
    plain = _plain_string_counts(values)
    if plain is not None:
        return plain
    import pyarrow as pa  # the unusual case only: the worker does not load pyarrow
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, type=pa.string(), from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Not all strings: fall back to their str() form (slow path, unusual input).
        arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    vc = pc.value_counts(arr.drop_null())
    items: list[str] = vc.field("values").to_pylist()
    counts = vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
    return items, counts


def _plain_string_counts(
    values: NDArray[np.object_] | Sequence[str | None],
) -> tuple[list[str], NDArray[np.int64]] | None:
    """:func:`value_counts` when every non-None value is a ``str``, else None."""
    try:
        counter = Counter(values.tolist() if isinstance(values, np.ndarray) else values)
    except TypeError:  # unhashable objects
        return None
    counter.pop(None, None)
    if not all(type(item) is str for item in counter):
        return None
    return list(counter), np.fromiter(counter.values(), dtype=np.int64, count=len(counter))


@dataclass(frozen=True, slots=True)
class FrequentItem:
    item: str
    estimate: int
    lower: int
    upper: int


class FrequentItemsSketch:
    """Heavy hitters over strings (datasketches ``frequent_strings_sketch``, lg_max_k = log2 of map size).

    datasketches treats a sketch whose counters were all purged (e.g. many values seen once each) as *empty*:
    its ``merge`` then ignores it and ``serialize`` drops its total weight and error offset. The wrapper keeps
    the exact total weight itself and carries such lost offsets in ``_lost_error`` (added to every upper
    bound and to ``max_error``), and stores both in its payload in front of datasketches' bytes.
    """

    __slots__ = ("_lg", "_lost_error", "_sk", "_weight")

    def __init__(self, lg_max_k: int = DEFAULT_LG_MAX_K) -> None:
        self._lg = check_lg_max_k(lg_max_k)
        self._sk = ds.frequent_strings_sketch(self._lg)
        self._weight = 0
        self._lost_error = 0

    @classmethod
    def empty(cls, lg_max_k: int = DEFAULT_LG_MAX_K) -> Self:
        return cls(lg_max_k)

    @property
    def lg_max_k(self) -> int:
        return self._lg

    @property
    def is_empty(self) -> bool:
        return self._weight == 0

    @property
    def total_weight(self) -> int:
        return self._weight

    @property
    def num_active_items(self) -> int:
        return int(self._sk.num_active_items)

    def _sketch_error(self) -> int:
        probe = "\x00streamdrift-probe"
        return int(self._sk.get_upper_bound(probe)) - int(self._sk.get_lower_bound(probe))

    @property
    def max_error(self) -> int:
        """Upper minus lower bound of any item's count (0 while the sketch is exact)."""
        return self._sketch_error() + self._lost_error

    def update(self, values: NDArray[np.object_] | Sequence[str | None]) -> None:
        """Add a batch of strings: pre-aggregated (one weighted update per distinct value; None skipped)."""
        items, counts = value_counts(values)
        self.update_counts(items, counts)

    def update_counts(self, items: Sequence[str], counts: NDArray[np.int64] | Sequence[int]) -> None:
        """Weighted updates (non-positive counts are ignored)."""
        for item, count in zip(items, np.asarray(counts, dtype=np.int64).tolist(), strict=True):
            if count > 0:
                self._sk.update(item, count)
                self._weight += count

    def merge(self, other: FrequentItemsSketch) -> Self:
        if not isinstance(other, FrequentItemsSketch):
            raise MergeError(f"cannot merge {type(other).__name__} into a FrequentItemsSketch")
        if other.lg_max_k != self._lg:
            raise MergeError(f"cannot merge frequent-items sketches with lg_max_k {self._lg} vs {other.lg_max_k}")
        if other.num_active_items == 0:
            self._lost_error += other.max_error  # datasketches would drop other's offset
        else:
            self._sk.merge(other._sk)
            self._lost_error += other._lost_error
        self._weight += other._weight
        return self

    def reset(self) -> None:
        self.__init__(self._lg)  # type: ignore[misc]

    def copy(self) -> FrequentItemsSketch:
        return FrequentItemsSketch.from_bytes(self.to_bytes())

    def estimate(self, item: str) -> int:
        return int(self._sk.get_estimate(item))

    def top(self, no_false_positives: bool = False, threshold: int | None = None) -> list[FrequentItem]:
        """Frequent items, largest estimate first.

        Default error type is NO_FALSE_NEGATIVES: every item whose true count exceeds ``threshold`` is listed
        (``threshold`` defaults to ``max_error``, below which no guarantee is possible).
        """
        err = ds.frequent_items_error_type.NO_FALSE_POSITIVES if no_false_positives else (
            ds.frequent_items_error_type.NO_FALSE_NEGATIVES
        )
        limit = self.max_error if threshold is None else int(threshold)
        rows = self._sk.get_frequent_items(err, max(limit - self._lost_error, 0) if not no_false_positives else limit)
        out = [FrequentItem(str(r[0]), int(r[1]), int(r[2]), int(r[3]) + self._lost_error) for r in rows]
        return [f for f in out if (f.lower if no_false_positives else f.upper) > limit or limit == 0]

    def frequencies(self) -> dict[str, int]:
        """Estimate of every tracked item (all of them while the sketch is exact)."""
        return {f.item: f.estimate for f in self.top(threshold=0)} if not self.is_empty else {}

    def to_bytes(self, *, nested: bool = False) -> bytes:
        lost = self._lost_error + (self._sketch_error() if self.num_active_items == 0 else 0)
        payload = _FREQ_PREFIX.pack(self._weight, lost) + canonical_frequent_strings(bytes(self._sk.serialize()))
        return pack_envelope(BlobKind.FREQUENT_ITEMS, (self._lg, 0, 0), payload, nested=nested)

    @classmethod
    def from_bytes(cls, blob: bytes, lg_max_k: int | None = None, *, nested: bool = False) -> Self:
        env = unpack_envelope(blob, BlobKind.FREQUENT_ITEMS, n_params=1, expected=expect_param(lg_max_k), nested=nested)
        out = cls(env.params[0])
        if len(env.payload) < _FREQ_PREFIX.size:
            raise CorruptBlobError("frequent-items payload is shorter than its weight prefix")
        weight, lost = _FREQ_PREFIX.unpack_from(env.payload)
        data = env.payload[_FREQ_PREFIX.size :]
        count, total = check_frequent_strings(data, out.lg_max_k)  # before datasketches reads it
        if total > weight or weight > MAX_WEIGHT or lost > weight:
            raise CorruptBlobError(f"frequent-items total weight {weight} does not cover the sketch's {total} and "
                                   f"its lost error {lost}")
        try:
            out._sk = ds.frequent_strings_sketch.deserialize(data)
        except PARSE_ERRORS as exc:
            raise CorruptBlobError(f"frequent-items payload does not parse: {exc}") from exc
        check_frequent_items_read(out._sk, count, total)
        out._weight, out._lost_error = int(weight), int(lost)
        return out

    def __repr__(self) -> str:
        return f"FrequentItemsSketch(lg_max_k={self._lg}, total_weight={self.total_weight})"

