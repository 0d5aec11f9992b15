"""A JSON Lines file read through a source's mapping (``baseline build --config worker.yaml --source NAME``):
training data logged in the shape the model server logs its inferences needs no conversion.

Each line is one message value (or, ``envelope``, a ``{"value", "key", "headers", "timestamp"}`` object, see
:func:`~streamdrift.ingest.sources.inspect.read_sample`); paired presets pair requests and responses across the
whole file. Rows of one model become :class:`~streamdrift.columns.chunks.Chunk` s (features, prediction and
score as role values, event times, inference ids); lines that do not match the mapping are bad lines with the
dead letter's reason and detail (the path that failed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from streamdrift.columns.chunks import BadLine, BadLineCallback, CaptureBatch, Chunk, role_values
from streamdrift.errors import InputFileError
from streamdrift.ingest.sources.engine import MappedParser
from streamdrift.ingest.sources.inspect import read_sample
from streamdrift.ingest.sources.pairing import PairStore

__all__ = ["mapped_chunks"]


def mapped_chunks(path: Path, parser: MappedParser, model_id: str, *, chunk_rows: int = 100_000,
                  envelope: bool = False, on_bad_line: BadLineCallback | None = None) -> Iterator[Chunk]:
    """The rows of ``model_id`` in ``path`` (other models' rows are left out), ``chunk_rows`` lines at a time."""
    pairs = parser.new_pairs()
    now_ms = int(time.time() * 1000)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"cannot read: {exc}", path=path) from exc
    with handle:
        lines: list[bytes] = []
        numbers: list[int] = []
        for number, line in enumerate(handle, start=1):
            if line.strip():
                lines.append(line)
                numbers.append(number)
            if len(lines) >= chunk_rows:
                yield from _chunks(parser, pairs, lines, numbers, model_id, envelope, now_ms, handle.tell(),
                                   on_bad_line)
                lines, numbers = [], []
        if lines:
            yield from _chunks(parser, pairs, lines, numbers, model_id, envelope, now_ms, handle.tell(), on_bad_line)


def _chunks(parser: MappedParser, pairs: PairStore | None, lines: list[bytes], numbers: list[int], model_id: str,
            envelope: bool, now_ms: int, position: int, on_bad_line: BadLineCallback | None) -> Iterator[Chunk]:
    try:
        messages = read_sample(lines, envelope=envelope, start_ms=now_ms)
    except InputFileError as exc:  # its line counts the non-blank lines of this chunk
        line = numbers[exc.line - 1] if exc.line else None
        raise InputFileError(str(exc).split(": ", 1)[-1], line=line) from None
    batches, dead = parser.parse(messages, pairs)
    if on_bad_line is not None:
        for d in dead:
            on_bad_line(BadLine(numbers[d.index], d.reason, d.detail))
    line_numbers = np.asarray(numbers, dtype=np.int64)
    for batch in batches:
        if batch.model_id == model_id:
            yield _chunk(batch, line_numbers, position)


def _chunk(batch: CaptureBatch, line_numbers: np.ndarray, position: int) -> Chunk:
    return Chunk(columns=batch.features, timestamps=batch.timestamps_ms, ids=batch.inference_ids,
                 line_numbers=line_numbers[batch.source_index], bytes_read=position,
                 predictions=None if batch.prediction is None else role_values(batch.prediction),
                 scores=batch.score)
