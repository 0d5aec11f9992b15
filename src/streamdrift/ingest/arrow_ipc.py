"""What an Arrow IPC stream declares, read from its message headers before pyarrow reads (and decompresses) it:
the size of its buffers once decompressed, and the largest row count a record batch or a field node declares.

An empty struct column of 2^40 rows costs a few bytes on the wire and a 12.8 KB zstd body can decompress to
400 MB, so a capture message is judged by these numbers first (:func:`streamdrift.ingest.arrow.decode_arrow_batch`):
pyarrow then never allocates more than the limits allow.

Only the parts of the format needed for that are read (``format/Message.fbs`` of Apache Arrow): each
encapsulated message is ``FF FF FF FF``, an int32 metadata length, a flatbuffer ``Message`` (header type, header
table, body length) and the body. A ``RecordBatch`` header (also inside a ``DictionaryBatch``) gives ``length``,
the field nodes (length, null count), the buffers (offset, length into the body) and, when the body is
compressed, a ``compression`` table: each compressed buffer then starts with its decompressed length as a
little-endian int64 (-1: stored uncompressed). Every read is bounds-checked: a header that does not parse is a
``bad_batch``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np

from streamdrift.errors import BadRecordError

__all__ = ["IpcExtent", "ipc_extent"]

_CONTINUATION: Final[bytes] = b"\xff\xff\xff\xff"
_DICTIONARY_BATCH: Final[int] = 2
_RECORD_BATCH: Final[int] = 3
# field slots of the flatbuffer tables
_MESSAGE_HEADER_TYPE, _MESSAGE_HEADER, _MESSAGE_BODY_LENGTH = 1, 2, 3
_BATCH_LENGTH, _BATCH_NODES, _BATCH_BUFFERS, _BATCH_COMPRESSION = 0, 1, 2, 3
_DICTIONARY_DATA = 1


@dataclass(frozen=True, slots=True)
class IpcExtent:
    decoded_bytes: int  # the stream's size with every compressed buffer at its decompressed length
    rows: int  # rows of its record batches, added up
    max_length: int  # the largest length a record batch, dictionary batch or field node declares


def ipc_extent(value: bytes) -> IpcExtent:
    """The extent of an Arrow IPC stream; BadRecordError (``bad_batch``) when its framing or headers do not
    parse."""
    try:
        return _walk(value)
    except (struct.error, ValueError, IndexError) as exc:
        raise BadRecordError("bad_batch", f"not a valid Arrow IPC stream: {exc}") from None


def _walk(value: bytes) -> IpcExtent:
    pos = 0
    decoded = len(value)
    rows = 0
    longest = 0
    end = len(value)
    while pos + 4 <= end:
        if value[pos:pos + 4] == _CONTINUATION:
            pos += 4
        meta_len = _i32(value, pos)
        pos += 4
        if meta_len == 0:  # end of stream
            break
        if meta_len < 0 or pos + meta_len > end:
            raise ValueError("message metadata past the end of the stream")
        meta = value[pos:pos + meta_len]
        pos += meta_len
        kind, header, body_len = _message(meta)
        if body_len < 0 or pos + body_len > end:
            raise ValueError("message body past the end of the stream")
        if kind == _DICTIONARY_BATCH and header is not None:
            header = _offset_field(meta, header, _DICTIONARY_DATA)
        if kind in (_DICTIONARY_BATCH, _RECORD_BATCH) and header is not None:
            length, max_node, extra = _batch(meta, header, value, pos, body_len)
            if kind == _RECORD_BATCH:
                rows += length
            longest = max(longest, length, max_node)
            decoded += extra
        pos += body_len
    return IpcExtent(decoded, rows, longest)


def _message(meta: bytes) -> tuple[int, int | None, int]:
    """(header type, header table position or None, body length) of a flatbuffer Message."""
    root = _u32(meta, 0)
    kind_at = _field(meta, root, _MESSAGE_HEADER_TYPE)
    kind = 0 if kind_at is None else _u8(meta, kind_at)
    body_at = _field(meta, root, _MESSAGE_BODY_LENGTH)
    body_len = 0 if body_at is None else _i64(meta, body_at)
    return kind, _offset_field(meta, root, _MESSAGE_HEADER), body_len


def _batch(meta: bytes, table: int, value: bytes, body: int, body_len: int) -> tuple[int, int, int]:
    """(declared length, largest field node length, decompressed minus stored bytes) of a RecordBatch table
    whose body starts at ``body`` in ``value``."""
    at = _field(meta, table, _BATCH_LENGTH)
    length = 0 if at is None else _i64(meta, at)
    nodes = _struct_vector(meta, table, _BATCH_NODES)  # (length, null_count) pairs
    if length < 0 or (nodes.size and nodes[:, 0].min() < 0):
        raise ValueError("a negative length")
    max_node = int(nodes[:, 0].max()) if nodes.size else 0
    if _field(meta, table, _BATCH_COMPRESSION) is None:
        return length, max_node, 0
    buffers = _struct_vector(meta, table, _BATCH_BUFFERS)  # (offset, length) pairs
    stored = buffers[buffers[:, 1] > 0] if buffers.size else buffers
    if not stored.size:
        return length, max_node, 0
    offsets, sizes = stored[:, 0], stored[:, 1]
    if offsets.min() < 0 or sizes.min() < 8 or (offsets + sizes).max() > body_len:
        raise ValueError("a compressed buffer outside the message body")
    starts = body + offsets
    prefix = np.frombuffer(value, dtype=np.uint8)[starts[:, None] + np.arange(8)].copy().view("<i8")[:, 0]
    if (prefix < -1).any():
        raise ValueError("a negative decompressed length")
    compressed = prefix != -1
    extra = int(prefix[compressed].sum() - sizes[compressed].sum())
    return length, max_node, max(extra, 0)


# ----------------------------------------------------------------------------------------------- flatbuffers


def _field(buf: bytes, table: int, slot: int) -> int | None:
    """Position of field ``slot`` of the table at ``table``, or None when absent (default value)."""
    vtable = table - _i32(buf, table)
    vt_size = _u16(buf, vtable)
    entry = 4 + 2 * slot
    if entry + 2 > vt_size:
        return None
    offset = _u16(buf, vtable + entry)
    return None if offset == 0 else table + offset


def _offset_field(buf: bytes, table: int, slot: int) -> int | None:
    """Position of the table or vector an offset field points to."""
    at = _field(buf, table, slot)
    return None if at is None else at + _u32(buf, at)


def _struct_vector(buf: bytes, table: int, slot: int) -> np.ndarray[tuple[int, int], np.dtype[np.int64]]:
    """A vector of 16-byte structs of two int64 as an (n, 2) array (empty when absent)."""
    at = _offset_field(buf, table, slot)
    if at is None:
        return np.zeros((0, 2), dtype=np.int64)
    count = _u32(buf, at)
    if at + 4 + 16 * count > len(buf):
        raise ValueError("a vector past the end of the metadata")
    return np.frombuffer(buf, dtype="<i8", count=2 * count, offset=at + 4).reshape(count, 2).astype(np.int64)


def _check(buf: bytes, pos: int, size: int) -> None:
    if pos < 0 or pos + size > len(buf):
        raise ValueError(f"an offset ({pos}) outside the metadata")


def _u8(buf: bytes, pos: int) -> int:
    _check(buf, pos, 1)
    return buf[pos]


def _u16(buf: bytes, pos: int) -> int:
    _check(buf, pos, 2)
    return int.from_bytes(buf[pos:pos + 2], "little")


def _i32(buf: bytes, pos: int) -> int:
    _check(buf, pos, 4)
    return int.from_bytes(buf[pos:pos + 4], "little", signed=True)


def _u32(buf: bytes, pos: int) -> int:
    _check(buf, pos, 4)
    return int.from_bytes(buf[pos:pos + 4], "little")


def _i64(buf: bytes, pos: int) -> int:
    _check(buf, pos, 8)
    return int.from_bytes(buf[pos:pos + 8], "little", signed=True)
