from __future__ import annotations

import numpy as np

from streamdrift.columns.columns import Categories, Column, Columns, Kind, column_from_values
from streamdrift.monitors.segments.state import concat


def _coded(values: list[str], dictionary: list[str]) -> Column:
    n = len(values)
    codes = np.array([dictionary.index(v) for v in values], dtype=np.intp)
    return Column(np.full(n, np.nan), np.full(n, Kind.STRING, dtype=np.uint8), np.array(values, dtype=object),
                  Categories(codes, np.array(dictionary, dtype=object)))


def test_concat_joins_rows_and_text_dictionaries() -> None:
    a = Columns(2, {"c": _coded(["x", "y"], ["y", "x"]), "n": column_from_values([1.0, 2.0])})
    b = Columns(3, {"c": _coded(["z", "x", "z"], ["x", "z"])})
    out = concat([a, b])
    assert out.n_rows == 5
    c = out.columns["c"]
    assert c.strings is not None and c.strings.tolist() == ["x", "y", "z", "x", "z"]
    assert c.categories is not None
    assert c.categories.values[c.categories.codes].tolist() == ["x", "y", "z", "x", "z"]
    n = out.columns["n"]
    assert n.numbers[:2].tolist() == [1.0, 2.0] and np.isnan(n.numbers[2:]).all()
    assert n.kinds[2:].tolist() == [Kind.MISSING] * 3


def test_concat_without_codes_keeps_the_strings() -> None:
    a = Columns(1, {"c": column_from_values(["x"])})
    b = Columns(1, {"c": _coded(["y"], ["y"])})
    c = concat([a, b]).columns["c"]
    assert c.categories is None and c.strings is not None and c.strings.tolist() == ["x", "y"]
