"""The Python values of spilled join entries (pending predictions whose value or score is not a float) as plain,
versioned columns: reading them back can only ever give data (None, bool, int, float, str, bytes, or JSON
lists / dicts), never run code, whatever the file holds (no pickle; docs/security.md).

Section layout (little-endian; ``n`` rows of ``width`` values each, column-major, ``k = column * n + row``)::

    header   16 bytes: magic b"SDSV", version uint16, width uint16, n uint32, blob length uint32
    nums     int64[width * n]       FLOAT: the float64's bits; INT, BOOL: the value; else 0
    offsets  int64[width * n + 1]   value k's bytes are blob[offsets[k]:offsets[k + 1]]
    tags     uint8[width * n]       NONE FLOAT INT BOOL STR BYTES BIGINT JSON
    present  uint8[n]               0: the row holds no tuple (None)
    blob     STR: UTF-8 (surrogates passed through), BYTES: as is, BIGINT: decimal text, JSON: orjson

Writing is vectorized per column for the usual types (one ``type`` pass, numpy for the numbers, one join for
the text); a value of another type (numpy scalars, big ints, lists, dicts) takes a per-value path. Reading
decodes only the rows asked for. Round trip: tuples inside a JSON value come back as lists, str and number
subclasses (numpy scalars) as the plain Python type.
"""

from __future__ import annotations

import itertools
import operator
import struct
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.errors import JoinStoreError

MAGIC: Final[bytes] = b"SDSV"
VERSION: Final[int] = 1
_HEADER: Final[struct.Struct] = struct.Struct("<4sHHII")
NONE, FLOAT, INT, BOOL, STR, BYTES, BIGINT, JSON = range(8)
_TAGS: Final[dict[type, int]] = {type(None): NONE, float: FLOAT, int: INT, bool: BOOL, str: STR, bytes: BYTES}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_ENCODE = operator.methodcaller("encode", "utf-8", "surrogatepass")


def section_size(n: int, width: int, blob: int) -> int:
    """Bytes of a section of ``n`` rows of ``width`` values with ``blob`` bytes of text."""
    cells = n * width
    return _HEADER.size + 8 * cells + 8 * (cells + 1) + cells + n + blob


def encode_rows(rows: Sequence[Sequence[Any] | None], width: int) -> bytes:
    """``rows`` (each None or a sequence of ``width`` values) as one section; JoinStoreError when a value is of
    a type that cannot be stored as data."""
    n = len(rows)
    present = np.fromiter(map(operator.is_not, rows, itertools.repeat(None)), dtype=np.uint8, count=n)
    filled = [r if r is not None else (None,) * width for r in rows]
    if n and set(map(len, filled)) != {width}:
        raise JoinStoreError(f"cannot spill join values: rows must hold {width} values")
    columns: list[Sequence[Any]] = list(zip(*filled, strict=True)) if n else [() for _ in range(width)]
    tags, nums, lengths, pieces = [], [], [], []
    for column in columns:
        t, v, lens, text = _encode_column(column)
        tags.append(t)
        nums.append(v)
        lengths.append(lens)
        pieces += text
    blob = b"".join(pieces)
    offsets = np.zeros(n * width + 1, dtype=np.int64)
    if n:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    if offsets[-1] != len(blob) or len(blob) >= 2**32 or n >= 2**32:
        raise JoinStoreError(f"cannot spill join values: {len(blob)} bytes of text for {n} rows")
    return b"".join((_HEADER.pack(MAGIC, VERSION, width, n, len(blob)), _cat(nums, np.int64), offsets.tobytes(),
                     _cat(tags, np.uint8), present.tobytes(), blob))


def _cat(parts: list[NDArray[Any]], dtype: type[np.generic]) -> bytes:
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)).tobytes()


def _encode_column(values: Sequence[Any]) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64],
                                                   list[bytes]]:
    """Tags, numbers, byte lengths and byte strings (in row order) of one column."""
    n = len(values)
    try:
        tags = np.fromiter(map(_TAGS.__getitem__, map(type, values)), dtype=np.uint8, count=n)
        nums = np.zeros(n, dtype=np.int64)
        floats = tags == FLOAT
        if floats.any():
            nums[floats] = np.array(list(itertools.compress(values, floats)), dtype=np.float64).view(np.int64)
        ints = (tags == INT) | (tags == BOOL)
        if ints.any():
            nums[ints] = np.array(list(itertools.compress(values, ints)), dtype=np.int64)  # OverflowError: big
    except (KeyError, OverflowError):
        return _encode_slowly(values)
    lengths = np.zeros(n, dtype=np.int64)
    text = tags >= STR
    pieces: list[bytes] = []
    if text.any():
        pieces = [_ENCODE(v) if type(v) is str else v for v in itertools.compress(values, text)]
        lengths[text] = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    return tags, nums, lengths, pieces


def _encode_slowly(values: Sequence[Any]) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64],
                                                    list[bytes]]:
    n = len(values)
    tags = np.zeros(n, dtype=np.uint8)
    nums = np.zeros(n, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    pieces: list[bytes] = []
    for i, value in enumerate(values):
        tag, number, piece = _encode_value(value)
        tags[i], nums[i] = tag, number
        if piece is not None:
            lengths[i] = len(piece)
            pieces.append(piece)
    return tags, nums, lengths, pieces


def _encode_value(value: Any) -> tuple[int, int, bytes | None]:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return NONE, 0, None
    if isinstance(value, bool):
        return BOOL, int(value), None
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return INT, int(value), None
        return BIGINT, 0, str(int(value)).encode()
    if isinstance(value, float):
        return FLOAT, int(np.float64(value).view(np.int64)), None
    if isinstance(value, str):
        return STR, 0, _ENCODE(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES, 0, bytes(value)
    try:
        return JSON, 0, orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise JoinStoreError(f"cannot spill a join value of type {type(value).__name__}: {exc}") from exc


class SpilledValues:
    """Rows of a section read back from ``buffer`` (a memory map or bytes) at ``start``: checked against the
    ``n`` rows and ``size`` bytes the writer recorded (JoinStoreError when they differ), decoded row by row."""

    def __init__(self, buffer: Any, start: int, size: int, n: int, where: str) -> None:
        self._where = where
        if size < _HEADER.size or start + size > len(buffer):
            raise self._corrupt(f"{size} bytes at {start} do not fit its {len(buffer)}")
        magic, version, width, rows, blob = _HEADER.unpack_from(buffer, start)
        if magic != MAGIC:
            raise self._corrupt("not a join value section")
        if version != VERSION:
            raise JoinStoreError(f"{where}: join value section of version {version}; this build reads {VERSION}")
        if rows != n or section_size(n, width, blob) != size:
            raise self._corrupt(f"{rows} rows of {width} values and {blob} bytes of text in {size} bytes, "
                                f"expected {n} rows")
        cells = n * width
        at = start + _HEADER.size
        self.width, self.n = width, n
        self._nums = np.frombuffer(buffer, np.int64, cells, at)
        self._offsets = np.frombuffer(buffer, np.int64, cells + 1, at + 8 * cells)
        self._tags = np.frombuffer(buffer, np.uint8, cells, at + 16 * cells + 8)
        self._present = np.frombuffer(buffer, np.uint8, n, at + 17 * cells + 8)
        self._blob_at, self._blob = at + 17 * cells + 8 + n, blob
        self._buffer = buffer

    def _corrupt(self, detail: str) -> JoinStoreError:
        return JoinStoreError(f"{self._where}: corrupt join value section: {detail}")

    def row(self, i: int) -> tuple[Any, ...] | None:
        """Row ``i``: None, or its ``width`` values."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        if not self._present[i]:
            return None
        return tuple(self._value(c * self.n + i) for c in range(self.width))

    def _value(self, k: int) -> Any:
        tag = int(self._tags[k])
        if tag == NONE:
            return None
        if tag == FLOAT:
            return float(self._nums[k : k + 1].view(np.float64)[0])
        if tag == INT:
            return int(self._nums[k])
        if tag == BOOL:
            return bool(self._nums[k])
        start, end = int(self._offsets[k]), int(self._offsets[k + 1])
        if not 0 <= start <= end <= self._blob:
            raise self._corrupt(f"value {k} at bytes {start}..{end} of {self._blob}")
        piece = bytes(self._buffer[self._blob_at + start : self._blob_at + end])
        try:
            if tag == STR:
                return piece.decode("utf-8", "surrogatepass")
            if tag == BYTES:
                return piece
            if tag == BIGINT:
                return int(piece.decode("ascii"))
            if tag == JSON:
                return orjson.loads(piece)
        except (UnicodeDecodeError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise self._corrupt(f"value {k}: {exc}") from exc
        raise self._corrupt(f"value {k} has unknown tag {tag}")
