"""The shared blob envelope of every mergeable state, its kinds and format versions, and parameter checks.

Every blob shares one versioned envelope (see :func:`pack_envelope`)::

    magic b"SDST" | format version u16 | kind u8 | 3 pad bytes | params 3 x u32 | payload length u64 | CRC-32 u32

The pad bytes are 0, except byte 0 is 1 in a nested blob (below).

``from_bytes`` checks magic, length and CRC *before* handing bytes to datasketches (a garbled blob must never
crash the process) and raises :class:`CorruptBlobError`, :class:`VersionMismatchError` (another format
version) or :class:`ParameterMismatchError` (another kind or other parameters than expected).

The format version is per kind (the payload layout of that kind): every kind is at version 1 except those in
:data:`KIND_VERSIONS`, the profiles at version 2 (see :mod:`streamdrift.profile.profiles`: a numeric profile carries its
exact values not yet in the KLL sketch; the blobs a version-2 profile holds are *nested*: pad byte 0 is 1 and
their CRC field 0, since the CRC of the blob holding them covers their bytes -- one checksum pass per blob
instead of one per nesting level). A reader accepts every version up to its kind's current one; writers write
the current one. A nested blob is only read through the blob that holds it (``nested=True``); read on its own it
is a :class:`CorruptBlobError`.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np

from streamdrift.errors import CorruptBlobError, ParameterMismatchError, VersionMismatchError

MAGIC: Final[bytes] = b"SDST"
FORMAT_VERSION: Final[int] = 1
_HEADER: Final[struct.Struct] = struct.Struct("<4sHB3sIIIQI")
_PAD: Final[bytes] = b"\0\0\0"
_NESTED_PAD: Final[bytes] = b"\x01\0\0"  # a nested blob: no CRC of its own (see the module docstring)
HEADER_SIZE: Final[int] = _HEADER.size
_LENGTH_CRC: Final[struct.Struct] = struct.Struct("<QI")  # the header's last two fields

#: datasketches' ``deserialize`` raises these on garbage; we turn them into CorruptBlobError.
PARSE_ERRORS: Final = (RuntimeError, ValueError, IndexError, TypeError, MemoryError, OverflowError)

Params = tuple[int, int, int]


class BlobKind(IntEnum):
    """Kind tag of an envelope. Other modules may use values >= 32 for their own states."""

    KLL = 1
    FREQUENT_ITEMS = 2
    DISTINCT_COUNT = 3
    NUMERIC_PROFILE = 10
    CATEGORICAL_PROFILE = 11
    FEATURE_PROFILE = 12
    DATASET_PROFILE = 13
    MODEL_QUALITY_BINARY = 32
    MODEL_QUALITY_MULTICLASS = 33
    MODEL_QUALITY_REGRESSION = 34
    BIAS = 35
    ATTRIBUTION = 36
    ESTIMATED_PERFORMANCE = 37
    MULTIVARIATE = 38
    SEGMENTS = 39


#: Kinds whose payload layout is past version 1: kind -> current version (readers accept 1..current).
KIND_VERSIONS: Final[dict[int, int]] = {
    BlobKind.NUMERIC_PROFILE: 2,
    BlobKind.CATEGORICAL_PROFILE: 2,
    BlobKind.FEATURE_PROFILE: 2,
    BlobKind.DATASET_PROFILE: 2,
}


def current_version(kind: int) -> int:
    """The format version written for ``kind`` (the newest this build reads)."""
    return KIND_VERSIONS.get(int(kind), FORMAT_VERSION)


# --------------------------------------------------------------------------------------------- envelope


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded envelope: its kind, its three parameter slots (unused = 0), the payload and its version."""

    kind: int
    params: Params
    payload: bytes
    version: int = FORMAT_VERSION


def pack_envelope(
    kind: int, params: Params, payload: bytes, version: int | None = None, *, nested: bool = False
) -> bytes:
    """Wrap ``payload`` in the shared versioned, checksummed header (``version`` defaults to the kind's
    current one, see :data:`KIND_VERSIONS`; ``nested``: no CRC, for a blob inside another one)."""
    return b"".join(envelope_parts(kind, params, [payload], version, nested=nested))


def envelope_parts(
    kind: int, params: Params, parts: list[bytes], version: int | None = None, *, nested: bool = False
) -> list[bytes]:
    """The header followed by ``parts`` (the payload in pieces, joined once by whoever writes the outermost
    blob: nested blobs are not copied level by level)."""
    v = current_version(kind) if version is None else version
    if nested:
        return [_HEADER.pack(MAGIC, v, int(kind), _NESTED_PAD, *params, sum(map(len, parts)), 0), *parts]
    payload = parts[0] if len(parts) == 1 else b"".join(parts)  # one CRC call, not one per part
    return [_HEADER.pack(MAGIC, v, int(kind), _PAD, *params, len(payload), zlib.crc32(payload)), payload]


def nested_header(kind: int, params: Params, length: int) -> bytes:
    """The header of a nested blob (current version of ``kind``, no CRC) with a ``length``-byte payload."""
    return _nested_prefix(kind, params) + _LENGTH_CRC.pack(length, 0)


@functools.lru_cache(maxsize=256)
def _nested_prefix(kind: int, params: Params) -> bytes:
    """Everything of a nested blob's header before its payload length (the same for every blob of a kind)."""
    return _HEADER.pack(MAGIC, current_version(kind), int(kind), _NESTED_PAD, *params, 0, 0)[: -_LENGTH_CRC.size]


def read_envelope(blob: bytes, *, nested: bool = False) -> Envelope:
    """Check magic, version, length and CRC; return the envelope (kind and params not yet checked).

    ``nested``: the blob was taken from a blob whose CRC was checked (its own CRC, if any, is not checked again).
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CorruptBlobError(f"a streamdrift blob must be bytes, got {type(blob).__name__}")
    data = bytes(blob)
    if len(data) < HEADER_SIZE:
        raise CorruptBlobError(f"blob too short for a streamdrift header ({len(data)} < {HEADER_SIZE} bytes)")
    magic, version, kind, pad, p0, p1, p2, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC or pad not in (_PAD, _NESTED_PAD):
        raise CorruptBlobError(f"not a streamdrift blob (magic {magic!r}, expected {MAGIC!r})")
    newest = current_version(kind)
    if not 1 <= version <= newest:
        raise VersionMismatchError(
            f"{kind_name(kind)} blob has format version {version}; this build reads versions 1 to {newest}"
        )
    if pad == _NESTED_PAD and not nested:
        raise CorruptBlobError(f"{kind_name(kind)} blob is nested (no checksum of its own): read the blob holding it")
    payload = data[HEADER_SIZE:]
    if len(payload) != length:
        raise CorruptBlobError(f"blob payload is {len(payload)} bytes, header says {length} (truncated or padded)")
    if not nested and zlib.crc32(payload) != crc:
        raise CorruptBlobError("blob checksum mismatch (CRC-32 of the payload differs): the bytes are garbled")
    return Envelope(kind, (p0, p1, p2), payload, version)


def unpack_envelope(
    blob: bytes, kind: int, expected: Params | None = None, n_params: int = 3, *, nested: bool = False
) -> Envelope:
    """:func:`read_envelope` plus kind and (optionally) parameter checks.

    Parameter slots beyond the first ``n_params`` must be zero (else CorruptBlobError).
    """
    env = read_envelope(blob, nested=nested)
    if env.kind != int(kind):
        raise ParameterMismatchError(f"blob holds kind {kind_name(env.kind)}, expected {kind_name(kind)}")
    if any(env.params[n_params:]):
        raise CorruptBlobError(f"{kind_name(kind)} blob has non-zero unused parameter slots {env.params}")
    if expected is not None and env.params != expected:
        raise ParameterMismatchError(
            f"{kind_name(kind)} blob has parameters {env.params}, expected {expected}"
        )
    return env


def kind_name(kind: int) -> str:
    try:
        return BlobKind(kind).name
    except ValueError:
        return f"kind#{kind}"


def expect_param(value: int | None, slot: int = 0) -> Params | None:
    if value is None:
        return None
    params = [0, 0, 0]
    params[slot] = value
    return (params[0], params[1], params[2])


def _check_param(name: str, value: int, low: int, high: int) -> int:
    if type(value) is int and low <= value <= high:  # the common case, cheaply
        return value
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= int(value) <= high:
        raise ParameterMismatchError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def check_kll_k(k: int) -> int:
    """``k`` when it is a valid KLL k (8..65535), else ParameterMismatchError (without allocating a sketch)."""
    return _check_param("KLL k", k, 8, 65535)


def check_lg_max_k(lg_max_k: int) -> int:
    """``lg_max_k`` when valid for frequent items (3..26), else ParameterMismatchError."""
    return _check_param("frequent items lg_max_k", lg_max_k, 3, 26)


def check_hll_lg_k(lg_k: int) -> int:
    """``lg_k`` when valid for HLL (4..21), else ParameterMismatchError."""
    return _check_param("HLL lg_k", lg_k, 4, 21)

