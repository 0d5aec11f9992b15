"""Messages on the ``partials`` topic: per-partition profile deltas and window-closed markers.

Binary envelope (big-endian)::

    magic b"SDPM" | format version u8 | kind u8 (1 delta, 2 closed) | header length u32 | header (JSON)
    | payload length u32 | payload | CRC-32 of everything before it, u32

The header holds the scalar fields; a delta's payload is the :class:`DatasetProfile` bytes followed by its
extras (their names and lengths are in the header). Garbled, truncated or foreign bytes raise
:class:`CorruptBlobError`; another format version raises :class:`VersionMismatchError`.

Optional header fields, written only when set (a message without them is encoded byte for byte as by earlier
builds, and messages of earlier builds decode as before; the format version stays 1):

* ``"part": [index, count]`` on a delta: one of ``count`` parts of a delta too large for one Kafka message, split
  by features (:mod:`streamdrift.window.parts`); every part has the delta's id, the merge puts them back together;
* ``"models_cut": true`` on a window-closed marker: its ``models`` list was cut to bound the marker's size (see
  :data:`MARKER_MAX_MODELS`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import orjson

from streamdrift.errors import CorruptBlobError, VersionMismatchError
from streamdrift.monitors.base import DATA, LABELS, Stage
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.windows import WindowDelta

__all__ = ["DATA", "FORMAT_VERSION", "LABELS", "MAGIC", "MARKER_MAX_MODELS", "MARKER_MODELS_BYTES", "PartialDelta",
           "PartialMessage", "Stage", "WindowClosed", "decode_partial", "encode_partial", "marker_models",
           "partial_from_window"]


MAGIC: Final[bytes] = b"SDPM"
FORMAT_VERSION: Final[int] = 1
_KIND_DELTA: Final[int] = 1
_KIND_CLOSED: Final[int] = 2
_PREFIX: Final[struct.Struct] = struct.Struct(">4sBB")
_U32: Final[struct.Struct] = struct.Struct(">I")
#: A window-closed marker lists at most this many models, of at most this many bytes (JSON) in all; nothing reads
#: the list (the merger closes windows by partition), it is there for people reading the topic.
MARKER_MAX_MODELS: Final[int] = 1000
MARKER_MODELS_BYTES: Final[int] = 64 << 10


def _empty_extras() -> Mapping[str, bytes]:
    return MappingProxyType({})


@dataclass(frozen=True)
class PartialDelta:
    """What one capture partition added to one (model, window) up to ``end_offset`` (exclusive)."""

    model_id: str
    model_version: str | None
    window_start_ms: int
    window_end_ms: int
    source_topic: str
    partition: int
    end_offset: int
    n_records: int
    profile: DatasetProfile
    extras: Mapping[str, bytes] = field(default_factory=_empty_extras)  # model quality / bias / attribution
    stage: Stage = DATA
    part: tuple[int, int] | None = None  # (index, count) of a delta split by features; None: the whole delta

    @property
    def delta_id(self) -> tuple[str, int, int]:
        """(source topic, partition, end offset): unique within one (model, window)."""
        return (self.source_topic, self.partition, self.end_offset)

    @property
    def global_id(self) -> tuple[str, int, int, str, int]:
        """:attr:`delta_id` plus model and window start: unique across the topic."""
        return (*self.delta_id, self.model_id, self.window_start_ms)


@dataclass(frozen=True)
class WindowClosed:
    """The watermark of ``partition`` passed the window's end: no more deltas for it from that partition."""

    source_topic: str
    partition: int
    window_start_ms: int
    window_end_ms: int
    watermark_ms: int
    models: tuple[str, ...] = ()  # models with records of this partition in the window (see marker_models)
    stage: Stage = DATA
    models_cut: bool = False  # the partition had more models in the window than ``models`` lists


def marker_models(models: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """The models a marker lists (at most :data:`MARKER_MAX_MODELS`, :data:`MARKER_MODELS_BYTES` of JSON) and
    whether that cut the list: a marker's size does not grow with what producers send."""
    kept: list[str] = []
    size = 2
    for model in models[:MARKER_MAX_MODELS]:
        size += len(orjson.dumps(model)) + 1
        if size > MARKER_MODELS_BYTES:
            break
        kept.append(model)
    return tuple(kept), len(kept) < len(models)


PartialMessage = PartialDelta | WindowClosed


def encode_partial(msg: PartialMessage) -> bytes:
    if isinstance(msg, PartialDelta):
        extras = dict(msg.extras)
        header: dict[str, Any] = {
            "model_id": msg.model_id, "model_version": msg.model_version,
            "window_start_ms": msg.window_start_ms, "window_end_ms": msg.window_end_ms,
            "source_topic": msg.source_topic, "partition": msg.partition, "end_offset": msg.end_offset,
            "n_records": msg.n_records, "stage": msg.stage,
        }  # fmt: skip
        profile = msg.profile.to_bytes(nested=True)  # the message's CRC covers it: no second checksum pass
        header["profile_len"] = len(profile)
        header["profile_nested"] = True
        header["extras"] = [[name, len(blob)] for name, blob in extras.items()]
        if msg.part is not None:
            header["part"] = list(msg.part)
        return _envelope(_KIND_DELTA, header, b"".join([profile, *extras.values()]))
    header = {
        "source_topic": msg.source_topic, "partition": msg.partition, "window_start_ms": msg.window_start_ms,
        "window_end_ms": msg.window_end_ms, "watermark_ms": msg.watermark_ms, "models": list(msg.models),
        "stage": msg.stage,
    }  # fmt: skip
    if msg.models_cut:
        header["models_cut"] = True
    return _envelope(_KIND_CLOSED, header, b"")


def _envelope(kind: int, header: Mapping[str, Any], payload: bytes) -> bytes:
    head = orjson.dumps(header)
    body = b"".join(
        [_PREFIX.pack(MAGIC, FORMAT_VERSION, kind), _U32.pack(len(head)), head, _U32.pack(len(payload)), payload]
    )
    return body + _U32.pack(zlib.crc32(body))


def decode_partial(blob: bytes) -> PartialMessage:
    """The message in ``blob`` (CorruptBlobError / VersionMismatchError / profile deserialization errors)."""
    kind, header, payload = _open_envelope(bytes(blob))
    try:
        if kind == _KIND_CLOSED:
            return _closed(header)
        return _delta(header, payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptBlobError(f"partials message has a malformed header: {exc!r}") from None


def _open_envelope(blob: bytes) -> tuple[int, dict[str, Any], bytes]:
    if len(blob) < _PREFIX.size + 3 * _U32.size:
        raise CorruptBlobError(f"partials message too short ({len(blob)} bytes)")
    magic, version, kind = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise CorruptBlobError("not a streamdrift partials message (bad magic)")
    if version != FORMAT_VERSION:
        raise VersionMismatchError(f"partials format version {version}; this build reads {FORMAT_VERSION}")
    (crc,) = _U32.unpack_from(blob, len(blob) - _U32.size)
    if zlib.crc32(blob[: -_U32.size]) != crc:
        raise CorruptBlobError("partials message checksum mismatch (truncated or garbled)")
    if kind not in (_KIND_DELTA, _KIND_CLOSED):
        raise CorruptBlobError(f"unknown partials message kind {kind}")
    pos = _PREFIX.size
    (head_len,) = _U32.unpack_from(blob, pos)
    head = blob[pos + _U32.size : pos + _U32.size + head_len]
    pos += _U32.size + head_len
    if pos + _U32.size > len(blob) - _U32.size:
        raise CorruptBlobError("partials message header length out of range")
    (payload_len,) = _U32.unpack_from(blob, pos)
    payload = blob[pos + _U32.size : pos + _U32.size + payload_len]
    if pos + _U32.size + payload_len != len(blob) - _U32.size:
        raise CorruptBlobError("partials message payload length mismatch")
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"partials message header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise CorruptBlobError("partials message header is not an object")
    return kind, header, payload


def _int(header: Mapping[str, Any], key: str) -> int:
    value = header[key]
    if type(value) is not int:
        raise TypeError(f"{key} must be an integer")
    return value


def _str(header: Mapping[str, Any], key: str) -> str:
    value = header[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _stage(header: Mapping[str, Any]) -> Stage:
    """The stage of a message (absent in messages of earlier builds: ``data``)."""
    value = header.get("stage", DATA)
    if value == DATA:
        return DATA
    if value == LABELS:
        return LABELS
    raise ValueError(f"unknown stage {value!r}")


def _closed(header: Mapping[str, Any]) -> WindowClosed:
    models = header["models"]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise TypeError("models must be a list of strings")
    return WindowClosed(
        source_topic=_str(header, "source_topic"),
        partition=_int(header, "partition"),
        window_start_ms=_int(header, "window_start_ms"),
        window_end_ms=_int(header, "window_end_ms"),
        watermark_ms=_int(header, "watermark_ms"),
        models=tuple(models),
        stage=_stage(header),
        models_cut=_flag(header, "models_cut"),
    )


def _flag(header: Mapping[str, Any], key: str) -> bool:
    value = header.get(key, False)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be a boolean")
    return value


def _part(header: Mapping[str, Any]) -> tuple[int, int] | None:
    """The part header of a split delta (absent: the whole delta)."""
    value = header.get("part")
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        raise TypeError("part must be [index, count]")
    index, count = value
    if not 0 <= index < count:
        raise ValueError(f"part index {index} out of range for {count} parts")
    return index, count


def _delta(header: Mapping[str, Any], payload: bytes) -> PartialDelta:
    profile_len = _int(header, "profile_len")
    extras_spec = header["extras"]
    if not isinstance(extras_spec, list):
        raise TypeError("extras must be a list")
    extras: dict[str, bytes] = {}
    pos = profile_len
    for name, length in extras_spec:
        if not isinstance(name, str) or type(length) is not int or length < 0:
            raise TypeError("extras entries must be [name, length]")
        extras[name] = payload[pos : pos + length]
        pos += length
    if profile_len < 0 or pos != len(payload):
        raise ValueError("payload lengths do not add up")
    version = header["model_version"]
    if version is not None and not isinstance(version, str):
        raise TypeError("model_version must be a string or null")
    return PartialDelta(
        model_id=_str(header, "model_id"),
        model_version=version,
        window_start_ms=_int(header, "window_start_ms"),
        window_end_ms=_int(header, "window_end_ms"),
        source_topic=_str(header, "source_topic"),
        partition=_int(header, "partition"),
        end_offset=_int(header, "end_offset"),
        n_records=_int(header, "n_records"),
        profile=DatasetProfile.from_bytes(payload[:profile_len], nested=header.get("profile_nested") is True),
        extras=MappingProxyType(extras),
        stage=_stage(header),
        part=_part(header),
    )


def partial_from_window(
    delta: WindowDelta, *, source_topic: str, partition: int, end_offset: int,
    extras: Mapping[str, bytes] | None = None,
) -> PartialDelta:
    """The ``partials`` message for a drained :class:`~streamdrift.window.windows.WindowDelta`."""
    return PartialDelta(
        model_id=delta.model_id, model_version=delta.model_version, window_start_ms=delta.window_start_ms,
        window_end_ms=delta.window_end_ms, source_topic=source_topic, partition=partition, end_offset=end_offset,
        n_records=delta.n_records, profile=delta.profile,
        extras=MappingProxyType(dict(extras)) if extras else _empty_extras(),
    )  # fmt: skip
