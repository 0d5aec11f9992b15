"""Records / arrow arrays to per-feature columns: kinds, numbers and string forms."""

from __future__ import annotations

import gc

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import (
    Column,
    Kind,
    column_from_arrow,
    column_from_values,
    columns_from_arrow,
    columns_from_rows,
    paused_gc,
    take,
)
from streamdrift.errors import BadRecordError

M, IT, F, S, B, N = Kind.MISSING, Kind.INTEGRAL, Kind.FRACTIONAL, Kind.STRING, Kind.BOOLEAN, Kind.NONFINITE


def kinds(col: Column) -> list[Kind]:
    return [Kind(k) for k in col.kinds]


def same_numbers(got: np.ndarray, want: list[float]) -> bool:
    return bool(np.array_equal(got, np.array(want, dtype=np.float64), equal_nan=True))


def test_numeric_fast_path_kinds_and_numbers() -> None:
    col = column_from_values([1, 2.5, None, float("inf"), -float("inf"), 3.0, float("nan"), -0.0])
    assert kinds(col) == [IT, F, M, N, N, IT, M, IT]
    assert same_numbers(col.numbers, [1, 2.5, np.nan, np.nan, np.nan, 3.0, np.nan, 0.0])
    assert col.strings is None
    assert col.numbers.dtype == np.float64 and col.kinds.dtype == np.uint8


def test_bool_is_boolean_not_integral() -> None:
    col = column_from_values([True, 1, False, 0])
    assert kinds(col) == [B, IT, B, IT]
    assert col.strings is not None and col.strings.tolist() == ["true", None, "false", None]
    assert same_numbers(col.numbers, [np.nan, 1, np.nan, 0])


def test_mixed_values_and_other_objects() -> None:
    col = column_from_values(["a", 7, None, np.float32(1.5), np.int64(4), [1, 2], {"k": 1}, np.bool_(True)])
    assert kinds(col) == [S, IT, M, F, IT, S, S, B]
    assert col.strings is not None
    assert col.strings.tolist() == ["a", None, None, None, None, "[1, 2]", "{'k': 1}", "true"]
    assert same_numbers(col.numbers, [np.nan, 7, np.nan, 1.5, 4, np.nan, np.nan, np.nan])


def test_json_strings_are_not_parsed_and_huge_ints_do_not_crash() -> None:
    assert kinds(column_from_values(["3", "2.5"])) == [S, S]
    col = column_from_values([10**30, 2**70, 1])
    assert kinds(col) == [IT, IT, IT] and col.numbers[0] == pytest.approx(1e30)
    assert kinds(column_from_values([10**400, 1.5])) == [N, F]


def test_all_missing_and_empty() -> None:
    col = column_from_values([None, None])
    assert kinds(col) == [M, M] and col.strings is None
    assert len(column_from_values([])) == 0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=3)))
def test_fast_and_mixed_paths_agree_with_per_value_rules(values: list[object]) -> None:
    col = column_from_values(values)
    for v, k, x in zip(values, col.kinds, col.numbers, strict=True):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            assert k == M
        elif isinstance(v, bool):
            assert k == B
        elif isinstance(v, str):
            assert k == S
        elif isinstance(v, float) and np.isinf(v):
            assert k == N and np.isnan(x)
        else:
            assert isinstance(v, int | float)
            assert x == float(v)
            assert k == (IT if float(v) == np.floor(float(v)) else F)
    has_text = any(isinstance(v, str | bool) for v in values)
    assert (col.strings is not None) == has_text


def test_csv_text_classification_like_deequ() -> None:
    cells = ["1", " -2 ", "+3", "2.5", ".5", "5.", "1e3", "-2E-3", "1.0", "", "   ", None, "abc", "TRUE", " false ",
             "inf", "-Infinity", "nan", "NaN", "1e999", "1,5", "0x10", "12abc"]
    col = column_from_arrow(pa.array(cells, type=pa.string()))
    assert kinds(col) == [IT, IT, IT, F, F, F, F, F, F, M, M, M, S, B, B, N, N, M, M, N, S, S, S]
    assert same_numbers(col.numbers[:9], [1, -2, 3, 2.5, 0.5, 5, 1000, -0.002, 1.0])
    assert np.isnan(col.numbers[9:]).all()
    assert col.strings is not None
    assert col.strings[12:15].tolist() == ["abc", "true", "false"]
    assert col.strings[:12].tolist() == [None] * 12


def test_text_column_without_strings_takes_fast_form() -> None:
    col = column_from_arrow(pa.chunked_array([pa.array(["1", "2"]), pa.array(["3.5", None])]))
    assert kinds(col) == [IT, IT, F, M] and col.strings is None


def test_typed_arrow_arrays() -> None:
    assert kinds(column_from_arrow(pa.array([1, None, 3], type=pa.int32()))) == [IT, M, IT]
    assert kinds(column_from_arrow(pa.array([1.5, None, float("inf"), 2.0]))) == [F, M, N, IT]
    col = column_from_arrow(pa.array([True, None, False]))
    assert kinds(col) == [B, M, B] and col.strings is not None
    assert col.strings.tolist() == ["true", None, "false"]
    assert kinds(column_from_arrow(pa.array([None, None]))) == [M, M]
    assert kinds(column_from_arrow(pa.array(["a", "1"]).dictionary_encode())) == [S, IT]
    assert kinds(column_from_arrow(pa.array(["x", None], type=pa.large_string()))) == [S, M]
    dates = column_from_arrow(pa.array([0, None], type=pa.date32()))
    assert kinds(dates) == [S, M] and dates.strings is not None and dates.strings[0] == "1970-01-01"
    with pytest.raises(BadRecordError):
        column_from_arrow(pa.array([[1], [2]]))


def test_columns_from_arrow_table() -> None:
    table = pa.table({"x": [1.0, 2.5], "c": ["a", None]})
    cols = columns_from_arrow(table)
    assert cols.n_rows == 2 and list(cols.columns) == ["x", "c"]
    assert kinds(cols.columns["c"]) == [S, M]


def test_columns_from_rows_absent_features_are_missing() -> None:
    rows: list[dict[str, object]] = [{"a": 1, "b": "x"}, {"a": 2.5}, {"b": True, "c": None}]
    cols = columns_from_rows(rows)
    assert cols.n_rows == 3 and list(cols.columns) == ["a", "b", "c"]
    assert kinds(cols.columns["a"]) == [IT, F, M]
    assert kinds(cols.columns["b"]) == [S, M, B]
    assert kinds(cols.columns["c"]) == [M, M, M]
    only = columns_from_rows(rows, names=["b", "zz"])
    assert list(only.columns) == ["b", "zz"] and kinds(only.columns["zz"]) == [M, M, M]
    single = columns_from_rows([{"a": 1}, {"a": 2}], names=["a"])
    assert same_numbers(single.columns["a"].numbers, [1, 2])
    full = columns_from_rows([{"a": 1, "b": 2}, {"a": 3, "b": 4}])
    assert same_numbers(full.columns["b"].numbers, [2, 4])
    empty = columns_from_rows([], names=["a"])
    assert empty.n_rows == 0 and len(empty.columns["a"]) == 0


def test_take_selects_rows_and_drops_unused_strings() -> None:
    cols = columns_from_rows([{"a": 1, "b": "x"}, {"a": 2, "b": 5}, {"a": 3, "b": "y"}])
    sub = take(cols, np.array([2, 1], dtype=np.intp))
    assert sub.n_rows == 2
    assert same_numbers(sub.columns["a"].numbers, [3, 2])
    assert sub.columns["b"].strings is not None and sub.columns["b"].strings.tolist() == ["y", None]
    numeric_only = take(cols, np.array([1], dtype=np.intp))
    assert numeric_only.columns["b"].strings is None and kinds(numeric_only.columns["b"]) == [IT]


def test_kind_counts_and_missing_column() -> None:
    col = column_from_values([1, None, "a", True, 2.5, float("inf")])
    assert col.kind_counts().tolist() == [1, 1, 1, 1, 1, 1]
    assert Column.missing(3).kind_counts().tolist() == [3, 0, 0, 0, 0, 0]


def test_paused_gc_restores_previous_state() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_long_low_cardinality_text_matches_cell_by_cell_classification() -> None:
    cells = ["1", " -2 ", "2.5", "", None, "abc", "TRUE", "inf", "nan", "1e999", "x y"]
    picks = np.random.default_rng(5).integers(0, len(cells), 5000)
    long_col = column_from_arrow(pa.array([cells[i] for i in picks], type=pa.string()))  # dictionary path
    single = [column_from_arrow(pa.array([c], type=pa.string())) for c in cells]  # direct path, one cell each
    assert long_col.kinds.tolist() == [int(single[i].kinds[0]) for i in picks]
    assert same_numbers(long_col.numbers, [float(single[i].numbers[0]) for i in picks])
    assert long_col.strings is not None
    want = [None if single[i].strings is None else single[i].strings[0] for i in picks]
    assert long_col.strings.tolist() == want


def test_long_numeric_text_without_strings() -> None:
    values = np.random.default_rng(6).normal(size=3000)
    col = column_from_arrow(pa.array([f"{v:.6f}" for v in values]))  # high cardinality: direct path
    assert col.strings is None and set(col.kinds.tolist()) == {int(F)}
    assert np.allclose(col.numbers, values, atol=1e-6)


def test_paused_gc_from_several_threads_leaves_the_collector_on() -> None:
    """The data plane parses in a second thread while the first builds profiles, both pausing the collector: a
    pause that read the other thread's pause as the collector's state would leave it off for good."""
    import gc
    import sys
    import threading

    from streamdrift.columns.columns import paused_gc

    assert gc.isenabled()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    errors: list[BaseException] = []

    def pause_often() -> None:
        try:
            for _ in range(10_000):
                with paused_gc():
                    assert not gc.isenabled()
                    with paused_gc():
                        pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=pause_often) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    assert gc.isenabled()


def test_dictionaries_of_every_text_type_decode_alike() -> None:
    """pandas categoricals are dictionaries of strings; polars ones (through the Arrow C stream) of string views."""
    plain = column_from_arrow(pa.array(["a", None, "b", "a"]))
    for value_type in (pa.string(), pa.large_string(), pa.string_view()):
        values = pa.array(["a", "b"], type=value_type)
        encoded = pa.DictionaryArray.from_arrays(pa.array([0, None, 1, 0], type=pa.uint32()), values)
        column = column_from_arrow(encoded)
        assert column.kinds.tolist() == plain.kinds.tolist(), value_type
        assert column.strings is not None and plain.strings is not None
        assert column.strings.tolist() == plain.strings.tolist(), value_type
