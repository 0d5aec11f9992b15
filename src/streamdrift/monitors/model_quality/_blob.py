"""Model-quality state blobs: the shared envelope of :mod:`streamdrift.profile.sketches` around a zlib-compressed
payload (the binary state's score histograms are mostly zeros).

The envelope checks magic, version, length and CRC-32 (of the compressed payload); this module adds the kind
check, the parameter slots and decompression. A payload that does not decompress is a :class:`CorruptBlobError`.
"""

from __future__ import annotations

import zlib
from typing import Final

from streamdrift.errors import CorruptBlobError, ParameterMismatchError
from streamdrift.profile.sketches import BlobKind, Params, pack_envelope, read_envelope, unpack_envelope

#: The model-quality state kinds, in the order of the problem types.
QUALITY_KINDS: Final[tuple[BlobKind, ...]] = (
    BlobKind.MODEL_QUALITY_BINARY,
    BlobKind.MODEL_QUALITY_MULTICLASS,
    BlobKind.MODEL_QUALITY_REGRESSION,
)
NO_PARAMS: Final[Params] = (0, 0, 0)


def pack(kind: BlobKind, payload: bytes, params: Params = NO_PARAMS) -> bytes:
    return pack_envelope(kind, params, zlib.compress(payload, 1))


def peek_kind(blob: bytes) -> BlobKind:
    """The kind recorded in a blob's envelope (after checking magic, version, length and checksum)."""
    kind = read_envelope(blob).kind
    if kind not in QUALITY_KINDS:
        raise ParameterMismatchError(f"blob holds a state of kind {kind}, not a model-quality state")
    return BlobKind(kind)


def unpack(blob: bytes, expected: BlobKind, n_params: int = 0) -> tuple[Params, bytes]:
    """The envelope's parameter slots and the decompressed payload of a blob of kind ``expected``."""
    env = unpack_envelope(blob, expected, n_params=n_params)
    try:
        return env.params, zlib.decompress(env.payload)
    except zlib.error as exc:
        raise CorruptBlobError(f"model-quality blob payload does not decompress: {exc}") from exc
