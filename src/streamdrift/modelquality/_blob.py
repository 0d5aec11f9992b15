"""Versioned, checksummed envelope of the model-quality state blobs.

Layout: ``b"SDMQ"`` magic, format version (u8), state kind (u8), payload length (u32), CRC-32 of the payload
(u32), then the zlib-compressed payload. A wrong magic / length / checksum raises :class:`CorruptBlobError`, an
unknown version :class:`VersionMismatchError`, a different kind :class:`ParameterMismatchError`.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from typing import Final

from streamdrift.errors import CorruptBlobError, ParameterMismatchError, VersionMismatchError

MAGIC: Final[bytes] = b"SDMQ"
FORMAT_VERSION: Final[int] = 1
_HEADER: Final[struct.Struct] = struct.Struct("<4sBBII")


class StateKind(IntEnum):
    BINARY = 1
    MULTICLASS = 2
    REGRESSION = 3


def pack(kind: StateKind, payload: bytes) -> bytes:
    body = zlib.compress(payload, 1)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, int(kind), len(body), zlib.crc32(body)) + body


def peek_kind(blob: bytes) -> StateKind:
    """The kind recorded in a blob's header (after checking magic, version and checksum)."""
    return _check(blob)[0]


def unpack(blob: bytes, expected: StateKind) -> bytes:
    kind, payload = _check(blob)
    if kind is not expected:
        raise ParameterMismatchError(f"model-quality blob holds a {kind.name} state, expected {expected.name}")
    return payload


def _check(blob: bytes) -> tuple[StateKind, bytes]:
    if len(blob) < _HEADER.size:
        raise CorruptBlobError(f"model-quality blob too short ({len(blob)} bytes)")
    magic, version, kind, length, crc = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise CorruptBlobError("not a streamdrift model-quality blob (bad magic)")
    if version != FORMAT_VERSION:
        raise VersionMismatchError(f"model-quality blob format {version}, this build reads {FORMAT_VERSION}")
    body = blob[_HEADER.size :]
    if len(body) != length or zlib.crc32(body) != crc:
        raise CorruptBlobError("model-quality blob truncated or garbled (length/checksum mismatch)")
    try:
        state_kind = StateKind(kind)
    except ValueError as exc:
        raise CorruptBlobError(f"unknown model-quality state kind {kind}") from exc
    try:
        return state_kind, zlib.decompress(body)
    except zlib.error as exc:
        raise CorruptBlobError(f"model-quality blob payload does not decompress: {exc}") from exc
