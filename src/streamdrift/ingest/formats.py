"""The table of input file formats: the one place that lists them.

Each :class:`InputFormat` names a format, the file suffixes it is detected by and the :class:`FormatReader`
that reads it (a ``module:attribute`` path, imported on first use, so this table loads without pyarrow: the CLI
reads its ``--format`` choices from here). :func:`streamdrift.ingest.files.detect_format`,
:func:`~streamdrift.ingest.files.iter_chunks` / :func:`~streamdrift.ingest.files.iter_columns` and every
command's ``--format`` read this table.

Adding a format: one :class:`InputFormat` entry in :data:`INPUT_FORMATS` and a module under
``streamdrift/ingest/files/`` with a reader object (``read(path, options)`` yielding
:class:`~streamdrift.columns.chunks.Chunk`, and ``sniff(path, options)`` when the format claims files of another
format by their content, like SageMaker capture files named ``.jsonl``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from streamdrift.errors import InputFileError

if TYPE_CHECKING:
    from streamdrift.columns.chunks import Chunk
    from streamdrift.ingest.files.base import ReadOptions

#: Default limit of one line of text input (a CSV record) in bytes: a longer one is an error, never loaded whole.
#: (Here rather than with the text reader so that the CLI reads it without loading pyarrow.)
DEFAULT_MAX_LINE_BYTES: Final[int] = 1 << 20
#: Compression suffix stripped before looking a file's format up (gzip input is detected by its magic bytes).
COMPRESSION_SUFFIXES: Final[tuple[str, ...]] = (".gz",)


class FormatReader(Protocol):
    """Reads one input format into chunks of about ``options.chunk_rows`` rows, in constant memory."""

    def read(self, path: Path, options: ReadOptions) -> Iterator[Chunk]:
        """The chunks of ``path``; raises InputFileError (or a subclass) naming the file and line."""
        ...

    def sniff(self, path: Path, options: ReadOptions) -> bool:
        """Whether ``path`` holds this format (only asked of formats that claim files of another format)."""
        ...


@dataclass(frozen=True, slots=True)
class InputFormat:
    """One row of the table: ``name`` (the ``--format`` value), ``suffixes`` (lower case, with the dot; a file is
    detected by its last suffix once ``.gz`` is stripped), ``reader`` (``module:attribute`` of its
    :class:`FormatReader`), ``claims`` (formats whose files this one takes over when its reader's ``sniff`` says
    so), ``labels`` (whether it can hold a labels table for ``check --labels``)."""

    name: str
    suffixes: tuple[str, ...]
    reader: str
    description: str
    claims: tuple[str, ...] = ()
    labels: bool = True

    def load_reader(self) -> FormatReader:
        module, _, attribute = self.reader.partition(":")
        reader: FormatReader = getattr(importlib.import_module(module), attribute)
        return reader


INPUT_FORMATS: Final[tuple[InputFormat, ...]] = (
    InputFormat("csv", (".csv", ".txt", ".tsv"), "streamdrift.ingest.files.csvfile:READER",
                "comma-separated values (.tsv: tab-separated), header detected"),
    InputFormat("jsonl", (".jsonl", ".ndjson", ".json"), "streamdrift.ingest.files.jsonl:READER",
                "JSON Lines: our capture records or flat objects"),
    InputFormat("parquet", (".parquet", ".pq"), "streamdrift.ingest.files.parquet:READER", "Apache Parquet"),
    InputFormat("sagemaker-capture", (), "streamdrift.ingest.files.sagemaker_capture:READER",
                "SageMaker data capture JSON Lines (detected by content in JSON Lines files)",
                claims=("jsonl",), labels=False),
)


def format_names(*, labels: bool = False) -> tuple[str, ...]:
    """Names of the formats (``labels``: those that can hold a labels table), in table order."""
    return tuple(f.name for f in INPUT_FORMATS if f.labels or not labels)


def input_format(name: str) -> InputFormat:
    """The format called ``name``; InputFileError naming the known ones otherwise."""
    for fmt in INPUT_FORMATS:
        if fmt.name == name:
            return fmt
    raise InputFileError(f"unknown input format {name!r}; expected one of {', '.join(format_names())}")


def format_for_suffix(path: str | Path) -> InputFormat | None:
    """The format a file's name says (its last suffix once a compression suffix is stripped), or None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    if not suffixes:
        return None
    return next((f for f in INPUT_FORMATS if suffixes[-1] in f.suffixes), None)


def claimants(name: str) -> tuple[InputFormat, ...]:
    """Formats that may claim a file detected (or declared) as ``name`` by its content."""
    return tuple(f for f in INPUT_FORMATS if name in f.claims)
