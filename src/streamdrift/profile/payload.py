"""What the profile blobs share: their parameters, length-prefixed chunks, and a bounds-checked payload reader."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from streamdrift.errors import CorruptBlobError
from streamdrift.profile.distinct import DEFAULT_HLL_LG_K
from streamdrift.profile.envelope import BlobKind, envelope_parts
from streamdrift.profile.frequent import DEFAULT_LG_MAX_K
from streamdrift.profile.kll import DEFAULT_KLL_K

LEN: Final[struct.Struct] = struct.Struct("<I")
#: Largest count a profile blob may hold (exact as a float; a sum of a thousand such counts still fits in 64 bits).
MAX_COUNT: Final[int] = 1 << 53


@dataclass(frozen=True)
class ProfileParams:
    kll_k: int = DEFAULT_KLL_K
    frequent_lg_max_k: int = DEFAULT_LG_MAX_K
    hll_lg_k: int = DEFAULT_HLL_LG_K

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.kll_k, self.frequent_lg_max_k, self.hll_lg_k)


#: The default parameters (the default argument of the profiles' constructors).
DEFAULT_PARAMS: Final[ProfileParams] = ProfileParams()


def chunked(*chunks: list[bytes]) -> list[bytes]:
    """Length-prefixed chunks, each given in parts (joined once, by whoever writes the outermost blob)."""
    out: list[bytes] = []
    for parts in chunks:
        out.append(LEN.pack(sum(map(len, parts))))
        out += parts
    return out


def profile_blob(kind: BlobKind, params: tuple[int, int, int], payload: list[bytes], nested: bool) -> bytes:
    return b"".join(envelope_parts(kind, params, payload, nested=nested))


class PayloadReader:
    """Reads a payload front to back; any overrun or leftover raises CorruptBlobError."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data, self._pos, self._what = data, 0, what

    def unpack(self, fmt: struct.Struct) -> tuple[int | float, ...]:
        end = self._pos + fmt.size
        if end > len(self._data):
            raise CorruptBlobError(f"{self._what} payload ends early ({len(self._data)} bytes)")
        values: tuple[int | float, ...] = fmt.unpack_from(self._data, self._pos)
        self._pos = end
        return values

    def chunk(self) -> bytes:
        length = int(self.unpack(LEN)[0])
        end = self._pos + length
        if end > len(self._data):
            raise CorruptBlobError(f"{self._what} payload ends inside a nested blob")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise CorruptBlobError(f"{self._what} payload has {len(self._data) - self._pos} trailing bytes")


def check_counts(*counts: int) -> None:
    """Counts read from a blob are in [0, MAX_COUNT] (else CorruptBlobError)."""
    if any(c < 0 or c > MAX_COUNT for c in counts):
        raise CorruptBlobError(f"profile blob holds counts {counts} outside [0, 2^53]")

