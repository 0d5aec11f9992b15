"""What ``data`` may be: every kind becomes the same record batches / chunks, through Arrow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from streamdrift.api.data import as_path, chunk_source, record_batches
from streamdrift.errors import InputFileError
from streamdrift.ingest.files import ReadOptions

TABLE = pa.table({"x": [1.5, 2.5, 3.5, 4.5], "city": ["a", "b", "a", "c"], "n": [1, 2, 3, 4]})


class _Stream:
    """Only the Arrow PyCapsule stream interface (as DuckDB relations and other libraries offer it)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


def _table(data: object) -> pa.Table:
    return pa.Table.from_batches(list(record_batches(data)))


@pytest.mark.parametrize("kind", ["table", "batch", "reader", "pandas", "polars", "c_stream"])
def test_every_kind_gives_the_same_columns(kind: str) -> None:
    data = {
        "table": TABLE, "batch": TABLE.to_batches()[0],
        "reader": pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches()),
        "pandas": TABLE.to_pandas(), "polars": pl.from_arrow(TABLE), "c_stream": _Stream(TABLE),
    }[kind]
    got = _table(data)
    assert got.column_names == ["x", "city", "n"]
    assert got.column("x").to_pylist() == [1.5, 2.5, 3.5, 4.5]
    assert [str(v) for v in got.column("city").to_pylist()] == ["a", "b", "a", "c"]


def test_a_pandas_index_is_not_a_column() -> None:
    frame = TABLE.to_pandas().set_index("city")
    assert _table(frame).column_names == ["x", "n"]


def test_paths_are_recognised() -> None:
    assert as_path("a.csv") == Path("a.csv")
    assert as_path(Path("b.parquet")) == Path("b.parquet")
    assert as_path(TABLE) is None


@pytest.mark.parametrize("bad", [42, b"x,y\n1,2\n", {"x": [1, 2]}, [TABLE, 3]])
def test_other_values_are_refused(bad: object) -> None:
    with pytest.raises(InputFileError, match=r"cannot read|not a table"):
        list(chunk_source(bad)(ReadOptions()))


def test_an_iterator_is_read_one_item_at_a_time_and_rows_stay_numbered() -> None:
    made: list[int] = []

    def frames() -> Iterator[pd.DataFrame]:
        for i in range(3):
            made.append(i)
            yield pd.DataFrame({"x": np.arange(5, dtype=np.float64) + 10 * i})

    chunks = chunk_source(frames())(ReadOptions(chunk_rows=2))
    first = next(chunks)
    assert made == [0]  # the second frame is not built before the first one's rows are used
    rest = list(chunks)
    assert made == [0, 1, 2]
    lines = np.concatenate([first.line_numbers, *(c.line_numbers for c in rest)])
    assert lines.tolist() == list(range(1, 16))


def test_files_in_an_iterator_continue_the_numbering(tmp_path: Path) -> None:
    path = tmp_path / "part.csv"
    TABLE.to_pandas().to_csv(path, index=False)
    chunks = list(chunk_source([TABLE, path, TABLE])(ReadOptions()))
    lines = np.concatenate([c.line_numbers for c in chunks]).tolist()
    assert lines == sorted(set(lines))  # unique and increasing: row ids made from them never collide
    assert sum(c.columns.n_rows for c in chunks) == 12


def test_pandas_and_polars_types_give_the_same_results() -> None:
    """Categoricals (dictionaries of strings / string views), nullable integers and booleans of both libraries
    are read alike: the same baseline statistics and the same window statistics."""
    import streamdrift as sd

    rng = np.random.default_rng(3)
    n = 3000
    counts = rng.integers(0, 9, n).astype(object)
    counts[rng.random(n) < 0.1] = None
    frame = pd.DataFrame({
        "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "count": pd.array(counts, dtype="Int64"),
        "flag": rng.random(n) < 0.3, "x": rng.normal(size=n),
    })
    polars = pl.from_pandas(frame).with_columns(pl.col("cat").cast(pl.Categorical))
    from_pandas = sd.Baseline.build(frame, model_id="m")
    from_polars = sd.Baseline.build(polars, model_id="m")
    assert from_polars.statistics.equals(from_pandas.statistics)
    rows = {r["feature"]: r for r in from_pandas.statistics.to_pylist()}
    assert (rows["cat"]["type"], rows["flag"]["type"], rows["count"]["missing"]) == (
        "String", "Boolean", int(frame["count"].isna().sum()))
    checked = [sd.check(data, from_pandas, window_records=1000).statistics.drop_columns(["window_start"])
               for data in (frame, polars)]
    assert checked[0].num_rows == 3 * 4 and checked[0].equals(checked[1])
