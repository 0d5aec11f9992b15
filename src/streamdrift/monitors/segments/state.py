"""The mergeable window state of segments: one data-quality profile per segment value, at most ``max_values`` of
them; rows of further values go to the pooled :data:`~streamdrift.monitors.segments.spec.OTHER` profile and are
counted (``pooled_rows``), so a window's state stays bounded whatever the traffic sends.

Blob: the shared envelope (kind SEGMENTS; parameter slot: ``max_values``) around a JSON header (each segment's
name and blob length, the pooled rows) and the nested profile blobs. Merging unites the segments; when the union
is over the cap, the segments with the fewest rows (ties: the larger name) are pooled, so the result does not
depend on the order of the merges.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Self

import orjson

from streamdrift.errors import CorruptBlobError, MergeError, SerializationError
from streamdrift.monitors.segments.spec import DEFAULT_MAX_VALUES, OTHER
from streamdrift.profile.dataset import DatasetProfile
from streamdrift.profile.sketches import BlobKind, pack_envelope, unpack_envelope

_LEN: Final[struct.Struct] = struct.Struct("<I")


@dataclass(slots=True)
class SegmentStates:
    """The profiles of one window's segments."""

    max_values: int = DEFAULT_MAX_VALUES
    profiles: dict[str, DatasetProfile] = field(default_factory=dict)
    pooled_rows: int = 0  # rows of segment values beyond the cap (profiled in OTHER)

    @property
    def named(self) -> list[str]:
        return sorted(name for name in self.profiles if name != OTHER)

    def profile_for(self, name: str, empty: Callable[[], DatasetProfile]) -> DatasetProfile:
        """The profile of segment ``name`` (a new ``empty()`` one when it is the first; OTHER's when the cap
        is reached)."""
        profile = self.profiles.get(name)
        if profile is not None:
            return profile
        if name != OTHER and len(self.profiles) - (OTHER in self.profiles) >= self.max_values:
            name = OTHER
            profile = self.profiles.get(OTHER)
            if profile is not None:
                return profile
        profile = self.profiles[name] = empty()
        return profile

    def merge(self, other: SegmentStates) -> Self:
        if not isinstance(other, SegmentStates):
            raise MergeError(f"cannot merge {type(other).__name__} into SegmentStates")
        if other.max_values != self.max_values:
            raise MergeError(f"segment states of caps {self.max_values} and {other.max_values} do not merge")
        for name, profile in other.profiles.items():
            mine = self.profiles.get(name)
            if mine is None:
                self.profiles[name] = profile.copy()
            else:
                mine.merge(profile)
        self.pooled_rows += other.pooled_rows
        self._cap()
        return self

    def _cap(self) -> None:
        named = self.named
        if len(named) <= self.max_values:
            return
        ranked = sorted(named, key=lambda n: (-self.profiles[n].n_records, n))
        for name in ranked[self.max_values:]:
            profile = self.profiles.pop(name)
            self.pooled_rows += profile.n_records
            other = self.profiles.get(OTHER)
            if other is None:
                self.profiles[OTHER] = profile
            else:
                other.merge(profile)

    def to_bytes(self) -> bytes:
        blobs = [(name, self.profiles[name].to_bytes(nested=True)) for name in sorted(self.profiles)]
        header = orjson.dumps({"segments": [[name, len(blob)] for name, blob in blobs],
                               "pooled_rows": self.pooled_rows})
        payload = b"".join([_LEN.pack(len(header)), header, *(blob for _, blob in blobs)])
        return pack_envelope(BlobKind.SEGMENTS, (self.max_values, 0, 0), payload)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Self:
        env = unpack_envelope(blob, BlobKind.SEGMENTS, None, n_params=1)
        payload = env.payload
        try:
            (head_len,) = _LEN.unpack_from(payload)
            header = orjson.loads(payload[_LEN.size:_LEN.size + head_len])
            pos = _LEN.size + head_len
            state = cls(int(env.params[0]), {}, int(header["pooled_rows"]))
            for name, length in header["segments"]:
                if not isinstance(name, str) or not isinstance(length, int) or length < 0:
                    raise CorruptBlobError(f"segments blob: bad entry {[name, length]!r}")
                state.profiles[name] = DatasetProfile.from_bytes(payload[pos:pos + length], nested=True)
                pos += length
        except (struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CorruptBlobError(f"segments blob: {exc!r}") from None
        except SerializationError as exc:
            raise CorruptBlobError(f"segments blob: {exc}") from exc
        if pos != len(payload):
            raise CorruptBlobError("segments blob: lengths do not add up")
        return state
