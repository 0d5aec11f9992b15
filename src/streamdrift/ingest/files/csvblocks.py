"""CSV input in blocks of whole records, found in linear time; a stray quote is an error naming its line.

A block ends at a line break outside quoted fields. Which quotes open a field follows pyarrow's CSV parser: a
quote opens a quoted field only at the start of a field (line start or after the delimiter); inside one, a
doubled quote is a quote and a single one closes it; a quote inside an unquoted field is an ordinary character.
Over the runs of consecutive quotes of a block that is one function per run -- an even run changes nothing, an
odd run at a field start toggles "inside", any other odd run closes -- so whether a block ends inside a quoted
field is a few vectorized steps over its quotes (none at all for a block without quotes), and a block that does
is extended line by line, each line scanned once.

A quoted field may hold line breaks, but one record may not grow beyond the line limit: a field still open that
far after its quote (or at the end of the file) is an :class:`UnclosedQuoteError` naming the quote's line.
Before, the block grew to the end of the file, its quotes recounted at each line (quadratic), and pyarrow
merged every later row into the stray field, silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import numpy as np

from streamdrift.errors import UnclosedQuoteError
from streamdrift.ingest.files.text import LineReader

_QUOTE: Final[int] = ord('"')
_FIELD_ENDS: Final[bytes] = b"\n\r"
_QUICK_RUNS: Final[int] = 16


def open_quote(data: bytes, delimiter: bytes, inside: bool) -> tuple[bool, int]:
    """(whether a quoted field is open at the end of ``data``, offset of the quote that opened it in ``data``, or
    -1 when it was already open before). ``data`` starts at a line start; ``inside``: open before ``data``."""
    if _QUOTE not in data:
        return inside, -1
    quick = _from_the_end(data, delimiter)
    return quick if quick is not None else _scan(data, delimiter, inside)


def _from_the_end(data: bytes, delimiter: bytes) -> tuple[bool, int] | None:
    """:func:`open_quote` from the last quote runs back to the last one that closes (or None after a few runs):
    in a well-formed block the last quote closes a field, so this is one backward search."""
    toggles: list[int] = []
    end = len(data)
    for _ in range(_QUICK_RUNS):
        last = data.rfind(b'"', 0, end)
        if last < 0:
            return None  # back at the start: the state before the block decides
        start = last
        while start > 0 and data[start - 1] == _QUOTE:
            start -= 1
        end = start
        if (last - start) % 2:  # an even run changes nothing
            continue
        if start == 0 or data[start - 1] in _field_ends(delimiter):
            toggles.append(start)
            continue
        # an odd run inside a field closes: the toggles after it decide
        return (True, toggles[0]) if len(toggles) % 2 else (False, -1)
    return None


def _field_ends(delimiter: bytes) -> bytes:
    return delimiter + _FIELD_ENDS


def _scan(data: bytes, delimiter: bytes, inside: bool) -> tuple[bool, int]:
    """:func:`open_quote` over all the block's quote runs, vectorized."""
    arr = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(arr == _QUOTE)
    run_start = np.ones(quotes.size, dtype=bool)
    run_start[1:] = quotes[1:] != quotes[:-1] + 1
    starts = np.flatnonzero(run_start)
    odd = (np.diff(np.append(starts, quotes.size)) % 2).astype(bool)
    first = quotes[starts[odd]]  # first quote of each odd run
    if first.size == 0:
        return inside, -1
    before = arr[np.maximum(first - 1, 0)]
    field_start = (first == 0) | np.isin(before, np.frombuffer(delimiter + _FIELD_ENDS, dtype=np.uint8))
    resets = np.flatnonzero(~field_start)
    toggles = field_start
    if resets.size:
        inside = False
        toggles = field_start[resets[-1] + 1:]
        first = first[resets[-1] + 1:]
    if int(np.count_nonzero(toggles)) % 2:
        inside = not inside
    if not inside:
        return False, -1
    opened = first[toggles]
    return True, int(opened[-1]) if opened.size else -1


def csv_blocks(lines: LineReader, block_bytes: int, delimiter: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number of its first line, block) for blocks of whole records of about ``block_bytes``."""
    limit = lines.limit
    while True:
        first_line = lines.line
        data = lines.read_block(block_bytes)
        if not data:
            return
        inside, opened = open_quote(data, delimiter, False)
        if inside:
            quote_line = first_line + data.count(b"\n", 0, opened)
            record = len(data) - (data.rfind(b"\n", 0, opened) + 1)  # bytes since the quote's line start
            parts = [data]
            while inside:
                if record > limit:
                    raise UnclosedQuoteError(
                        f"a quoted field opens on this line and does not close within {limit} bytes (a stray "
                        "'\"'? the limit is max_line_bytes, CLI --max-line-bytes)", path=lines.source.path,
                        line=quote_line)
                line = lines.readline()
                if not line:
                    raise UnclosedQuoteError(
                        "a quoted field opens on this line and is still open at the end of the file (a stray '\"'?)",
                        path=lines.source.path, line=quote_line)
                record += len(line)
                inside, again = open_quote(line, delimiter, True)
                if again >= 0:
                    quote_line, record = lines.line - 1, len(line) - (line.rfind(b"\n", 0, again) + 1)
                parts.append(line)
            data = b"".join(parts)
        yield first_line, data
