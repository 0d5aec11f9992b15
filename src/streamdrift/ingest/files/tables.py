"""In-memory Arrow data (record batches of a table, a stream or a data frame) as chunks, like a Parquet file's
row groups: the same :func:`~streamdrift.ingest.files.columnar.arrow_chunk` turns each slice of at most
``chunk_rows`` rows into typed feature columns, event timestamps, ids and role values. Line numbers are row
numbers (1-based), continuing across the batches; no row is touched in Python."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from streamdrift.columns.chunks import Chunk
from streamdrift.errors import InputFileError
from streamdrift.ingest.files.base import ReadOptions
from streamdrift.ingest.files.columnar import arrow_chunk

__all__ = ["iter_batch_chunks"]


def iter_batch_chunks(batches: Iterable[pa.RecordBatch], options: ReadOptions, *, first_row: int = 1,
                      source: str = "the data") -> Iterator[Chunk]:
    """Chunks of ``batches`` (sliced, zero-copy, to at most ``options.chunk_rows`` rows). The timestamp and id
    columns must be in every batch; ``options.exclude`` columns are never converted.
    ``bytes_read`` of a chunk is the number of rows read so far."""
    if options.chunk_rows <= 0:
        raise InputFileError(f"chunk_rows must be positive, got {options.chunk_rows}")
    row = first_row
    for batch in batches:
        names = batch.schema.names
        missing = options.extra_columns() - set(names)
        if missing:
            raise InputFileError(f"column(s) {sorted(missing)} not in {source} (columns: {names})")
        for start in range(0, batch.num_rows, options.chunk_rows):
            part = batch.slice(start, options.chunk_rows)
            lines = np.arange(row, row + part.num_rows, dtype=np.int64)
            row += part.num_rows
            yield arrow_chunk(part, options, lines, row - first_row)
