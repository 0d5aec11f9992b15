"""Messages a hostile or careless producer sends (issue 19), shared by the parser tests and the hostile-producer
test on the real broker."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pyarrow as pa

from streamdrift.ingest.arrow import FORMAT, stream_bytes


def empty_struct_batch(declared: int, model: str = "m") -> bytes:
    """An Arrow batch of only an empty features struct declaring ``declared`` rows (pyarrow writes at most 2^31-1:
    the length is patched in the header, as a hostile producer would)."""
    written = 0x7FFFFFF1
    batch = pa.RecordBatch.from_arrays([pa.StructArray.from_buffers(pa.struct([]), written, [None])],
                                       names=["features"], metadata={"streamdrift.format": FORMAT, "model_id": model})
    blob = stream_bytes(batch)
    assert blob.count(written.to_bytes(8, "little")) == 2  # the batch's length and its field node's
    return blob.replace(written.to_bytes(8, "little"), declared.to_bytes(8, "little"))


def compressed_batch(n: int, codec: str, timestamp_ms: int, model: str = "m") -> bytes:
    """n rows of one repeated timestamp: compresses to a few KB whatever n."""
    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.full(n, timestamp_ms, dtype=np.int64)), pa.StructArray.from_buffers(pa.struct([]), n, [None])],
        names=["timestamp", "features"], metadata={"streamdrift.format": FORMAT, "model_id": model})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def empty_columnar(n: int, model: str = "m") -> bytes:
    """A JSON columnar batch of ``n`` declared rows and no feature (63 bytes for n = 50M)."""
    return json.dumps({"format": "columnar", "model_id": model, "n": n, "features": {}}).encode()


def record(model: str, timestamp_ms: int, features: dict[str, object], inference_id: str | None = None) -> bytes:
    return orjson.dumps({"model_id": model, "timestamp": timestamp_ms, "features": features,
                         "prediction": 1, "inference_id": inference_id})
