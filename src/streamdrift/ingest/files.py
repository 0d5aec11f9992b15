"""Read baseline / check input files chunk by chunk, in constant memory.

Formats (``fmt``), detected from the file name when not given (a ``.gz`` suffix is stripped first):

``csv``
    ``.csv`` / ``.txt`` / ``.tsv`` (tab-delimited). Read in line-aligned blocks of about ``chunk_rows`` rows, each
    parsed by ``pyarrow.csv.read_csv`` (constant memory: pyarrow's own streaming reader buffers ahead without
    bound). Types are inferred **per block**: a column whose cells in the block are all integers, all numbers or all
    true/false is read typed (the fast path: ``1`` -> Integral, ``1.0`` / ``2.5`` -> Fractional, as SageMaker
    infers them from text); any other column (text, mixed, padded, ``NaN``) is read as text and classified cell by
    cell by :func:`streamdrift.columns.columns.columns_from_arrow`. Because each block is inferred on its own, a column
    that turns textual later in the file never fails the read. Empty cells are missing. In a block where a column
    is floating-point (some cell has a decimal point or exponent), its whole numbers count as Fractional too (the
    text path would count a ``1`` cell as Integral); the inferred type, Fractional, is the same either way. The
    same rule applies to floating-point Parquet columns. When
    ``has_header`` is None the header is detected on the first line: it is a header when none of its cells
    looks like a number and its cells are non-empty and distinct; SageMaker-style headerless files (first row
    numeric) get the names ``_c0, _c1, ...``. An all-text headerless file is taken for a header: pass
    ``has_header=False`` (CLI ``--no-header``). Rows with the wrong number of cells are skipped and reported.
    ``chunk_rows`` is approximate for CSV (blocks of bytes sized from the first lines). A block never ends inside
    a quoted field; line numbers count physical lines (off when quoted cells hold line breaks).
``jsonl``
    ``.jsonl`` / ``.ndjson`` / ``.json``: one JSON object per line, parsed with orjson. Our capture records
    ``{"model_id", "inference_id", "timestamp", "features": {...}, "prediction": ...}`` are flattened: the
    features become columns and the prediction a column named ``prediction_column`` (a dict prediction
    becomes ``<prediction_column>.<key>`` columns). Any other object is a flat row. A line that is not a JSON
    object is reported to ``on_bad_line`` with its line number and skipped, never aborting the read.
``sagemaker-capture``
    SageMaker data-capture JSON Lines (``captureData.endpointInput`` / ``endpointOutput``,
    ``eventMetadata``); detected from the first line of a JSON Lines file. CSV payload cells become
    ``_c0, _c1, ...``; JSON payloads ``{"instances": [...]}`` give one row per instance. Timestamps come from
    ``eventMetadata.inferenceTime`` and ids from ``inferenceId`` (else ``eventId``, suffixed ``:i`` when one
    request carries several instances).
``parquet``
    ``.parquet`` / ``.pq``, read with ``ParquetFile.iter_batches`` (typed columns).

:func:`iter_chunks` yields :class:`Chunk` (columns plus optional event timestamps in epoch milliseconds, ids and
source line numbers); :func:`iter_columns` is the simple form yielding only the columns. Timestamp and id
columns are never features. Timestamps: integers are epoch milliseconds, text is RFC 3339 / ISO-8601 (``Z`` or a
``+hh:mm`` / ``+hhmm`` offset, ``T`` or a space, fractional seconds of any length truncated to milliseconds; a
date-time without an offset is UTC); a missing or unparseable timestamp is :data:`MISSING_TIMESTAMP`.

Roles (``roles=RoleColumns(target, prediction, score)``): the named columns are taken out of the features and
given as value arrays (``Chunk.targets`` / ``predictions`` / ``scores``; see :func:`role_values`). For our capture
records the record's ``prediction`` is the prediction (a number / string, or the ``label`` and ``score`` of an
object), the target is looked up in ``features`` and then at the top level of the record (a labelled export),
and the ``attributions`` object becomes ``Chunk.attributions`` (one column per feature, NaN where a record has
none). Without ``roles`` nothing changes: role columns stay in the columns and attributions are not read.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Final, Literal, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from streamdrift.columns.chunks import (
    MISSING_TIMESTAMP,
    BadLine,
    BadLineCallback,
    Chunk,
    RoleColumns,
    role_values,
)
from streamdrift.columns.columns import (
    Column,
    Columns,
    Kind,
    column_from_arrow,
    columns_from_arrow,
    columns_from_rows,
    paused_gc,
)
from streamdrift.errors import BadRecordError, InputFileError

Format = Literal["csv", "jsonl", "parquet", "sagemaker-capture"]
FORMATS: Final[tuple[str, ...]] = ("csv", "jsonl", "parquet", "sagemaker-capture")

_FRACTION_BEYOND_MS: Final[str] = r"(:\d{2}\.\d{3})\d+"
_NAIVE_DATE_TIME: Final[str] = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_SNIFF_LINES: Final[int] = 50
_TRUE: Final[list[str]] = ["true", "True", "TRUE"]
_FALSE: Final[list[str]] = ["false", "False", "FALSE"]
_SUFFIX_FORMATS: Final[Mapping[str, Format]] = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}


@dataclass(frozen=True, slots=True)
class _Options:
    chunk_rows: int
    has_header: bool | None
    column_names: tuple[str, ...] | None
    exclude: frozenset[str]
    timestamp_column: str | None
    id_column: str | None
    prediction_column: str
    on_bad_line: BadLineCallback
    roles: RoleColumns | None = None


def detect_format(path: str | Path) -> Format:
    """The format of ``path`` from its suffix (``.gz`` stripped); JSON Lines files are sniffed for capture."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputFileError(f"cannot tell the format of {p.name!r} from its name; pass fmt (csv, jsonl, parquet)")
    if fmt == "jsonl" and _looks_like_sagemaker_capture(p):
        return "sagemaker-capture"
    return fmt


def iter_columns(
    path: str | Path,
    *,
    fmt: str | None = None,
    chunk_rows: int = 100_000,
    has_header: bool | None = None,
    column_names: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> Iterator[Columns]:
    """Feature columns of ``path`` in chunks of about ``chunk_rows`` rows (see the module docs)."""
    for chunk in iter_chunks(
        path, fmt=fmt, chunk_rows=chunk_rows, has_header=has_header, column_names=column_names, exclude=exclude
    ):
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
) -> Iterator[Chunk]:
    """Chunks of ``path`` with optional timestamps / ids (see the module docs). Raises InputFileError."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"input file not found: {p}")
    if chunk_rows <= 0:
        raise InputFileError(f"chunk_rows must be positive, got {chunk_rows}")
    resolved = _resolve_format(p, fmt)
    opts = _Options(
        chunk_rows=chunk_rows,
        has_header=has_header,
        column_names=tuple(column_names) if column_names is not None else None,
        exclude=frozenset(exclude),
        timestamp_column=timestamp_column,
        id_column=id_column,
        prediction_column=prediction_column,
        on_bad_line=on_bad_line if on_bad_line is not None else _ignore_bad_line,
        roles=roles,
    )
    readers: Mapping[str, Callable[[Path, _Options], Iterator[Chunk]]] = {
        "csv": _iter_csv, "jsonl": _iter_jsonl, "parquet": _iter_parquet, "sagemaker-capture": _iter_capture,
    }
    try:
        yield from readers[resolved](p, opts)
    except (OSError, pa.ArrowException, EOFError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {p} as {resolved}: {exc}") from exc


def _ignore_bad_line(_: BadLine) -> None:
    return None


# ---------------------------------------------------------------- roles

_PREDICTION_KEY: Final[str] = "\0prediction"
_SCORE_KEY: Final[str] = "\0score"
_ATTRIBUTION_PREFIX: Final[str] = "\0attribution:"


def _split_roles(columns: Columns, roles: RoleColumns | None) -> tuple[Columns, dict[str, Any]]:
    """(feature columns, Chunk keyword arguments of the role values and attributions)."""
    if roles is None:
        return columns, {}
    cols = dict(columns.columns)

    def take(*names: str | None) -> NDArray[Any] | None:
        found = [cols.pop(n) for n in names if n is not None and n in cols]
        return role_values(found[0]) if found else None

    attribution = {name[len(_ATTRIBUTION_PREFIX):]: cols.pop(name)
                   for name in [n for n in cols if n.startswith(_ATTRIBUTION_PREFIX)]}
    extras = {
        "targets": take(roles.target),
        "predictions": take(_PREDICTION_KEY, roles.prediction),
        "scores": take(_SCORE_KEY, roles.score),
        "attributions": Columns(columns.n_rows, attribution) if attribution else None,
    }
    for name in roles.names():
        cols.pop(name, None)
    return Columns(columns.n_rows, cols), extras


def _resolve_format(path: Path, fmt: str | None) -> Format:
    if fmt is None:
        return detect_format(path)
    if fmt not in FORMATS:
        raise InputFileError(f"unknown input format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "jsonl" and _looks_like_sagemaker_capture(path):
        return "sagemaker-capture"
    return fmt  # type: ignore[return-value]  # checked against FORMATS just above


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(reader of decompressed bytes, raw file whose tell() is the progress)."""
    raw = path.open("rb")
    if _is_gzip(path):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def _first_lines(path: Path, n: int) -> list[str]:
    opener = gzip.open if _is_gzip(path) else open
    lines: list[str] = []
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for line in fh:
            lines.append(line)
            if len(lines) >= n:
                break
    return lines


def _looks_like_sagemaker_capture(path: Path) -> bool:
    for line in _first_lines(path, 5):
        if line.strip():
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                return False
            return isinstance(obj, dict) and isinstance(obj.get("captureData"), dict)
    return False


# ---------------------------------------------------------------- timestamps and ids


def timestamps_from_arrow(array: pa.Array | pa.ChunkedArray) -> NDArray[np.int64]:
    """Epoch milliseconds of an Arrow column: timestamps, integers (taken as ms), floats or ISO-8601 text."""
    arr = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    typ = arr.type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        # truncating: a CSV column pyarrow typed as timestamp[ns] (microsecond text) would fail a safe cast
        ms = pc.cast(pc.cast(arr, pa.timestamp("ms", tz=getattr(typ, "tz", None)), safe=False), pa.int64())
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ):
        ms = pc.cast(arr, pa.int64(), safe=False)
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        ms = _text_timestamps(arr)
    else:
        raise InputFileError(f"timestamp column of type {typ} is not supported")
    return np.asarray(ms.fill_null(MISSING_TIMESTAMP).to_numpy(zero_copy_only=False), dtype=np.int64)


def _text_timestamps(arr: pa.Array) -> pa.Array:
    stripped = pc.utf8_trim_whitespace(arr)
    numeric = pc.match_substring_regex(stripped, r"^[+-]?\d+$")
    as_int = pc.if_else(numeric, stripped, None)
    ints = pc.cast(as_int, pa.int64())
    iso = _normalized_iso(pc.if_else(numeric, None, stripped))
    try:
        parsed = pc.cast(pc.cast(iso, pa.timestamp("ms", tz="UTC")), pa.int64())
    except pa.ArrowInvalid:
        parsed = pa.array([_parse_iso_ms(v) for v in iso.to_pylist()], type=pa.int64())
    return pc.coalesce(ints, parsed)


def _normalized_iso(text: pa.Array) -> pa.Array:
    """RFC 3339 / ISO-8601 text in the form Arrow's millisecond cast accepts (vectorized): fractional seconds
    truncated to milliseconds (Arrow rejects more digits than the unit holds, e.g. Python's ``isoformat()``
    microseconds), lower-case ``t`` / ``z`` upper-cased, and a date-time without a zone offset taken as UTC."""
    upper = pc.utf8_upper(text)
    truncated = pc.replace_substring_regex(upper, _FRACTION_BEYOND_MS, r"\1")
    naive = pc.match_substring_regex(truncated, _NAIVE_DATE_TIME)
    return pc.if_else(naive, pc.binary_join_element_wise(truncated, "Z", ""), truncated)


def _parse_iso_ms(value: str | None) -> int | None:
    """Slow path for a batch with some unparseable timestamps: parse one value, None when invalid."""
    if value is None:
        return None
    try:
        return int(pc.cast(pa.array([value]), pa.timestamp("ms", tz="UTC")).cast(pa.int64())[0].as_py())
    except pa.ArrowInvalid:
        return None


def _ids_from_arrow(array: pa.Array | pa.ChunkedArray) -> NDArray[np.object_]:
    text = pc.cast(array, pa.string())
    return np.asarray(text.to_pylist(), dtype=object)


# ---------------------------------------------------------------- CSV


def sniff_header(lines: Sequence[str], delimiter: str = ",") -> bool:
    """True when the first line is a header: no cell looks numeric, and cells are non-empty and distinct."""
    rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
    if not rows:
        return False
    first = [c.strip() for c in rows[0]]
    if any(_NUMBER.match(c) for c in first):
        return False
    return all(first) and len(set(first)) == len(first)


def _csv_layout(path: Path, opts: _Options, delimiter: str) -> tuple[list[str], int, int]:
    """(column names, rows to skip, block size in bytes)."""
    lines = _first_lines(path, _SNIFF_LINES)
    if not lines:
        raise InputFileError(f"{path} is empty")
    has_header = sniff_header(lines, delimiter) if opts.has_header is None else opts.has_header
    first = next(csv.reader(lines[:1], delimiter=delimiter), [])
    if opts.column_names is not None:
        names = list(opts.column_names)
    elif has_header:
        names = [c.strip() for c in first]
    else:
        names = [f"_c{i}" for i in range(len(first))]
    data_lines = lines[1:] if has_header else lines
    lengths = [len(line.encode()) for line in data_lines] or [len(lines[0])]
    floor = max(64 * max(lengths), 1 << 12)  # a block must hold whole rows
    block = int(min(max(sum(lengths) / len(lengths) * opts.chunk_rows, floor), 1 << 28))
    return names, (1 if has_header else 0), block


def _csv_blocks(stream: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """Line-aligned blocks of about ``block_bytes``; a block never ends inside a quoted field (even quote count)."""
    while True:
        data = stream.read(block_bytes)
        if not data:
            return
        data += stream.readline()
        while data.count(b'"') % 2:
            line = stream.readline()
            if not line:
                break
            data += line
        yield data


def _basic_type(typ: pa.DataType) -> bool:
    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
                or pa.types.is_string(typ) or pa.types.is_null(typ))


class _CsvBlockParser:
    """Parses one block at a time with per-block type inference. Columns pyarrow would read as dates, times or
    timestamps are read as text from then on (their cells keep their own spelling, as in a text read)."""

    def __init__(self, names: list[str], wanted: list[str], delimiter: str, opts: _Options) -> None:
        self._opts = opts
        self._wanted = wanted
        self._text: set[str] = {opts.id_column} if opts.id_column else set()
        self._quiet = False
        self._data = b""
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
            number = self.first_line + row.number - 1 if row.number is not None else self._locate(row.text)
            self._opts.on_bad_line(BadLine(number, "wrong_column_count",
                                           f"expected {row.expected_columns} cells, got {row.actual_columns}"))
        return "skip"

    def _locate(self, text: str) -> int:
        """Line of a bad row when pyarrow's multi-threaded parser does not know it (first match of its text)."""
        at = self._data.find(text.encode())
        return self.first_line + self._data.count(b"\n", 0, at) if at >= 0 else 0

    def parse(self, data: bytes) -> pa.RecordBatch | None:
        if not data.strip():
            return None
        self._data = data
        table = pacsv.read_csv(pa.py_buffer(data), self._read, self._parse, self._convert)
        odd = {f.name for f in table.schema if f.name != self._opts.timestamp_column and not _basic_type(f.type)}
        if odd:
            self._text |= odd
            self._convert = self._convert_options()
            self._quiet = True  # bad rows of this block were reported by the first read
            try:
                table = pacsv.read_csv(pa.py_buffer(data), self._read, self._parse, self._convert)
            finally:
                self._quiet = False
        self._data = b""
        if table.num_rows == 0:
            return None
        return table.combine_chunks().to_batches()[0]


def _iter_csv(path: Path, opts: _Options) -> Iterator[Chunk]:
    """Parse line-aligned blocks one at a time (pyarrow's own streaming reader buffers far ahead of the consumer,
    so memory would grow with the file)."""
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    names, skip, block = _csv_layout(path, opts, delimiter)
    extras = {c for c in (opts.timestamp_column, opts.id_column) if c is not None}
    missing = extras - set(names)
    if missing:
        raise InputFileError(f"column(s) {sorted(missing)} not in {path.name} (columns: {names[:20]})")
    extras |= opts.roles.names() if opts.roles is not None else frozenset()
    parser = _CsvBlockParser(names, [n for n in names if n not in opts.exclude or n in extras], delimiter, opts)
    line = 1 + skip  # physical line of the next block's first row (exact unless quoted fields span lines)
    stream, raw = _open_binary(path)
    with raw, stream:
        for _ in range(skip):
            stream.readline()
        blocks = _csv_blocks(stream, block)
        while (data := next(blocks, None)) is not None:
            parser.first_line = line
            line += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            batch = parser.parse(data)
            del data  # keep one block alive at a time: the consumer holds the chunk, not the bytes
            if batch is None:
                continue
            lines = np.arange(parser.first_line, parser.first_line + batch.num_rows, dtype=np.int64)
            chunk = _arrow_chunk(batch, opts, lines, raw.tell())
            del batch
            yield chunk
            del chunk


def _arrow_chunk(batch: pa.RecordBatch, opts: _Options, lines: NDArray[np.int64], position: int) -> Chunk:
    names = batch.schema.names
    ts = timestamps_from_arrow(batch.column(names.index(opts.timestamp_column))) if opts.timestamp_column else None
    ids = _ids_from_arrow(batch.column(names.index(opts.id_column))) if opts.id_column else None
    drop = opts.exclude | {c for c in (opts.timestamp_column, opts.id_column) if c is not None}
    role_names = opts.roles.names() if opts.roles is not None else frozenset()
    keep = [i for i, n in enumerate(names) if n not in drop and n not in role_names]
    features = batch.select(keep) if len(keep) != len(names) else batch
    roles = {n: column_from_arrow(batch.column(names.index(n))) for n in role_names if n in names}
    _, extras = _split_roles(Columns(batch.num_rows, roles), opts.roles)
    return Chunk(_typed_columns(features), ts, ids, lines, position, **extras)


def _typed_columns(batch: pa.RecordBatch) -> Columns:
    """Columns of a typed batch; whole numbers of floating-point columns count as Fractional (a ``3.0`` cell)."""
    columns = columns_from_arrow(batch)
    floating = [f.name for f in batch.schema if pa.types.is_floating(f.type)]
    if not floating:
        return columns
    out = dict(columns.columns)
    for name in floating:
        col = out[name]
        kinds = col.kinds.copy()
        kinds[kinds == Kind.INTEGRAL] = Kind.FRACTIONAL
        out[name] = Column(col.numbers, kinds, col.strings)
    return Columns(columns.n_rows, out)


# ---------------------------------------------------------------- Parquet


def _iter_parquet(path: Path, opts: _Options) -> Iterator[Chunk]:
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
        yield _arrow_chunk(batch, opts, lines, int(size * row / total_rows))


def _rename(batch: pa.RecordBatch, names: Sequence[str]) -> pa.RecordBatch:
    if len(names) != batch.num_columns:
        raise InputFileError(f"{len(names)} column names given for {batch.num_columns} columns")
    return pa.RecordBatch.from_arrays(batch.columns, names=list(names))


# ---------------------------------------------------------------- JSON Lines (ours and flat objects)

_Row = dict[str, object]
_Parsed = tuple[list[_Row], list[object], list[object]]  # rows, timestamps, ids


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(1-based line number, line, raw bytes position) for every non-blank line."""
    stream, raw = _open_binary(path)
    with raw, stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line, raw.tell()


def _iter_json_records(
    path: Path, opts: _Options, parse: Callable[[object, int], _Parsed]
) -> Iterator[Chunk]:
    rows: list[_Row] = []
    stamps: list[object] = []
    ids: list[object] = []
    lines: list[int] = []
    position = 0
    for number, line, position in _iter_lines(path):
        try:
            r, t, i = parse(orjson.loads(line), number)
        except orjson.JSONDecodeError as exc:
            opts.on_bad_line(BadLine(number, "invalid_json", str(exc)))
            continue
        except BadRecordError as exc:
            opts.on_bad_line(BadLine(number, exc.reason, exc.detail))
            continue
        rows.extend(r)
        stamps.extend(t)
        ids.extend(i)
        lines.extend([number] * len(r))
        if len(rows) >= opts.chunk_rows:
            yield _rows_chunk(rows, stamps, ids, lines, opts, position)
            rows, stamps, ids, lines = [], [], [], []
    if rows:
        yield _rows_chunk(rows, stamps, ids, lines, opts, position)


def _rows_chunk(
    rows: list[_Row], stamps: list[object], ids: list[object], lines: list[int], opts: _Options, position: int
) -> Chunk:
    with paused_gc():
        columns, extras = _split_roles(columns_from_rows(rows), opts.roles)
    ts = timestamps_from_arrow(_json_timestamp_array(stamps)) if opts.timestamp_column else None
    id_arr = np.asarray([None if v is None else str(v) for v in ids], dtype=object) if opts.id_column else None
    return Chunk(columns, ts, id_arr, np.asarray(lines, dtype=np.int64), position, **extras)


def _json_timestamp_array(values: list[object]) -> pa.Array:
    """Timestamps from JSON values: all-integer lists stay integers (ms); anything else is read as text."""
    if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        return pa.array(values, type=pa.int64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _iter_jsonl(path: Path, opts: _Options) -> Iterator[Chunk]:
    drop = opts.exclude | {c for c in (opts.timestamp_column, opts.id_column) if c is not None}

    def parse(obj: object, _: int) -> _Parsed:
        if not isinstance(obj, dict):
            raise BadRecordError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
        row = _flatten_record(obj, opts.prediction_column, opts.roles)
        ts = _lookup(obj, row, opts.timestamp_column)
        rid = _lookup(obj, row, opts.id_column)
        return [{k: v for k, v in row.items() if k not in drop}], [ts], [rid]

    yield from _iter_json_records(path, opts, parse)


def _lookup(obj: Mapping[str, object], row: Mapping[str, object], key: str | None) -> object:
    if key is None:
        return None
    return obj[key] if key in obj else row.get(key)


def _flatten_record(obj: Mapping[str, object], prediction_column: str, roles: RoleColumns | None = None) -> _Row:
    features = obj.get("features")
    if not isinstance(features, dict):
        return dict(obj)
    row: _Row = dict(features)
    if roles is not None:
        return _capture_role_row(obj, row, roles)
    if "prediction" in obj:
        row.update(_prediction_cells(obj["prediction"], prediction_column))
    return row


def _capture_role_row(obj: Mapping[str, object], row: _Row, roles: RoleColumns) -> _Row:
    """A capture record's features plus its prediction, score, target and attributions under role keys."""
    prediction = obj.get("prediction")
    if isinstance(prediction, dict):
        row[_PREDICTION_KEY] = prediction.get("label")
        row[_SCORE_KEY] = prediction.get("score")
    else:
        row[_PREDICTION_KEY] = prediction
    if roles.target is not None and roles.target not in row and roles.target in obj:
        row[roles.target] = obj[roles.target]
    attributions = obj.get("attributions")
    if isinstance(attributions, dict):
        row.update({_ATTRIBUTION_PREFIX + str(k): v for k, v in attributions.items()})
    return row


def _prediction_cells(prediction: object, name: str) -> _Row:
    if isinstance(prediction, dict):
        return {f"{name}.{k}": v for k, v in prediction.items()}
    return {name: prediction}


# ---------------------------------------------------------------- SageMaker data capture


def _iter_capture(path: Path, opts: _Options) -> Iterator[Chunk]:
    timestamp_opts = replace(opts, timestamp_column="inferenceTime", id_column="eventId")

    def parse(obj: object, _: int) -> _Parsed:
        if not isinstance(obj, dict) or not isinstance(obj.get("captureData"), dict):
            raise BadRecordError("not_a_capture_record", "no captureData object")
        rows = _capture_rows(obj["captureData"], opts.prediction_column)
        meta_obj = obj.get("eventMetadata")
        meta: Mapping[str, object] = meta_obj if isinstance(meta_obj, dict) else {}
        base_id = meta.get("inferenceId") or meta.get("eventId")
        ids = [base_id if len(rows) == 1 or base_id is None else f"{base_id}:{i}" for i in range(len(rows))]
        kept = [{k: v for k, v in r.items() if k not in opts.exclude} for r in rows]
        return kept, [meta.get("inferenceTime")] * len(rows), ids

    yield from _iter_json_records(path, timestamp_opts, parse)


def _capture_rows(capture: Mapping[str, object], prediction_column: str) -> list[_Row]:
    inputs = _payload_rows(capture.get("endpointInput"), "endpointInput")
    output = capture.get("endpointOutput")
    if output is None:
        return inputs
    predictions = _payload_rows(output, "endpointOutput", prediction_column)
    if len(predictions) != len(inputs):
        raise BadRecordError("prediction_count_mismatch",
                          f"{len(inputs)} input rows but {len(predictions)} predictions")
    return [{**i, **p} for i, p in zip(inputs, predictions, strict=True)]


def _payload_rows(payload: object, where: str, scalar_name: str | None = None) -> list[_Row]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
        raise BadRecordError("bad_capture_payload", f"{where} has no data string")
    data: str = payload["data"]
    encoding = str(payload.get("encoding", "")).upper()
    content = str(payload.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        import base64

        data = base64.b64decode(data).decode("utf-8")
        encoding = "JSON" if "json" in content else "CSV"
    if encoding == "JSON" or (not encoding and "json" in content):
        try:
            return _json_payload_rows(orjson.loads(data), scalar_name)
        except orjson.JSONDecodeError as exc:
            raise BadRecordError("bad_capture_payload", f"{where}: {exc}") from exc
    return _csv_payload_rows(data, scalar_name)


def _json_payload_rows(obj: object, scalar_name: str | None) -> list[_Row]:
    if isinstance(obj, dict):
        for key in ("instances", "predictions", "inputs", "outputs"):
            if isinstance(obj.get(key), list):
                return [_instance_row(v, scalar_name) for v in obj[key]]
        if isinstance(obj.get("features"), list):
            return [_instance_row(obj["features"], scalar_name)]
        return [_instance_row(obj, scalar_name)]
    if isinstance(obj, list) and obj and all(isinstance(v, list | dict) for v in obj):
        return [_instance_row(v, scalar_name) for v in obj]
    return [_instance_row(obj, scalar_name)]


def _instance_row(value: object, scalar_name: str | None) -> _Row:
    if isinstance(value, dict):
        if isinstance(value.get("features"), list):
            return _instance_row(value["features"], scalar_name)
        return {f"{scalar_name}.{k}": v for k, v in value.items()} if scalar_name else dict(value)
    if isinstance(value, list):
        if scalar_name and len(value) == 1:
            return {scalar_name: value[0]}
        prefix = f"{scalar_name}." if scalar_name else ""
        return {f"{prefix}_c{i}": v for i, v in enumerate(value)}
    return {scalar_name or "_c0": value}


def _csv_payload_rows(data: str, scalar_name: str | None) -> list[_Row]:
    rows: list[_Row] = []
    for cells in csv.reader(io.StringIO(data)):
        if not cells:
            continue
        values: list[object] = [_csv_cell(c) for c in cells]
        rows.append(_instance_row(values, scalar_name) if len(values) != 1 else {scalar_name or "_c0": values[0]})
    return rows


def _csv_cell(text: str) -> object:
    """A CSV payload cell as SageMaker reads it: numeric-looking text becomes int / float, else stripped text."""
    cell = text.strip()
    if not cell:
        return None
    if _NUMBER.match(cell):
        return int(cell) if re.fullmatch(r"[+-]?\d+", cell) else float(cell)
    return cell
