"""The spilled join values' format: every storable value comes back equal (and of its plain type), anything
else is refused when written, and a damaged section gives JoinStoreError, never another exception."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.errors import JoinStoreError
from streamdrift.window.spillvalues import MAGIC, SpilledValues, encode_rows, section_size

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(),
                     st.binary(), st.lists(st.integers(-5, 5), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.floats(allow_nan=False, allow_infinity=False), max_size=2))
_rows = st.lists(st.one_of(st.none(), st.tuples(_scalars, _scalars, _scalars)), max_size=30)


def _decode(blob: bytes, n: int) -> list[tuple[Any, ...] | None]:
    values = SpilledValues(blob, 0, len(blob), n, "test")
    return [values.row(i) for i in range(n)]


@given(_rows)
@settings(max_examples=300, deadline=None)
def test_rows_come_back_equal(rows: list[tuple[Any, Any, Any] | None]) -> None:
    blob = encode_rows(rows, 3)
    got = _decode(blob, len(rows))
    assert got == rows
    assert [tuple(map(type, r)) if r else r for r in got] == [tuple(map(type, r)) if r else r for r in rows]


def test_the_usual_values_and_their_oddities() -> None:
    rows: list[tuple[Any, ...] | None] = [
        (1718000000000, "cat", 0.25), None, (5, None, math.nan), (7, "\ud800é", -0.0), (2**70, True, b"\x00")]
    got = _decode(encode_rows(rows, 3), len(rows))
    assert got[0] == rows[0] and got[1] is None and got[4] == rows[4]
    assert got[2] is not None and got[2][1] is None and math.isnan(got[2][2])
    assert got[3] is not None and got[3][1] == "\ud800é" and math.copysign(1, got[3][2]) == -1
    numpy_row = (np.int64(3), np.str_("x"), np.float32(0.5))  # numpy scalars: the plain Python values
    assert _decode(encode_rows([numpy_row], 3), 1) == [(3, "x", 0.5)]
    assert _decode(encode_rows([(1, (1, 2), {"a": [1]})], 3), 1) == [(1, [1, 2], {"a": [1]})]  # JSON: lists
    assert _decode(encode_rows([(1, [math.inf], None)], 3), 1) == [(1, [None], None)]  # JSON has no inf / nan


def test_rows_are_read_in_batches_in_any_order() -> None:
    rows: list[tuple[Any, ...] | None] = [(i, f"c{i % 3}", None if i % 2 else i / 4) if i % 4 else None
                                          for i in range(40)]
    values = SpilledValues(encode_rows(rows, 3), 0, len(encode_rows(rows, 3)), 40, "t")
    order = [39, 0, 5, 5, 12, 1, 38]
    assert values.rows(order) == [rows[i] for i in order]
    assert values.rows([]) == []
    with pytest.raises(IndexError):
        values.rows([40])


def test_values_that_are_not_data_are_refused() -> None:
    with pytest.raises(JoinStoreError, match="type object"):
        encode_rows([(1, object(), None)], 3)
    for short_or_long in ([(1, 2)], [(1, 2, 3), (1, 2, 3, 4)], [(1, 2, 3, 4), (1, 2)]):
        with pytest.raises(JoinStoreError, match="3 values"):
            encode_rows(short_or_long, 3)


def test_an_empty_section() -> None:
    blob = encode_rows([], 3)
    assert len(blob) == section_size(0, 0, 3, 0, 0) and _decode(blob, 0) == []


def test_damaged_sections_give_join_store_errors() -> None:
    rows = [(i, f"v{i}", float(i)) for i in range(10)]
    blob = encode_rows(rows, 3)
    with pytest.raises(JoinStoreError, match="corrupt"):
        SpilledValues(blob, 0, len(blob), 11, "f")  # not the rows written
    with pytest.raises(JoinStoreError, match="corrupt"):
        SpilledValues(b"XXXX" + blob[4:], 0, len(blob), 10, "f")
    with pytest.raises(JoinStoreError, match="version 9"):
        SpilledValues(MAGIC + struct.pack("<H", 9) + blob[6:], 0, len(blob), 10, "f")
    with pytest.raises(JoinStoreError, match="corrupt"):
        SpilledValues(blob[:-1], 0, len(blob), 10, "f")
    rng = np.random.default_rng(7)
    for _ in range(2000):  # random byte damage: data or JoinStoreError, nothing else
        damaged = bytearray(blob)
        for at in rng.integers(0, len(blob), 3).tolist():
            damaged[at] = int(rng.integers(0, 256))
        try:
            values = SpilledValues(bytes(damaged), 0, len(damaged), 10, "f")
            for i in range(10):
                values.row(i)
        except JoinStoreError:
            pass
