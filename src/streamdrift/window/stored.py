"""Messages of the profiles topic (``history.topic``, default ``streamdrift.profiles``): one merged window stage
as the control plane released it, kept for history, roll-ups, baselines from production and re-evaluation
(docs/history.md).

Key ``<model id>|<window start ms>`` (ASCII digits after the last ``|``, so a model id may hold ``|``); value::

    magic b"SDWH" | format version u8 | header length u32 | header (JSON) | payload | CRC-32 of all before, u32

The header holds the window's scalar fields (model, version, bounds, stage, records, partial, the partitions
that closed it, the baseline it was judged with live) and the lengths of the payload's parts: the
:class:`~streamdrift.profile.profiles.DatasetProfile` bytes, then each monitor state (``extras``, by name). A
window's data stage (profile, bias, attribution) and its labels stage (model quality, released up to
``labels.delay`` later) are two messages with the same key and their ``stage`` in the header. All of a model's
messages go to one partition (:func:`profiles_partition`), in the order the control plane judged them.

A roll-up window the worker judged (``window.rollups``) is stored the same way under the key
``<model id>|rollup=<seconds>s|<window start ms>`` (:func:`stored_key` with ``window_seconds``), with
``window_seconds`` in its header: a reader of the model's base windows sees another model id in the key and skips
it before decoding (readers of builds before roll-ups too), a reader of its roll-ups asks for
:func:`rollup_model`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from streamdrift.errors import CorruptBlobError, VersionMismatchError
from streamdrift.monitors.base import DATA, LABELS, Stage
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.merger import ReadyWindow

__all__ = ["FORMAT_VERSION", "MAGIC", "StoredWindow", "decode_stored", "encode_stored", "profiles_partition",
           "rollup_model", "stored_key", "window_of_key"]

MAGIC: Final[bytes] = b"SDWH"
FORMAT_VERSION: Final[int] = 1
_PREFIX: Final[struct.Struct] = struct.Struct(">4sBI")
_U32: Final[struct.Struct] = struct.Struct(">I")


@dataclass(frozen=True)
class StoredWindow:
    """One window stage read back from the profiles topic (``offset``: where it was read, -1 when not read)."""

    window: ReadyWindow
    baseline_id: str | None  # the baseline the control plane judged it with (None: the model had none)
    offset: int = -1
    window_seconds: int | None = None  # a roll-up window of that size (window.rollups); None: a base window

    @property
    def key(self) -> tuple[str, int, Stage]:
        """(model, window start, stage): one message per key, unless a crash replayed its window."""
        return (self.window.model_id, self.window.window_start_ms, self.window.stage)


def rollup_model(model_id: str, window_seconds: int) -> str:
    """The model id in the keys of ``model_id``'s roll-up windows of ``window_seconds``."""
    return f"{model_id}|rollup={window_seconds}s"


def stored_key(model_id: str, window_start_ms: int, window_seconds: int | None = None) -> bytes:
    model = model_id if window_seconds is None else rollup_model(model_id, window_seconds)
    return f"{model}|{window_start_ms}".encode()


def window_of_key(key: bytes) -> tuple[str, int]:
    """(model id, window start) of a message key; CorruptBlobError for a foreign key."""
    text = key.decode("utf-8", errors="replace")
    model, sep, start = text.rpartition("|")
    if not sep or not start.isdigit():
        raise CorruptBlobError(f"not a profiles-topic key: {text[:80]!r}")
    return model, int(start)


def profiles_partition(model_id: str, n_partitions: int) -> int:
    """The profiles-topic partition of every window of ``model_id`` (the writer and the readers agree on it; a
    reader of one model reads one partition)."""
    return zlib.crc32(model_id.encode()) % n_partitions


def encode_stored(window: ReadyWindow, baseline_id: str | None, *, window_seconds: int | None = None) -> bytes:
    profile = window.profile.to_bytes(nested=True)  # the message's CRC covers it
    extras = [(name, blob) for name, blobs in window.extras.items() for blob in blobs]
    header = orjson.dumps({
        "model_id": window.model_id, "model_version": window.model_version,
        "window_start_ms": window.window_start_ms, "window_end_ms": window.window_end_ms, "stage": window.stage,
        "n_records": window.n_records, "partial": window.partial,
        "partitions_closed": sorted(window.partitions_closed), "first_seen_ms": window.first_seen_ms,
        "incomplete_deltas": window.incomplete_deltas, "baseline_id": baseline_id,
        "profile_len": len(profile), "extras": [[name, len(blob)] for name, blob in extras],
        **({} if window_seconds is None else {"window_seconds": window_seconds}),
    })  # fmt: skip
    body = b"".join([_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)), header, profile, *(b for _, b in extras)])
    return body + _U32.pack(zlib.crc32(body))


def decode_stored(blob: bytes, offset: int = -1) -> StoredWindow:
    """The window of a profiles-topic value (CorruptBlobError / VersionMismatchError / profile errors)."""
    blob = bytes(blob)
    if len(blob) < _PREFIX.size + _U32.size:
        raise CorruptBlobError(f"profiles message too short ({len(blob)} bytes)")
    magic, version, head_len = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise CorruptBlobError("not a streamdrift profiles message (bad magic)")
    if version != FORMAT_VERSION:
        raise VersionMismatchError(f"profiles message format version {version}; this build reads {FORMAT_VERSION}")
    (crc,) = _U32.unpack_from(blob, len(blob) - _U32.size)
    if zlib.crc32(memoryview(blob)[: -_U32.size]) != crc:
        raise CorruptBlobError("profiles message checksum mismatch (truncated or garbled)")
    end = _PREFIX.size + head_len
    if end > len(blob) - _U32.size:
        raise CorruptBlobError("profiles message header length out of range")
    try:
        header = orjson.loads(blob[_PREFIX.size : end])
        return _window(header, blob[end : len(blob) - _U32.size], offset)
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"profiles message header is not JSON: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptBlobError(f"profiles message has a malformed header: {exc!r}") from None


def _int(header: Mapping[str, Any], key: str) -> int:
    value = header[key]
    if type(value) is not int:
        raise TypeError(f"{key} must be an integer")
    return value


def _optional_str(header: Mapping[str, Any], key: str) -> str | None:
    value = header.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string or null")
    return value


def _window(header: Any, payload: bytes, offset: int) -> StoredWindow:
    if not isinstance(header, dict):
        raise TypeError("header is not an object")
    stage: Stage = DATA if header["stage"] == DATA else LABELS if header["stage"] == LABELS else _bad_stage(header)
    profile_len = _int(header, "profile_len")
    extras: dict[str, list[bytes]] = {}
    pos = profile_len
    for name, length in header["extras"]:
        if not isinstance(name, str) or type(length) is not int or length < 0:
            raise TypeError("extras entries must be [name, length]")
        extras.setdefault(name, []).append(payload[pos : pos + length])
        pos += length
    if profile_len < 0 or pos != len(payload):
        raise ValueError("payload lengths do not add up")
    closed = header["partitions_closed"]
    if not isinstance(closed, list) or not all(type(p) is int for p in closed):
        raise TypeError("partitions_closed must be a list of integers")
    partial = header["partial"]
    if not isinstance(partial, bool):
        raise TypeError("partial must be a boolean")
    model_id = header["model_id"]
    if not isinstance(model_id, str):
        raise TypeError("model_id must be a string")
    window = ReadyWindow(
        model_id=model_id, model_version=_optional_str(header, "model_version"),
        window_start_ms=_int(header, "window_start_ms"), window_end_ms=_int(header, "window_end_ms"),
        profile=DatasetProfile.from_bytes(payload[:profile_len], nested=True), n_records=_int(header, "n_records"),
        partial=partial, partitions_closed=frozenset(closed), first_seen_ms=_int(header, "first_seen_ms"),
        extras=extras, stage=stage, incomplete_deltas=_int(header, "incomplete_deltas"),
    )  # fmt: skip
    seconds = header.get("window_seconds")
    if seconds is not None and (type(seconds) is not int or seconds <= 0):
        raise TypeError("window_seconds must be a positive integer")
    return StoredWindow(window, _optional_str(header, "baseline_id"), offset, seconds)


def _bad_stage(header: Mapping[str, Any]) -> Stage:
    raise ValueError(f"unknown stage {header['stage']!r}")
