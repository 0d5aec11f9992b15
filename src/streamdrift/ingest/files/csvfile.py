"""CSV (``.csv`` / ``.txt``; ``.tsv`` tab-delimited), plain or gzip, read block by block in constant memory.

Blocks of whole records (:mod:`~streamdrift.ingest.files.csvblocks`) of about ``chunk_rows`` rows are each
parsed by ``pyarrow.csv.read_csv`` (pyarrow's own streaming reader buffers ahead without bound). Types are
inferred **per block**: a column whose cells in the block are all integers, all numbers or all true/false is
read typed (``1`` -> Integral, ``1.0`` / ``2.5`` -> Fractional, as SageMaker infers them from text); any other
column (text, mixed, padded, ``NaN``) is read as text and classified cell by cell by
:func:`streamdrift.columns.columns.columns_from_arrow`, so a column that turns textual later in the file never
fails the read. Empty cells are missing. In a block where a column is floating-point, its whole numbers count
as Fractional too; the inferred type, Fractional, is the same either way.

When ``has_header`` is None the header is detected on the first line: it is a header when none of its cells
looks like a number and its cells are non-empty and distinct; headerless files get the names ``_c0, _c1, ...``
(pass ``has_header=False``, CLI ``--no-header``, for an all-text headerless file). Rows with the wrong number of
cells are skipped and reported with their line (line numbers count physical lines: off when quoted cells hold
line breaks). Text handling (encodings, byte-order marks, line limits) is :mod:`~streamdrift.ingest.files.text`'s.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from streamdrift.columns.chunks import BadLine, Chunk
from streamdrift.errors import InputFileError
from streamdrift.ingest.files.base import ReadOptions
from streamdrift.ingest.files.columnar import arrow_chunk
from streamdrift.ingest.files.csvblocks import csv_blocks
from streamdrift.ingest.files.text import LineReader, TextSource, first_lines

NUMBER: Final[re.Pattern[str]] = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_SNIFF_LINES: Final[int] = 50
_TRUE: Final[list[str]] = ["true", "True", "TRUE"]
_FALSE: Final[list[str]] = ["false", "False", "FALSE"]


def sniff_header(lines: Sequence[str], delimiter: str = ",") -> bool:
    """True when the first line is a header: no cell looks numeric, and cells are non-empty and distinct."""
    rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
    if not rows:
        return False
    first = [c.strip() for c in rows[0]]
    if any(NUMBER.match(c) for c in first):
        return False
    return all(first) and len(set(first)) == len(first)


def _layout(path: Path, opts: ReadOptions, delimiter: str) -> tuple[list[str], int, int]:
    """(column names, rows to skip, block size in bytes)."""
    lines = first_lines(path, _SNIFF_LINES, encoding=opts.encoding, max_line_bytes=opts.max_line_bytes)
    if not lines:
        raise InputFileError("the file is empty", path=path)
    try:
        has_header = sniff_header(lines, delimiter) if opts.has_header is None else opts.has_header
        first = next(csv.reader(lines[:1], delimiter=delimiter), [])
    except csv.Error as exc:
        raise InputFileError(f"the first rows do not parse as CSV: {exc}", path=path, line=1) from exc
    if opts.column_names is not None:
        names = list(opts.column_names)
    elif has_header:
        names = [c.strip() for c in first]
    else:
        names = [f"_c{i}" for i in range(len(first))]
    data_lines = lines[1:] if has_header else lines
    lengths = [len(line.encode()) for line in data_lines] or [len(lines[0].encode())]
    floor = max(64 * max(lengths), 1 << 12)  # a block must hold whole rows
    block = int(min(max(sum(lengths) / len(lengths) * opts.chunk_rows, floor), 1 << 28))
    return names, (1 if has_header else 0), block


def _basic_type(typ: pa.DataType) -> bool:
    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
                or pa.types.is_string(typ) or pa.types.is_null(typ))


class _BlockParser:
    """Parses one block at a time with per-block type inference. Columns pyarrow would read as dates, times or
    timestamps are read as text from then on (their cells keep their own spelling, as in a text read)."""

    def __init__(self, names: list[str], wanted: list[str], delimiter: str, opts: ReadOptions) -> None:
        self._opts = opts
        self._wanted = wanted
        self._text: set[str] = {opts.id_column} if opts.id_column else set()
        self._quiet = False
        self._bad: list[tuple[int | None, str, str]] = []  # (row number in the block or None, text, detail)
        self.first_line = 1
        self._read = pacsv.ReadOptions(column_names=names, use_threads=True)
        self._parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=self._on_invalid)
        self._convert = self._convert_options()

    def _convert_options(self) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(
            column_types={name: pa.string() for name in self._text}, include_columns=self._wanted,
            strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=True,
            true_values=_TRUE, false_values=_FALSE,
        )

    def _on_invalid(self, row: Any) -> str:
        if not self._quiet:
            detail = f"expected {row.expected_columns} cells, got {row.actual_columns}"
            text = str(row.text)
            if "\n" in text:  # a quoted field ran over line breaks: say how many lines this record swallowed
                detail += f"; a quoted field spans {text.count(chr(10)) + 1} lines from here (a stray '\"'?)"
            self._bad.append((row.number, text, detail))
        return "skip"

    def _report_bad_lines(self, data: bytes) -> None:
        """Report the block's bad rows in file order. pyarrow's multi-threaded parser does not know their line:
        each is located by its text, searching on from the previous one (one pass over the block)."""
        found: list[tuple[int, str]] = []
        last, line, located = 0, self.first_line, False  # line of byte offset ``last``
        for number, text, detail in self._bad:
            if number is not None:
                found.append((self.first_line + number - 1, detail))
                continue
            needle = text.encode()
            at = data.find(needle, last + 1 if located else 0)
            if at < 0:  # reported out of order: search from the start (rare)
                last, line = 0, self.first_line
                at = data.find(needle)
            if at < 0:
                found.append((0, detail))
                continue
            if at < last:
                last, line = 0, self.first_line
            line += data.count(b"\n", last, at)
            last, located = at, True
            found.append((line, detail))
        self._bad = []
        for number, detail in sorted(found):
            self._opts.on_bad_line(BadLine(number, "wrong_column_count", detail))

    def parse(self, data: bytes) -> pa.RecordBatch | None:
        if not data.strip():
            return None
        table = pacsv.read_csv(pa.py_buffer(data), self._read, self._parse, self._convert)
        if self._bad:
            self._report_bad_lines(data)
        odd = {f.name for f in table.schema if f.name != self._opts.timestamp_column and not _basic_type(f.type)}
        if odd:
            self._text |= odd
            self._convert = self._convert_options()
            self._quiet = True  # bad rows of this block were reported by the first read
            try:
                table = pacsv.read_csv(pa.py_buffer(data), self._read, self._parse, self._convert)
            finally:
                self._quiet = False
        if table.num_rows == 0:
            return None
        return table.combine_chunks().to_batches()[0]


class CsvReader:
    """The ``csv`` format (see the module docs)."""

    def sniff(self, path: Path, options: ReadOptions) -> bool:
        return True

    def read(self, path: Path, options: ReadOptions) -> Iterator[Chunk]:
        """Parse blocks one at a time (pyarrow's streaming reader would buffer far ahead of the consumer)."""
        delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
        names, skip, block = _layout(path, options, delimiter)
        extras = set(options.extra_columns())
        missing = extras - set(names)
        if missing:
            raise InputFileError(f"column(s) {sorted(missing)} not in the file (columns: {names[:20]})", path=path)
        extras |= options.role_names()
        parser = _BlockParser(names, [n for n in names if n not in options.exclude or n in extras], delimiter,
                              options)
        with TextSource(path, options.encoding) as source:
            lines = LineReader(source, options.max_line_bytes)
            for _ in range(skip):
                lines.readline()
            for first_line, data in csv_blocks(lines, block, delimiter.encode()):
                parser.first_line = first_line
                batch = parser.parse(data)
                del data  # keep one block alive at a time: the consumer holds the chunk, not the bytes
                if batch is None:
                    continue
                numbers = np.arange(first_line, first_line + batch.num_rows, dtype=np.int64)
                chunk = arrow_chunk(batch, options, numbers, source.position)
                del batch
                yield chunk
                del chunk


READER: Final[CsvReader] = CsvReader()
