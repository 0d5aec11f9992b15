"""Apache Parquet (``.parquet`` / ``.pq``), read a row group batch at a time with typed columns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streamdrift.columns.chunks import Chunk
from streamdrift.errors import InputFileError
from streamdrift.ingest.files.base import ReadOptions
from streamdrift.ingest.files.columnar import arrow_chunk


class ParquetReader:
    """The ``parquet`` format; line numbers are row numbers."""

    def sniff(self, path: Path, options: ReadOptions) -> bool:
        return True

    def read(self, path: Path, options: ReadOptions) -> Iterator[Chunk]:
        opts = options
        pf = pq.ParquetFile(str(path))
        names = list(pf.schema_arrow.names)
        extras = {c for c in (opts.timestamp_column, opts.id_column) if c is not None}
        missing = extras - set(names)
        if missing:
            raise InputFileError(f"column(s) {sorted(missing)} not in {path.name}")
        extras |= opts.roles.names() if opts.roles is not None else frozenset()
        wanted = [n for n in names if n not in opts.exclude or n in extras]
        total_rows = max(pf.metadata.num_rows, 1)
        size = path.stat().st_size
        row = 0
        for batch in pf.iter_batches(batch_size=opts.chunk_rows, columns=wanted):
            if opts.column_names is not None:
                batch = _rename(batch, opts.column_names)
            lines = np.arange(row + 1, row + 1 + batch.num_rows, dtype=np.int64)
            row += batch.num_rows
            yield arrow_chunk(batch, opts, lines, int(size * row / total_rows))


def _rename(batch: pa.RecordBatch, names: Sequence[str]) -> pa.RecordBatch:
    if len(names) != batch.num_columns:
        raise InputFileError(f"{len(names)} column names given for {batch.num_columns} columns")
    return pa.RecordBatch.from_arrays(batch.columns, names=list(names))


READER: Final[ParquetReader] = ParquetReader()
