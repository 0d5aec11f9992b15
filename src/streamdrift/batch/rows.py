"""The rows of a ``check`` input as the stream's batches: each chunk becomes one capture batch of the model
(and a label batch of the rows' own targets), a label file becomes label batches.

Event time is the rows' timestamp for time windows and the row number for windows of N records, so the one
windowing of :mod:`streamdrift.window` serves both. Rows need an inference id to be joined with a label:
the ``--id-column`` values, else (for the rows' own targets) one made from the line number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import (
    MISSING_TIMESTAMP,
    BadLine,
    BadLineCallback,
    CaptureBatch,
    Chunk,
    LabelBatch,
    RoleColumns,
    role_column,
    role_floats,
    role_present,
    role_values,
)
from streamdrift.columns.columns import take
from streamdrift.errors import InputFileError
from streamdrift.ingest.files import DEFAULT_MAX_LINE_BYTES, iter_chunks

LABEL_ID_COLUMN: Final[str] = "inference_id"
LABEL_COLUMN: Final[str] = "label"


@dataclass
class LabelCounts:
    labels: int = 0  # label rows read from --labels (with an id)
    duplicate_labels: int = 0
    labels_without_id: int = 0
    records: int = 0  # input rows seen
    matched: int = 0  # input rows joined with a --labels label
    embedded: int = 0  # input rows labelled by their own target column
    unmatched_labels: int = 0  # labels no input row claimed

    @property
    def records_without_label(self) -> int:
        return max(0, self.records - self.matched - self.embedded)

    def to_dict(self) -> dict[str, int]:
        return {"labels": self.labels, "duplicate_labels": self.duplicate_labels,
                "labels_without_id": self.labels_without_id, "records": self.records, "matched": self.matched,
                "embedded": self.embedded, "unmatched_labels": self.unmatched_labels,
                "records_without_label": self.records_without_label}


def label_roles(target: str | None) -> RoleColumns:
    """The role columns of a label table: the baseline's target, else ``label``."""
    return RoleColumns(target=target or LABEL_COLUMN)


def read_label_file(path: str | Path, model_id: str, *, id_column: str | None, target: str | None,
                    fmt: str | None, counts: LabelCounts, chunk_rows: int = 100_000,
                    on_bad_line: BadLineCallback | None = None, encoding: str | None = None,
                    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[LabelBatch]:
    """Our label records (JSON Lines: inference_id, label) or a CSV / Parquet / JSON Lines table with
    ``id_column`` (default ``inference_id``) and ``target`` (default ``label``), as label batches."""
    chunks = iter_chunks(path, fmt=fmt, chunk_rows=chunk_rows, id_column=id_column or LABEL_ID_COLUMN,
                         roles=label_roles(target), on_bad_line=on_bad_line, encoding=encoding,
                         max_line_bytes=max_line_bytes)
    return label_batches(chunks, model_id, id_column=id_column, target=target, counts=counts, where=str(path))


def label_batches(chunks: Iterable[Chunk], model_id: str, *, id_column: str | None, target: str | None,
                  counts: LabelCounts, where: str) -> Iterator[LabelBatch]:
    """Label batches of label chunks read with ``id_column`` (default ``inference_id``) and
    :func:`label_roles`; ``where`` names the source in the error raised when no chunk has labels with ids."""
    id_name = id_column or LABEL_ID_COLUMN
    names = [n for n in (target, LABEL_COLUMN) if n is not None]
    found = False
    for chunk in chunks:
        labels = chunk.targets
        if labels is None and LABEL_COLUMN in chunk.columns.columns:
            labels = role_values(chunk.columns.columns[LABEL_COLUMN])
        if labels is None or chunk.ids is None:
            continue
        found = True
        has_id = np.asarray(chunk.ids != None, dtype=bool)  # noqa: E711 - element-wise None test
        counts.labels_without_id += int((~has_id).sum())
        counts.labels += int(has_id.sum())
        if has_id.any():
            n = int(has_id.sum())
            yield LabelBatch(np.full(n, model_id, dtype=object), chunk.ids[has_id], np.zeros(n, dtype=np.int64),
                             role_column(labels[has_id]))
    if not found:
        raise InputFileError(f"{where}: no label column ({' or '.join(repr(n) for n in names)}) with ids "
                             f"({id_name!r}) found; pass --id-column / set the baseline's target")


@dataclass(frozen=True)
class ChunkRows:
    """A chunk as the stream sees it: the capture batch (rows with an event time) and its own labels."""

    capture: CaptureBatch
    labels: LabelBatch | None
    line_numbers: NDArray[np.int64]  # of the batch's rows
    timestamps: NDArray[np.int64] | None  # real event times of the batch's rows (MISSING_TIMESTAMP where none)


class ChunkAdapter:
    """Turns a check input's chunks into :class:`ChunkRows` of one model."""

    def __init__(self, model_id: str, *, by_records: bool, counts: LabelCounts,
                 on_bad_line: BadLineCallback) -> None:
        self.model_id = model_id
        self.by_records = by_records
        self.counts = counts
        self._on_bad_line = on_bad_line
        self._row = 0  # rows seen: the event time of windows of N records

    def rows(self, chunk: Chunk) -> ChunkRows | None:
        n = chunk.columns.n_rows
        self.counts.records += n
        if self.by_records:
            times = np.arange(self._row, self._row + n, dtype=np.int64)
            self._row += n
            keep: NDArray[np.bool_] | None = None
        else:
            if chunk.timestamps is None:
                raise InputFileError("time windows need event timestamps: pass --timestamp-column")
            missing = chunk.timestamps == MISSING_TIMESTAMP
            for line in chunk.line_numbers[missing].tolist():
                self._on_bad_line(BadLine(int(line), "missing_timestamp", "no parseable event timestamp"))
            times = chunk.timestamps
            keep = None if not missing.any() else ~missing
        if keep is not None:
            if not keep.any():
                return None
            chunk = _take_chunk(chunk, np.flatnonzero(keep))
            times = times[keep]
        return self._rows_of(chunk, times)

    def _rows_of(self, chunk: Chunk, times: NDArray[np.int64]) -> ChunkRows:
        n = chunk.columns.n_rows
        ids = chunk.ids if chunk.ids is not None else np.asarray([f"#{line}" for line in chunk.line_numbers.tolist()],
                                                                  dtype=object)
        targets = chunk.targets
        capture = CaptureBatch(
            model_id=self.model_id, model_version=None, timestamps_ms=times, inference_ids=ids,
            features=chunk.columns,
            prediction=role_column(chunk.predictions) if chunk.predictions is not None else None,
            score=role_floats(chunk.scores, "score") if chunk.scores is not None else None,
            attributions=chunk.attributions, source_index=np.arange(n, dtype=np.int64), labels=targets,
        )
        labels = None
        if targets is not None:
            own = role_present(targets) & np.asarray(ids != None, dtype=bool)  # noqa: E711
            self.counts.embedded += int(own.sum())
            if own.any():
                labels = LabelBatch(np.full(int(own.sum()), self.model_id, dtype=object), ids[own], times[own],
                                    role_column(targets[own]))
        return ChunkRows(capture, labels, chunk.line_numbers, chunk.timestamps)


def _take_chunk(chunk: Chunk, rows: NDArray[np.intp]) -> Chunk:
    def pick(values: NDArray[Any] | None) -> NDArray[Any] | None:
        return None if values is None else values[rows]

    attributions = chunk.attributions
    return Chunk(
        columns=take(chunk.columns, rows), timestamps=pick(chunk.timestamps), ids=pick(chunk.ids),
        line_numbers=chunk.line_numbers[rows], bytes_read=chunk.bytes_read, targets=pick(chunk.targets),
        predictions=pick(chunk.predictions), scores=pick(chunk.scores),
        attributions=None if attributions is None else take(attributions, rows),
    )
