"""Read baseline / check input files chunk by chunk, in constant memory.

The formats are listed in one table, :data:`streamdrift.ingest.formats.INPUT_FORMATS` (name, suffixes, reader);
each reader lives in a module of this package: :mod:`~streamdrift.ingest.files.csvfile` (CSV / TSV),
:mod:`~streamdrift.ingest.files.jsonl` (JSON Lines: our capture records or flat objects),
:mod:`~streamdrift.ingest.files.parquet` and :mod:`~streamdrift.ingest.files.sagemaker_capture` (SageMaker data
capture, detected by content in JSON Lines files). ``fmt`` is detected from the file name when not given (a
``.gz`` suffix is stripped first; gzip input is recognised by its content).

Text input (CSV, JSON Lines) is UTF-8 unless ``encoding`` says otherwise: a UTF-8 byte-order mark is dropped,
while a UTF-16 / UTF-32 mark, NUL bytes or bytes that are not UTF-8 are refused (:class:`InputEncodingError`)
when no encoding was declared. A line (a CSV record) longer than ``max_line_bytes`` (default
:data:`DEFAULT_MAX_LINE_BYTES`, 1 MiB) is a :class:`LineTooLongError`, never loaded whole; a CSV quote that
never closes is an :class:`UnclosedQuoteError`. Every such error names the file and the line.

:func:`iter_chunks` yields :class:`~streamdrift.columns.chunks.Chunk` (columns plus optional event timestamps in
epoch milliseconds, ids and source line numbers); :func:`iter_columns` is the simple form yielding only the
columns. Timestamp and id columns are never features. Timestamps: integers are epoch milliseconds, text is RFC
3339 / ISO-8601 (``Z`` or a ``+hh:mm`` / ``+hhmm`` offset, ``T`` or a space, fractional seconds of any length
truncated to milliseconds; a date-time without an offset is UTC); a missing or unparseable timestamp is
:data:`~streamdrift.columns.chunks.MISSING_TIMESTAMP`.

Roles (``roles=RoleColumns(target, prediction, score)``): the named columns are taken out of the features and
given as value arrays (``Chunk.targets`` / ``predictions`` / ``scores``; see
:func:`~streamdrift.columns.chunks.role_values`). For our capture records the record's ``prediction`` is the
prediction, the target is looked up in ``features`` and then at the top level of the record, and the
``attributions`` object becomes ``Chunk.attributions``. Without ``roles`` nothing changes: role columns stay in
the columns and attributions are not read.
"""

from __future__ import annotations

from streamdrift.errors import InputEncodingError, InputFileError, LineTooLongError, UnclosedQuoteError
from streamdrift.ingest.files.api import (
    FORMATS,
    Format,
    detect_format,
    iter_chunks,
    iter_columns,
    resolve_format,
)
from streamdrift.ingest.files.base import ReadOptions
from streamdrift.ingest.files.columnar import timestamps_from_arrow
from streamdrift.ingest.files.csvfile import sniff_header
from streamdrift.ingest.formats import DEFAULT_MAX_LINE_BYTES

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "FORMATS",
    "Format",
    "InputEncodingError",
    "InputFileError",
    "LineTooLongError",
    "ReadOptions",
    "UnclosedQuoteError",
    "detect_format",
    "iter_chunks",
    "iter_columns",
    "resolve_format",
    "sniff_header",
    "timestamps_from_arrow",
]
