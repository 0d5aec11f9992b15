"""In-memory Arrow batches as chunks: sliced to chunk_rows, rows numbered across batches, roles and extras taken
out like the Parquet reader's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from streamdrift.columns.chunks import MISSING_TIMESTAMP, RoleColumns
from streamdrift.errors import InputFileError
from streamdrift.ingest.files import ReadOptions
from streamdrift.ingest.files.tables import iter_batch_chunks


def _batch(n: int, start: int) -> pa.RecordBatch:
    return pa.record_batch({
        "x": np.arange(start, start + n, dtype=np.float64), "city": [f"c{i % 3}" for i in range(n)],
        "ts": pa.array([f"2026-03-01T00:00:{i % 60:02d}Z" if i % 7 else None for i in range(n)],
                       type=pa.large_string()),
        "rid": [f"r{start + i}" for i in range(n)], "label": np.arange(n) % 2, "drop": np.zeros(n),
    })


def test_batches_are_sliced_and_numbered_across_batches() -> None:
    options = ReadOptions(chunk_rows=4, timestamp_column="ts", id_column="rid", exclude=frozenset({"drop"}),
                          roles=RoleColumns(target="label"))
    chunks = list(iter_batch_chunks([_batch(10, 0), _batch(3, 10)], options, first_row=5))
    assert [c.columns.n_rows for c in chunks] == [4, 4, 2, 3]
    assert np.concatenate([c.line_numbers for c in chunks]).tolist() == list(range(5, 18))
    assert [c.bytes_read for c in chunks] == [4, 8, 10, 13]
    first = chunks[0]
    assert sorted(first.columns.columns) == ["city", "x"]  # no ts, id, role or excluded column among features
    assert first.ids is not None and first.ids.tolist() == ["r0", "r1", "r2", "r3"]
    assert first.targets is not None and first.targets.tolist() == [0, 1, 0, 1]
    assert first.timestamps is not None
    assert first.timestamps[0] == MISSING_TIMESTAMP  # row 0 has no time
    assert first.timestamps[1] == int(np.datetime64("2026-03-01T00:00:01", "ms").astype(np.int64))
    assert np.concatenate([c.columns.columns["x"].numbers for c in chunks]).tolist() == [*range(10), 10, 11, 12]


def test_a_missing_timestamp_column_is_an_input_error() -> None:
    with pytest.raises(InputFileError, match=r"\['when'\] not in the data"):
        list(iter_batch_chunks([_batch(3, 0)], ReadOptions(timestamp_column="when")))


def test_chunk_rows_must_be_positive() -> None:
    with pytest.raises(InputFileError, match="chunk_rows"):
        list(iter_batch_chunks([_batch(3, 0)], ReadOptions(chunk_rows=0)))
