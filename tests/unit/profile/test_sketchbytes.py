"""Structural checks of datasketches' serialized sketches: every layout datasketches writes passes, and the
inconsistencies that used to crash or raise native errors later are refused up front."""

from __future__ import annotations

import struct

import datasketches as ds
import numpy as np
import pytest

from streamdrift.errors import CorruptBlobError
from streamdrift.profile.sketchbytes import (
    check_frequent_items_read,
    check_frequent_strings,
    check_hll,
    check_kll_doubles,
    kll_capacity,
)


@pytest.mark.parametrize("k", [8, 64, 200, 1000, 65535])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 100_000])
def test_every_kll_datasketches_writes_passes(k: int, n: int) -> None:
    sketch = ds.kll_doubles_sketch(k)
    if n:
        sketch.update(np.random.default_rng(n).normal(size=n))
    check_kll_doubles(bytes(sketch.serialize()), k)
    other = ds.kll_doubles_sketch(k)
    other.update(np.arange(float(n + 3)))
    sketch.merge(other)  # merged sketches may flag level 0 sorted
    check_kll_doubles(bytes(sketch.serialize()), k)


def test_kll_capacity_matches_datasketches_layout() -> None:
    for k, n in ((8, 10**6), (200, 10**5), (1000, 5 * 10**5)):
        sketch = ds.kll_doubles_sketch(k)
        sketch.update(np.random.default_rng(0).normal(size=n))
        blob = bytes(sketch.serialize())
        levels = blob[18]
        first = struct.unpack_from("<I", blob, 20)[0]
        assert len(blob) == 20 + 4 * levels + 16 + 8 * (kll_capacity(k, levels) - first)


def _kll_blob() -> bytearray:
    sketch = ds.kll_doubles_sketch(64)
    sketch.update(np.random.default_rng(1).normal(size=5000))
    return bytearray(sketch.serialize())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda b: struct.pack_into("<Q", b, 8, 4999), "weigh"),  # n
    (lambda b: struct.pack_into("<I", b, 20, 10**6), "level offsets"),
    (lambda b: b.__setitem__(18, 40), "level offsets|bytes"),  # level count
    (lambda b: struct.pack_into("<d", b, len(b) - 8, float("nan")), "NaN"),
    (lambda b: struct.pack_into("<d", b, len(b) - 8, 1e9), r"\[min, max\]"),
    (lambda b: b.__setitem__(6, 4), "preamble"),  # m
    (lambda b: struct.pack_into("<H", b, 4, 65), "k=65"),
])
def test_inconsistent_kll_is_refused(edit: object, message: str) -> None:
    blob = _kll_blob()
    edit(blob)  # type: ignore[operator]
    with pytest.raises(CorruptBlobError, match=message):
        check_kll_doubles(bytes(blob), 64)


@pytest.mark.parametrize("lg", [3, 6, 10])
@pytest.mark.parametrize("n", [0, 1, 5, 100, 20_000])
def test_every_frequent_items_datasketches_writes_passes(lg: int, n: int) -> None:
    sketch = ds.frequent_strings_sketch(lg)
    for i in range(n):
        sketch.update(f"wörd{(i * 7919) % 1500}", 1 + i % 3)
    blob = bytes(sketch.serialize())
    count, total = check_frequent_strings(blob, lg)
    check_frequent_items_read(ds.frequent_strings_sketch.deserialize(blob), count, total)


def test_frequent_items_repeated_or_non_utf8_items_are_refused() -> None:
    sketch = ds.frequent_strings_sketch(6)
    for word in ("apple", "apply", "grape"):
        sketch.update(word, 3)
    blob = bytearray(sketch.serialize())
    count, total = check_frequent_strings(bytes(blob), 6)
    repeated = bytes(blob).replace(b"apply", b"apple")
    with pytest.raises(CorruptBlobError, match="repeated"):
        check_frequent_items_read(ds.frequent_strings_sketch.deserialize(repeated), count, total)
    broken = bytes(blob).replace(b"grape", b"gr\xffpe")
    with pytest.raises(CorruptBlobError, match="not UTF-8"):
        check_frequent_items_read(ds.frequent_strings_sketch.deserialize(broken), count, total)
    struct.pack_into("<I", blob, 8, 1000)
    with pytest.raises(CorruptBlobError, match="1000 items"):
        check_frequent_strings(bytes(blob), 6)


@pytest.mark.parametrize("lg_k", [4, 8, 12])
@pytest.mark.parametrize("tgt", [ds.tgt_hll_type.HLL_4, ds.tgt_hll_type.HLL_6, ds.tgt_hll_type.HLL_8])
@pytest.mark.parametrize("n", [0, 3, 40, 300, 60_000])
def test_every_hll_datasketches_writes_passes(lg_k: int, tgt: ds.tgt_hll_type, n: int) -> None:
    sketch = ds.hll_sketch(lg_k, tgt)
    for i in range(n):
        sketch.update(f"s{i}")
    check_hll(bytes(sketch.serialize_compact()), lg_k)
    union = ds.hll_union(lg_k)
    union.update(sketch)
    other = ds.hll_sketch(lg_k, tgt)
    for i in range(n // 2):
        other.update(f"t{i}")
    union.update(other)
    check_hll(bytes(union.get_result(tgt).serialize_compact()), lg_k)


def test_hll4_exception_table_must_match_its_registers() -> None:
    sketch = ds.hll_sketch(12, ds.tgt_hll_type.HLL_4)
    for i in range(60_000):
        sketch.update(f"s{i}")
    blob = bytearray(sketch.serialize_compact())
    aux = struct.unpack_from("<I", blob, 36)[0]
    assert aux >= 1  # this input has exceptions (registers 15 above the minimum)
    check_hll(bytes(blob), 12)
    struct.pack_into("<I", blob, len(blob) - 4, struct.unpack_from("<I", blob, len(blob) - 4)[0] ^ 1)  # its slot
    with pytest.raises(CorruptBlobError, match="exception"):
        check_hll(bytes(blob), 12)
