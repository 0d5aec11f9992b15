"""Reading any input file: the format from the table (:mod:`streamdrift.ingest.formats`), then its reader."""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from streamdrift.columns.chunks import BadLineCallback, Chunk, RoleColumns
from streamdrift.columns.columns import Columns
from streamdrift.errors import InputFileError
from streamdrift.ingest.files.base import ReadOptions, ignore_bad_line
from streamdrift.ingest.formats import (
    DEFAULT_MAX_LINE_BYTES,
    claimants,
    format_for_suffix,
    format_names,
    input_format,
)

#: The format names, in table order (kept for callers of the former module).
FORMATS: tuple[str, ...] = format_names()
Format = str


def detect_format(path: str | Path, *, encoding: str | None = None,
                  max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> str:
    """The format of ``path`` from its suffix (``.gz`` stripped), then by content where a format claims files of
    that one (SageMaker capture files named ``.jsonl``). Raises InputFileError."""
    fmt = format_for_suffix(path)
    if fmt is None:
        raise InputFileError(f"cannot tell the format of {Path(path).name!r} from its name; pass fmt "
                             f"({', '.join(format_names())})")
    return _claimed(Path(path), fmt.name, ReadOptions(encoding=encoding, max_line_bytes=max_line_bytes))


def _claimed(path: Path, name: str, options: ReadOptions) -> str:
    for other in claimants(name):
        if other.load_reader().sniff(path, options):
            return other.name
    return name


def resolve_format(path: Path, fmt: str | None, options: ReadOptions) -> str:
    """``fmt`` checked against the table (and claimed by content like a detected one), or detected."""
    if fmt is None:
        return detect_format(path, encoding=options.encoding, max_line_bytes=options.max_line_bytes)
    return _claimed(path, input_format(fmt).name, options)


def iter_columns(
    path: str | Path,
    *,
    fmt: str | None = None,
    chunk_rows: int = 100_000,
    has_header: bool | None = None,
    column_names: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    encoding: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Columns]:
    """Feature columns of ``path`` in chunks of about ``chunk_rows`` rows (see :func:`iter_chunks`)."""
    for chunk in iter_chunks(path, fmt=fmt, chunk_rows=chunk_rows, has_header=has_header, column_names=column_names,
                             exclude=exclude, encoding=encoding, max_line_bytes=max_line_bytes):
        yield chunk.columns


def iter_chunks(
    path: str | Path,
    *,
    fmt: str | None = None,
    chunk_rows: int = 100_000,
    has_header: bool | None = None,
    column_names: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    timestamp_column: str | None = None,
    id_column: str | None = None,
    prediction_column: str = "prediction",
    on_bad_line: BadLineCallback | None = None,
    roles: RoleColumns | None = None,
    encoding: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Chunk]:
    """Chunks of ``path`` (columns plus optional timestamps, ids, line numbers and role values; see
    :mod:`streamdrift.ingest.files`). ``encoding``: of CSV / JSON Lines text (default UTF-8; other input is
    refused); ``max_line_bytes``: longest line or CSV record read. Raises InputFileError (or a subclass)."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"input file not found: {p}")
    if chunk_rows <= 0:
        raise InputFileError(f"chunk_rows must be positive, got {chunk_rows}")
    if max_line_bytes <= 0:
        raise InputFileError(f"max_line_bytes must be positive, got {max_line_bytes}")
    options = ReadOptions(
        chunk_rows=chunk_rows,
        has_header=has_header,
        column_names=tuple(column_names) if column_names is not None else None,
        exclude=frozenset(exclude),
        timestamp_column=timestamp_column,
        id_column=id_column,
        prediction_column=prediction_column,
        on_bad_line=on_bad_line if on_bad_line is not None else ignore_bad_line,
        roles=roles,
        encoding=encoding,
        max_line_bytes=max_line_bytes,
    )
    name = resolve_format(p, fmt, options)
    try:
        yield from input_format(name).load_reader().read(p, options)
    except (OSError, pa.ArrowException, EOFError, UnicodeDecodeError, csv.Error, zlib.error) as exc:
        raise InputFileError(f"cannot read it as {name}: {exc}", path=p) from exc
