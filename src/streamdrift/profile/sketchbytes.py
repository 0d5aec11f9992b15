"""Structural checks of datasketches' serialized KLL, frequent-items and HLL sketches.

datasketches' ``deserialize`` bounds-checks the buffer but trusts much of what it reads: KLL level offsets and
n, HLL modes, register values and exception tables are used as they are, so a payload altered behind a valid
CRC loaded fine and then crashed the process (a segmentation fault in ``get_quantiles``, heap corruption in a
merge); a frequent item that is not UTF-8 made every later query raise ``std::bad_cast``. The checks here run
before datasketches reads a payload (``check_kll_doubles``, ``check_frequent_strings``, ``check_hll``: the
layout against the parameters the envelope declares, in a few vectorized steps) or right after it
(``check_frequent_items_read``), and raise :class:`CorruptBlobError` naming the sketch kind and the
inconsistency. What passes is what datasketches 5 itself writes for those parameters (KLL serial versions 1
and 2, frequent items serial version 1, compact HLL serial version 1; little-endian).
"""

from __future__ import annotations

import functools
import itertools
import math
import struct
from typing import Any, Final

import datasketches as ds
import numpy as np

from streamdrift.errors import CorruptBlobError

# ------------------------------------------------------------------------------------------------ KLL

_KLL_FAMILY: Final[int] = 15
_KLL_M: Final[int] = 8
_KLL_PREAMBLE: Final[struct.Struct] = struct.Struct("<BBBBHBB")  # preamble ints, version, family, flags, k, m
_KLL_FULL: Final[struct.Struct] = struct.Struct("<QHBB")  # n, min_k, num_levels, unused
_KLL_EMPTY, _KLL_LEVEL_ZERO_SORTED, _KLL_SINGLE_ITEM = 1, 2, 4
_KLL_MAX_LEVELS: Final[int] = 61


@functools.lru_cache(maxsize=1024)
def kll_capacity(k: int, num_levels: int) -> int:
    """Items a KLL sketch with ``num_levels`` levels holds at most (the sum of its level capacities: level h of
    L holds about k * (2/3)^(L-h-1) items, rounded, and at least m = 8)."""
    total = 0
    for height in range(num_levels):
        depth = num_levels - height - 1
        total += max(_KLL_M, _level_width(k, depth) if depth <= 30 else
                     _level_width(_level_width(k, depth // 2), depth - depth // 2))
    return total


def _level_width(k: int, depth: int) -> int:
    return int(((((2 * k) << depth) // 3**depth) + 1) >> 1)


def check_kll_doubles(payload: bytes, k: int) -> None:
    """A ``kll_doubles_sketch`` payload consistent with ``k``: preamble, level offsets within the capacity of its
    level count, sample weights summing to n, length, items within [min, max] and no NaN (which would break the
    sorts' ordering). Whether the levels are sorted is not checked: unsorted levels give wrong quantiles, as
    any tampered value does, but no memory error."""
    if len(payload) < _KLL_PREAMBLE.size:
        raise CorruptBlobError(f"KLL payload of {len(payload)} bytes is shorter than its preamble")
    preamble, version, family, flags, sk_k, m, _ = _KLL_PREAMBLE.unpack_from(payload)
    if family != _KLL_FAMILY or m != _KLL_M or flags & ~(_KLL_EMPTY | _KLL_LEVEL_ZERO_SORTED | _KLL_SINGLE_ITEM):
        raise CorruptBlobError(f"KLL payload preamble is not a KLL sketch's (family {family}, m {m}, flags {flags})")
    if sk_k != k:
        raise CorruptBlobError(f"KLL payload has k={sk_k} but its header says k={k}")
    if flags & _KLL_EMPTY:
        if (preamble, version, len(payload)) != (2, 1, _KLL_PREAMBLE.size) or flags & _KLL_SINGLE_ITEM:
            raise CorruptBlobError("empty KLL payload has a wrong preamble or length")
        return
    if flags & _KLL_SINGLE_ITEM:
        if (preamble, version, len(payload)) != (2, 2, _KLL_PREAMBLE.size + 8):
            raise CorruptBlobError("single-item KLL payload has a wrong preamble or length")
        if math.isnan(struct.unpack_from("<d", payload, _KLL_PREAMBLE.size)[0]):
            raise CorruptBlobError("KLL payload holds a NaN")
        return
    at = _KLL_PREAMBLE.size + _KLL_FULL.size
    if (preamble, version) != (5, 1) or len(payload) < at:
        raise CorruptBlobError(f"KLL payload has preamble {preamble}, serial version {version}")
    n, min_k, num_levels, _ = _KLL_FULL.unpack_from(payload, _KLL_PREAMBLE.size)
    if not 8 <= min_k <= k or not 1 <= num_levels <= _KLL_MAX_LEVELS or n == 0:
        raise CorruptBlobError(f"KLL payload has min_k={min_k}, {num_levels} levels, n={n}")
    capacity = kll_capacity(k, num_levels)
    head = at + 4 * num_levels + 16
    if len(payload) < head:
        raise CorruptBlobError(f"KLL payload ends inside its {num_levels} level offsets")
    levels = [*struct.unpack_from(f"<{num_levels}I", payload, at), capacity]
    if levels[0] >= capacity or any(a > b for a, b in itertools.pairwise(levels)):
        raise CorruptBlobError(f"KLL payload level offsets {levels[:8]}{' ...' if len(levels) > 8 else ''} are not "
                               f"within its capacity {capacity}")
    n_items = capacity - levels[0]
    if len(payload) != head + 8 * n_items:
        raise CorruptBlobError(f"KLL payload is {len(payload)} bytes; {n_items} items need {head + 8 * n_items}")
    weight = sum((levels[i + 1] - levels[i]) << i for i in range(num_levels))
    if weight != n:
        raise CorruptBlobError(f"KLL payload has n={n} but its levels weigh {weight}")
    values = np.frombuffer(payload, dtype="<f8", offset=head - 16)  # min, max, then the items level by level
    lo, hi, items = values[0], values[1], values[2:]
    if not lo <= items.min() <= items.max() <= hi:  # also false when any of them is NaN
        raise CorruptBlobError(f"KLL payload items fall outside its [min, max] = [{lo}, {hi}] (or hold a NaN)")


# ------------------------------------------------------------------------------------------------ frequent items

_FI_FAMILY: Final[int] = 10
_FI_PREAMBLE: Final[struct.Struct] = struct.Struct("<BBBBBBH")  # longs, version, family, lg max, lg cur, flags
_FI_COUNTS: Final[struct.Struct] = struct.Struct("<IIQQ")  # active items, unused, total weight, offset
_FI_EMPTY_FLAGS: Final[frozenset[int]] = frozenset({1, 4, 5})  # datasketches' two historical empty bits
_FI_LG_MIN: Final[int] = 3
#: Largest count or weight a sketch blob may declare: far above any real stream, far below overflow when a
#: few are added.
MAX_WEIGHT: Final[int] = 1 << 62


def check_frequent_strings(payload: bytes, lg_max_k: int) -> tuple[int, int]:
    """A ``frequent_strings_sketch`` payload consistent with ``lg_max_k``: preamble, map sizes, item count within
    the map's load, positive weights summing to at most the total, offset. Returns (active items, total weight).

    datasketches 5 bounds-checks the item strings itself; that they are UTF-8 and distinct is checked on the
    deserialized sketch (:func:`check_frequent_items_read`)."""
    if len(payload) < _FI_PREAMBLE.size:
        raise CorruptBlobError(f"frequent-items payload of {len(payload)} bytes is shorter than its preamble")
    longs, version, family, lg_max, lg_cur, flags, unused = _FI_PREAMBLE.unpack_from(payload)
    if family != _FI_FAMILY or version != 1 or unused:
        raise CorruptBlobError(f"frequent-items payload preamble is not a sketch's (family {family}, "
                               f"version {version})")
    if lg_max != lg_max_k or not _FI_LG_MIN <= lg_cur <= lg_max:
        raise CorruptBlobError(f"frequent-items payload has lg_max_k={lg_max}, lg_cur={lg_cur}; its header says "
                               f"lg_max_k={lg_max_k}")
    if flags in _FI_EMPTY_FLAGS:
        if longs != 1 or len(payload) != _FI_PREAMBLE.size:
            raise CorruptBlobError("empty frequent-items payload has a wrong preamble or length")
        return 0, 0
    if flags or longs != 4 or len(payload) < _FI_PREAMBLE.size + _FI_COUNTS.size:
        raise CorruptBlobError(f"frequent-items payload has flags {flags}, {longs} preamble longs")
    count, unused32, total, offset = _FI_COUNTS.unpack_from(payload, _FI_PREAMBLE.size)
    if unused32 or not 1 <= count <= (3 << lg_cur) // 4 or total > MAX_WEIGHT or offset > total:
        raise CorruptBlobError(f"frequent-items payload has {count} items (map of 2^{lg_cur}), total weight "
                               f"{total}, offset {offset}")
    at = _FI_PREAMBLE.size + _FI_COUNTS.size
    if len(payload) < at + 12 * count:
        raise CorruptBlobError(f"frequent-items payload ends before its {count} items")
    weights = np.frombuffer(payload, dtype="<u8", count=count, offset=at)
    if weights.min() == 0 or weights.max() > total or float(weights.sum(dtype=np.float64)) > total * (1 + 1e-9):
        raise CorruptBlobError(f"frequent-items payload weights do not fit its total weight {total}")
    return count, total


def check_frequent_items_read(sketch: Any, count: int, total: int) -> None:
    """The deserialized ``frequent_strings_sketch`` holds ``count`` distinct items (datasketches merges repeated
    ones), ``total`` weight, and items that convert to Python strings (UTF-8: else every later query raises
    ``std::bad_cast``)."""
    if int(sketch.num_active_items) != count or int(sketch.total_weight) != total:
        raise CorruptBlobError("frequent-items payload does not read back as written (repeated items?)")
    if count:
        try:
            sketch.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
        except RuntimeError as exc:
            raise CorruptBlobError(f"frequent-items payload holds an item that is not UTF-8 ({exc})") from exc


# ------------------------------------------------------------------------------------------------ HLL

_HLL_FAMILY: Final[int] = 7
_HLL_PREAMBLE: Final[struct.Struct] = struct.Struct("<BBBBBBBB")
_HLL_ARRAY_HEAD: Final[struct.Struct] = struct.Struct("<dddII")  # hip, kxq0, kxq1, num at cur min, aux count
_HLL_EMPTY, _HLL_COMPACT, _HLL_OUT_OF_ORDER = 4, 8, 16
_LIST, _SET, _HLL = 0, 1, 2
_HLL_4, _HLL_6, _HLL_8 = 0, 1, 2
_AUX_TOKEN: Final[int] = 15
_SLOT_BITS: Final[int] = 26


def hll_array_bytes(tgt_type: int, lg_k: int) -> int:
    """Bytes of the register array of an HLL sketch of type HLL_4 / HLL_6 / HLL_8 with 2^lg_k registers."""
    k = 1 << lg_k
    return k >> 1 if tgt_type == _HLL_4 else (3 * k >> 2) + 1 if tgt_type == _HLL_6 else k


def check_hll(payload: bytes, lg_k: int) -> None:
    """A compact ``hll_sketch`` payload consistent with ``lg_k``: preamble, mode, flags and, per mode, the
    coupon list or set (counts, length, valid distinct coupons) or the register array (type, length, register
    values, estimator fields, and for HLL_4 an exception table that matches its exception registers)."""
    if len(payload) < _HLL_PREAMBLE.size:
        raise CorruptBlobError(f"HLL payload of {len(payload)} bytes is shorter than its preamble")
    preamble, version, family, sk_lg_k, lg_arr, flags, count_or_min, mode_byte = _HLL_PREAMBLE.unpack_from(payload)
    mode, tgt = mode_byte & 3, (mode_byte >> 2) & 3
    if family != _HLL_FAMILY or version != 1 or mode_byte >> 4 or mode > _HLL or tgt > _HLL_8:
        raise CorruptBlobError(f"HLL payload preamble is not an HLL sketch's (family {family}, mode byte {mode_byte})")
    if sk_lg_k != lg_k:
        raise CorruptBlobError(f"HLL payload has lg_k={sk_lg_k} but its header says {lg_k}")
    if flags & ~(_HLL_EMPTY | _HLL_COMPACT | _HLL_OUT_OF_ORDER) or not flags & _HLL_COMPACT:
        raise CorruptBlobError(f"HLL payload has flags {flags} (a compact sketch's expected)")
    if mode == _LIST:
        if preamble != 2 or lg_arr != 3 or count_or_min >= 1 << lg_arr:
            raise CorruptBlobError(f"HLL list payload has preamble {preamble}, lg_arr {lg_arr}, {count_or_min} coupons")
        _check_coupons(payload, _HLL_PREAMBLE.size, count_or_min, bool(flags & _HLL_EMPTY))
    elif mode == _SET:
        if preamble != 3 or len(payload) < 12 or not 5 <= lg_arr <= lg_k or count_or_min:
            raise CorruptBlobError(f"HLL set payload has preamble {preamble}, lg_arr {lg_arr}")
        (count,) = struct.unpack_from("<I", payload, 8)
        if count > (3 << lg_arr) // 4:
            raise CorruptBlobError(f"HLL set payload has {count} coupons for a table of 2^{lg_arr}")
        _check_coupons(payload, 12, count, bool(flags & _HLL_EMPTY))
    else:
        _check_hll_array(payload, lg_k, preamble, lg_arr, flags, count_or_min, tgt)


def _check_coupons(payload: bytes, at: int, count: int, empty: bool) -> None:
    if empty != (count == 0) or len(payload) != at + 4 * count:
        raise CorruptBlobError(f"HLL payload of {len(payload)} bytes does not hold its {count} coupons")
    if not count:
        return
    coupons = np.frombuffer(payload, dtype="<u4", count=count, offset=at)
    if (coupons >> _SLOT_BITS).min() == 0 or np.unique(coupons).size != count:
        raise CorruptBlobError("HLL payload holds empty or repeated coupons")


def _check_hll_array(payload: bytes, lg_k: int, preamble: int, lg_arr: int, flags: int, cur_min: int,
                     tgt: int) -> None:
    k = 1 << lg_k
    head = _HLL_PREAMBLE.size + _HLL_ARRAY_HEAD.size
    if preamble != 10 or flags & _HLL_EMPTY or len(payload) < head:
        raise CorruptBlobError(f"HLL array payload has preamble {preamble}, flags {flags}")
    hip, kxq0, kxq1, at_cur_min, aux_count = _HLL_ARRAY_HEAD.unpack_from(payload, _HLL_PREAMBLE.size)
    if not all(np.isfinite(v) and v >= 0 for v in (hip, kxq0, kxq1)) or at_cur_min > k:
        raise CorruptBlobError("HLL array payload has invalid estimator fields")
    size = hll_array_bytes(tgt, lg_k)
    if len(payload) != head + size + 4 * aux_count:
        raise CorruptBlobError(f"HLL array payload is {len(payload)} bytes, expected {head + size + 4 * aux_count}")
    raw = np.frombuffer(payload, dtype=np.uint8, count=size, offset=head)
    if tgt != _HLL_4:
        if aux_count or lg_arr or cur_min or (tgt == _HLL_8 and raw.max(initial=0) > 63):
            raise CorruptBlobError("HLL_6/HLL_8 array payload has an exception table, a minimum or a register > 63")
        return
    if cur_min > 63 - _AUX_TOKEN:
        raise CorruptBlobError(f"HLL_4 array payload has minimum register {cur_min}")
    nibbles = np.empty(k, dtype=np.uint8)
    nibbles[0::2], nibbles[1::2] = raw & 15, raw >> 4
    exceptions = np.flatnonzero(nibbles == _AUX_TOKEN)
    if exceptions.size != aux_count:
        raise CorruptBlobError(f"HLL_4 payload has {exceptions.size} exception registers, {aux_count} exceptions")
    if not aux_count:
        if lg_arr:
            raise CorruptBlobError("HLL_4 payload without exceptions declares an exception table")
        return
    if not 2 <= lg_arr <= lg_k or aux_count > (3 << lg_arr) // 4:
        raise CorruptBlobError(f"HLL_4 payload has {aux_count} exceptions for a table of 2^{lg_arr}")
    aux = np.frombuffer(payload, dtype="<u4", count=aux_count, offset=head + size)
    slots, values = aux & ((1 << _SLOT_BITS) - 1), aux >> _SLOT_BITS
    if (not np.array_equal(np.sort(slots), exceptions) or values.min() < cur_min + _AUX_TOKEN
            or values.max() > 63):
        raise CorruptBlobError("HLL_4 payload exceptions do not match its exception registers")
