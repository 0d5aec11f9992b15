"""The Python values of spilled join entries (pending predictions whose value or score is not a float) as plain,
versioned columns: reading them back can only ever give data (None, bool, int, float, str, bytes, or JSON
lists / dicts), never run code, whatever the file holds (no pickle; docs/security.md).

Section layout (little-endian; ``n`` rows, ``m`` of them holding a tuple of ``width`` values, stored
column-major: cell ``k = column * m + slot``)::

    header   24 bytes: magic b"SDSV", version uint16, width uint16, n uint32, m uint32, entries uint32,
             blob length uint32
    slots    int32[n]            the row's slot among the m tuples, -1: the row holds None
    nums     int64[width * m]    FLOAT: the float64's bits; INT, BOOL: the value; STR, BYTES, BIGINT, JSON: the
                                 index of its entry
    tags     uint8[width * m]    NONE FLOAT INT BOOL STR BYTES BIGINT JSON
    offsets  int64[entries + 1]  entry e's bytes are blob[offsets[e]:offsets[e + 1]]
    blob     the entries: STR: UTF-8 (surrogates passed through; each distinct text once), BYTES: as is,
             BIGINT: decimal text, JSON: orjson

Writing is vectorized per column for the usual types (a ``type`` pass, numpy for numbers, each distinct text
encoded once); another type (numpy scalars, big ints, lists, dicts) takes a per-value path. Reading decodes
only the rows asked for, a batch at a time. Round trip: tuples inside a JSON value come back as lists (and
non-finite floats inside one as None), str and number subclasses (numpy scalars) as the plain Python type.
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
_HEADER: Final[struct.Struct] = struct.Struct("<4sHHIIII")
NONE, FLOAT, INT, BOOL, STR, BYTES, BIGINT, JSON = range(8)
_TAGS: Final[dict[type, int]] = {type(None): NONE, float: FLOAT, int: INT, bool: BOOL, str: STR}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LIMIT: Final[int] = 2**31 - 1


def section_size(n: int, m: int, width: int, entries: int, blob: int) -> int:
    """Bytes of a section (see the module docs)."""
    cells = m * width
    return _HEADER.size + 4 * n + 9 * cells + 8 * (entries + 1) + blob


def _text(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # lone surrogates (Python text from a lenient decoder)
        return value.encode("utf-8", "surrogatepass")


class _Entries:
    """The variable-length values of a section: each distinct text once, other values as they come."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self._texts: dict[str, int] = {}

    def texts(self, values: list[str]) -> NDArray[np.int64]:
        """Entry indices of ``values`` (texts), adding the new distinct ones."""
        new = [v for v in dict.fromkeys(values) if v not in self._texts]
        self._texts.update(zip(new, range(len(self.pieces), len(self.pieces) + len(new)), strict=True))
        self.pieces += map(_text, new)
        return np.fromiter(map(self._texts.__getitem__, values), dtype=np.int64, count=len(values))

    def add(self, piece: bytes) -> int:
        self.pieces.append(piece)
        return len(self.pieces) - 1


def encode_rows(rows: Sequence[Sequence[Any] | None], width: int) -> bytes:
    """``rows`` (each None or a sequence of ``width`` values) as one section; JoinStoreError when a value is of
    a type that cannot be stored as data."""
    n = len(rows)
    present = np.fromiter(map(operator.is_not, rows, itertools.repeat(None)), dtype=bool, count=n)
    kept: list[Sequence[Any]] = list(itertools.compress(rows, present))  # type: ignore[arg-type]
    m = len(kept)
    if n > _LIMIT or m * width > _LIMIT:
        raise JoinStoreError(f"cannot spill join values: {n} rows in one segment")
    try:  # a shorter row raises here; then a longer one makes the sum differ
        columns = [list(map(operator.itemgetter(c), kept)) for c in range(width)] if m else []
    except IndexError:
        columns = []
    if m and (not columns or sum(map(len, kept)) != m * width):
        raise JoinStoreError(f"cannot spill join values: rows must hold {width} values")
    slots = np.full(n, -1, dtype=np.int32)
    slots[present] = np.arange(m, dtype=np.int32)
    entries = _Entries()
    tags, nums = [], []
    for column in columns:
        t, v = _encode_column(column, entries)
        tags.append(t)
        nums.append(v)
    offsets = np.zeros(len(entries.pieces) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, entries.pieces), dtype=np.int64, count=len(entries.pieces)), out=offsets[1:])
    blob = b"".join(entries.pieces)
    if len(entries.pieces) > _LIMIT or len(blob) > _LIMIT:
        raise JoinStoreError(f"cannot spill join values: {len(blob)} bytes of text in one segment")
    header = _HEADER.pack(MAGIC, VERSION, width, n, m, len(entries.pieces), len(blob))
    return b"".join((header, slots.tobytes(), _cat(nums, np.int64), _cat(tags, np.uint8), offsets.tobytes(), blob))


def _cat(parts: list[NDArray[Any]], dtype: type[np.generic]) -> bytes:
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)).tobytes()


def _encode_column(values: Sequence[Any], entries: _Entries) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Tags and numbers of one column (its texts added to ``entries``)."""
    n = len(values)
    kinds = set(map(type, values))
    if len(kinds) == 1:  # the usual case: one type in the whole column
        kind = kinds.pop()
        if kind is int:
            try:
                return np.full(n, INT, dtype=np.uint8), np.array(values, dtype=np.int64)
            except OverflowError:
                return _encode_slowly(values, entries)
        if kind is float:
            return np.full(n, FLOAT, dtype=np.uint8), np.array(values, dtype=np.float64).view(np.int64)
        if kind is str:
            return np.full(n, STR, dtype=np.uint8), entries.texts(values)  # type: ignore[arg-type]
        if kind is type(None):
            return np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.int64)
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
        return _encode_slowly(values, entries)
    texts = tags == STR
    if texts.any():
        nums[texts] = entries.texts(list(itertools.compress(values, texts)))
    return tags, nums


def _encode_slowly(values: Sequence[Any], entries: _Entries) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    n = len(values)
    tags = np.zeros(n, dtype=np.uint8)
    nums = np.zeros(n, dtype=np.int64)
    for i, value in enumerate(values):
        tags[i], nums[i] = _encode_value(value, entries)
    return tags, nums


def _encode_value(value: Any, entries: _Entries) -> tuple[int, int]:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return NONE, 0
    if isinstance(value, bool):
        return BOOL, int(value)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return INT, int(value)
        return BIGINT, entries.add(str(int(value)).encode())
    if isinstance(value, float):
        return FLOAT, int(np.float64(value).view(np.int64))
    if isinstance(value, str):
        return STR, int(entries.texts([str(value)])[0])
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES, entries.add(bytes(value))
    try:
        return JSON, entries.add(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))
    except TypeError as exc:
        raise JoinStoreError(f"cannot spill a join value of type {type(value).__name__}: {exc}") from exc


class SpilledValues:
    """The rows of a section read back from ``buffer`` (a memory map or bytes) at ``start``: checked against
    the ``n`` rows and ``size`` bytes the writer recorded (JoinStoreError when they differ), decoded a batch of
    rows at a time."""

    def __init__(self, buffer: Any, start: int, size: int, n: int, where: str) -> None:
        self._where = where
        if size < _HEADER.size or start + size > len(buffer):
            raise self._corrupt(f"{size} bytes at {start} do not fit its {len(buffer)}")
        magic, version, width, rows, m, entries, blob = _HEADER.unpack_from(buffer, start)
        if magic != MAGIC:
            raise self._corrupt("not a join value section")
        if version != VERSION:
            raise JoinStoreError(f"{where}: join value section of version {version}; this build reads {VERSION}")
        if rows != n or m > n or section_size(n, m, width, entries, blob) != size:
            raise self._corrupt(f"{rows} rows ({m} with values) of {width} values, {entries} entries of {blob} "
                                f"bytes in {size} bytes; {n} rows were written")
        cells = m * width
        at = start + _HEADER.size
        self.width, self.n, self._m = width, n, m
        self._slots = np.frombuffer(buffer, np.int32, n, at)
        at += 4 * n
        self._nums = np.frombuffer(buffer, np.int64, cells, at)
        self._tags = np.frombuffer(buffer, np.uint8, cells, at + 8 * cells)
        at += 9 * cells
        self._offsets = np.frombuffer(buffer, np.int64, entries + 1, at)
        self._blob_at, self._blob, self._entries = at + 8 * (entries + 1), blob, entries
        self._buffer = buffer
        self._texts: dict[int, str] = {}  # entries decoded so far (a class label is read once)

    def _corrupt(self, detail: str) -> JoinStoreError:
        return JoinStoreError(f"{self._where}: corrupt join value section: {detail}")

    def row(self, i: int) -> tuple[Any, ...] | None:
        """Row ``i``: None, or its ``width`` values."""
        return self.rows([i])[0]

    def rows(self, indices: Sequence[int]) -> list[tuple[Any, ...] | None]:
        """The rows at ``indices`` (each None or its ``width`` values)."""
        at = np.asarray(indices, dtype=np.intp)
        if at.size and (int(at.min()) < 0 or int(at.max()) >= self.n):
            raise IndexError(f"rows {indices} of {self.n}")
        slots = self._slots[at]
        if slots.size and (int(slots.min()) < -1 or int(slots.max()) >= self._m):
            raise self._corrupt(f"a slot outside 0..{self._m - 1}")
        have = slots >= 0
        cells = (np.arange(self.width)[:, None] * self._m + slots[have][None, :]).ravel()  # column-major
        tags, nums = self._tags[cells].tolist(), self._nums[cells].tolist()
        floats = self._nums[cells].view(np.float64).tolist()
        k = int(have.sum())
        values = [self._value(tags[j], nums[j], floats[j]) for j in range(len(tags))]
        tuples = iter(zip(*(values[c * k : (c + 1) * k] for c in range(self.width)), strict=True))
        return [next(tuples) if h else None for h in have.tolist()]

    def _value(self, tag: int, number: int, real: float) -> Any:
        if tag == NONE:
            return None
        if tag == FLOAT:
            return real
        if tag == INT:
            return number
        if tag == BOOL:
            return bool(number)
        if tag == STR and number in self._texts:
            return self._texts[number]
        piece = self._entry(number)
        try:
            if tag == STR:
                text = self._texts[number] = piece.decode("utf-8", "surrogatepass")
                return text
            if tag == BYTES:
                return piece
            if tag == BIGINT:
                return int(piece.decode("ascii"))
            if tag == JSON:
                return orjson.loads(piece)
        except (UnicodeDecodeError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise self._corrupt(f"entry {number}: {exc}") from exc
        raise self._corrupt(f"unknown tag {tag}")

    def _entry(self, e: int) -> bytes:
        if not 0 <= e < self._entries:
            raise self._corrupt(f"entry {e} of {self._entries}")
        start, end = int(self._offsets[e]), int(self._offsets[e + 1])
        if not 0 <= start <= end <= self._blob:
            raise self._corrupt(f"entry {e} at bytes {start}..{end} of {self._blob}")
        return bytes(self._buffer[self._blob_at + start : self._blob_at + end])
