"""What ``data`` may be, and how it becomes the core's chunks: always through Arrow, never row by row.

- a file path (``str`` / ``os.PathLike``): read by the CLI's own format readers (CSV, JSON Lines, Parquet,
  SageMaker capture), exactly as ``streamdrift baseline build`` / ``check`` read it;
- a pyarrow ``Table``, ``RecordBatch`` or ``RecordBatchReader``: its record batches;
- a pandas DataFrame: ``pyarrow.Table.from_pandas`` (columnar; the index is not a column);
- any object with ``__arrow_c_stream__`` (the Arrow PyCapsule stream: polars, DuckDB, recent pandas, ...):
  ``pyarrow.RecordBatchReader.from_stream``; else ``to_arrow()`` or the dataframe interchange protocol
  (``__dataframe__``);
- an iterable (a list, a generator) of any of those: read one item at a time, so a generator of frames is
  checked in constant memory.

pandas and polars are never imported here: objects are recognised by their interfaces.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from streamdrift.batch.check import ChunkSource
from streamdrift.columns.chunks import Chunk
from streamdrift.errors import InputFileError
from streamdrift.ingest.files import ReadOptions, iter_chunks
from streamdrift.ingest.files.tables import iter_batch_chunks

__all__ = ["Data", "as_path", "chunk_source", "record_batches"]

#: A table-like value (see the module docs); typed loosely because pandas / polars are optional.
Data: TypeAlias = Any


def as_path(data: object) -> Path | None:
    """``data`` as a file path when it is one (``str`` or ``os.PathLike``), else None."""
    if isinstance(data, str | os.PathLike):
        return Path(os.fspath(data))
    return None


def _is_pandas(data: object) -> bool:
    """A pandas DataFrame (recognised without importing pandas)."""
    kind = type(data)
    return kind.__module__.split(".")[0] == "pandas" and kind.__name__ == "DataFrame"


def _is_table_like(data: object) -> bool:
    return isinstance(data, pa.Table | pa.RecordBatch | pa.RecordBatchReader) or _is_pandas(data) or any(
        hasattr(data, name) for name in ("__arrow_c_stream__", "__arrow_c_array__", "to_arrow", "__dataframe__"))


def record_batches(data: object) -> Iterator[pa.RecordBatch]:
    """The record batches of one table-like value (not a path, not an iterable of values)."""
    if isinstance(data, pa.RecordBatch):
        yield data
    elif isinstance(data, pa.Table):
        yield from data.to_batches()
    elif isinstance(data, pa.RecordBatchReader):
        yield from data
    elif _is_pandas(data):
        yield from pa.Table.from_pandas(data, preserve_index=False).to_batches()
    elif hasattr(data, "__arrow_c_stream__"):
        yield from pa.RecordBatchReader.from_stream(data)
    elif hasattr(data, "__arrow_c_array__"):
        yield pa.record_batch(data)
    elif hasattr(data, "to_arrow"):
        yield from record_batches(data.to_arrow())
    elif hasattr(data, "__dataframe__"):
        from pyarrow.interchange import from_dataframe

        yield from from_dataframe(data).to_batches()
    else:
        raise InputFileError(f"cannot read a {type(data).__name__} as a table: give a pandas or polars DataFrame, "
                             "a pyarrow Table / RecordBatchReader, a file path or an iterable of those")


def _path_chunks(path: Path, fmt: str | None, read: ReadOptions) -> Iterator[Chunk]:
    return iter_chunks(path, fmt=fmt, chunk_rows=read.chunk_rows, has_header=read.has_header,
                       exclude=tuple(sorted(read.exclude)), timestamp_column=read.timestamp_column,
                       id_column=read.id_column, prediction_column=read.prediction_column,
                       on_bad_line=read.on_bad_line, roles=read.roles, encoding=read.encoding,
                       max_line_bytes=read.max_line_bytes)


def _items(data: object) -> Iterator[object]:
    if isinstance(data, bytes | bytearray | memoryview | dict):
        raise InputFileError(f"cannot read a {type(data).__name__} as a table")
    if as_path(data) is not None or _is_table_like(data):
        yield data
        return
    if not isinstance(data, Iterable):
        raise InputFileError(f"cannot read a {type(data).__name__} as a table: give a pandas or polars DataFrame, "
                             "a pyarrow Table / RecordBatchReader, a file path or an iterable of those")
    for item in data:
        if as_path(item) is None and not _is_table_like(item):
            raise InputFileError(f"an item of the data is a {type(item).__name__}, not a table or a file path")
        yield item


def chunk_source(data: Data, fmt: str | None = None) -> ChunkSource:
    """The chunks of ``data`` for the read options the core asks for. A single path is read exactly like the
    CLI reads it; in-memory tables are numbered by row; items of an iterable continue the numbering (row ids
    made from it stay unique across items). ``data`` is read once: an iterator is consumed."""

    def source(read: ReadOptions) -> Iterator[Chunk]:
        path = as_path(data)
        if path is not None:
            yield from _path_chunks(path, fmt, read)
            return
        last = 0  # the last line / row number given so far
        for item in _items(data):
            item_path = as_path(item)
            if item_path is None:
                chunks = iter_batch_chunks(record_batches(item), read, first_row=last + 1)
                for chunk in chunks:
                    last = int(chunk.line_numbers[-1]) if chunk.line_numbers.size else last
                    yield chunk
                continue
            offset = last
            for chunk in _path_chunks(item_path, fmt, read):
                shifted = dataclasses.replace(chunk, line_numbers=chunk.line_numbers + offset)
                last = max(last, int(shifted.line_numbers.max())) if shifted.line_numbers.size else last
                yield shifted

    return source
