"""What the JSON Lines formats share: numbered lines of bounded length, JSON records into chunks of rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import numpy as np
import orjson
import pyarrow as pa

from streamdrift.columns.chunks import BadLine, Chunk
from streamdrift.columns.columns import columns_from_rows, paused_gc
from streamdrift.errors import BadRecordError
from streamdrift.ingest.files.base import ReadOptions, split_roles
from streamdrift.ingest.files.columnar import timestamps_from_arrow
from streamdrift.ingest.files.text import LineReader, TextSource

Row = dict[str, object]
Parsed = tuple[list[Row], list[object], list[object]]  # rows, timestamps, ids
_BLOCK: Final[int] = 1 << 20


def numbered_lines(path: Path, options: ReadOptions) -> Iterator[tuple[int, bytes, int]]:
    """(1-based line number, line, bytes read from the file) for every non-blank line (each at most
    ``options.max_line_bytes`` long; text handling as in :mod:`~streamdrift.ingest.files.text`)."""
    with TextSource(path, options.encoding) as source:
        lines = LineReader(source, options.max_line_bytes)
        while True:
            number = lines.line
            block = lines.read_block(_BLOCK)
            if not block:
                return
            position = source.position
            for line in (block[:-1] if block.endswith(b"\n") else block).split(b"\n"):
                if line.strip():
                    yield number, line, position
                number += 1


def iter_json_records(path: Path, opts: ReadOptions, parse: Callable[[object, int], Parsed]) -> Iterator[Chunk]:
    """Chunks of the rows ``parse`` makes of each line's JSON value; lines that are not JSON, or that ``parse``
    refuses (BadRecordError), are reported to ``opts.on_bad_line`` and skipped."""
    rows: list[Row] = []
    stamps: list[object] = []
    ids: list[object] = []
    lines: list[int] = []
    position = 0
    for number, line, position in numbered_lines(path, opts):
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
            yield rows_chunk(rows, stamps, ids, lines, opts, position)
            rows, stamps, ids, lines = [], [], [], []
    if rows:
        yield rows_chunk(rows, stamps, ids, lines, opts, position)


def rows_chunk(
    rows: list[Row], stamps: list[object], ids: list[object], lines: list[int], opts: ReadOptions, position: int
) -> Chunk:
    with paused_gc():
        columns, extras = split_roles(columns_from_rows(rows), opts.roles)
    ts = timestamps_from_arrow(json_timestamp_array(stamps)) if opts.timestamp_column else None
    id_arr = np.asarray([None if v is None else str(v) for v in ids], dtype=object) if opts.id_column else None
    return Chunk(columns, ts, id_arr, np.asarray(lines, dtype=np.int64), position, **extras)


def json_timestamp_array(values: list[object]) -> pa.Array:
    """Timestamps from JSON values: all-integer lists stay integers (ms); anything else is read as text."""
    if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        return pa.array(values, type=pa.int64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())
