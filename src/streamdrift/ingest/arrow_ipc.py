"""What an Arrow IPC stream declares, read from its message headers before pyarrow reads (and decompresses) it:
the size of its buffers once decompressed, the rows of its record batches and the largest length a record
batch, dictionary batch or field node declares.

An empty struct column of 2^40 rows costs a few bytes on the wire and a 12.8 KB zstd body can decompress to
400 MB, so a capture message is judged by these numbers first (:func:`streamdrift.ingest.arrow.decode_arrow_batch`):
pyarrow then never allocates more than the limits allow. The headers are read by the native module
(``native/src/arrowipc.rs``, a few microseconds a message; its docs describe what is read), every read
bounds-checked: a stream whose headers do not parse is a ``bad_batch``.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamdrift import _native
from streamdrift.errors import BadRecordError

__all__ = ["IpcExtent", "ipc_extent"]


@dataclass(frozen=True, slots=True)
class IpcExtent:
    decoded_bytes: int  # the stream's size with every compressed buffer at its decompressed length
    rows: int  # rows of its record batches, added up
    max_length: int  # the largest length a record batch, dictionary batch or field node declares


def ipc_extent(value: bytes) -> IpcExtent:
    """The extent of an Arrow IPC stream; BadRecordError (``bad_batch``) when its framing or headers do not
    parse."""
    raw = _native.arrow_extent(value)
    if raw is None:
        raise BadRecordError("bad_batch", "not a valid Arrow IPC stream: its message headers do not parse")
    return IpcExtent(*raw)
