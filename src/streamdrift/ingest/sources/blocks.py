"""The rows one document gives (a :class:`Block`) and the columnar fast path over a model's blocks.

A tensor (or named fields) of plain numbers becomes one (rows x features) float64 matrix per document, without
a Python dict per row; a model's blocks in a poll are concatenated and classified in one 2-D pass
(:func:`fast_segment`), with the same checks and the same columns as the capture records they stand for would
give through :mod:`streamdrift.ingest.jsonrecords`. Anything else (objects, text, nulls, a bad value) takes
that record path, which names each bad message's dead-letter reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureColumns
from streamdrift.columns.columns import Column, Columns, classify_numbers, object_array
from streamdrift.errors import BadRecordError
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.values import (
    INT_TYPES,
    NONE_ONLY,
    NUMBERS,
    SCALARS,
    TEXT_TYPES,
    column,
    plain_numbers,
    timestamp_ms,
)

__all__ = ["Block", "PerRow", "fast_segment", "numeric_matrix", "segment_of"]

PerRow = list[Any] | NDArray[np.float64]  # a row's predictions or scores: objects, or float64 (numbers only)


@dataclass(slots=True)
class Block:
    """The ``n`` rows of one document: a numeric ``matrix`` with ``names`` (fast path) or ``rows`` (dicts)."""

    model_id: str
    version: str | None
    n: int
    timestamp: object  # one event time for the document's rows (epoch ms number or ISO-8601 text)
    ids: list[str | None]
    names: tuple[str, ...] | None
    matrix: NDArray[np.float64] | None
    rows: list[dict[str, Any]] | None
    labels: list[Any] | None
    scores: list[Any] | None

    def records(self) -> list[dict[str, Any]]:
        """The capture records these rows stand for."""
        if self.rows is not None:
            rows = self.rows
        else:
            assert self.names is not None and self.matrix is not None
            rows = list(map(dict, map(zip, repeat(self.names), self.matrix.tolist())))
        out = []
        for i, row in enumerate(rows):
            record: dict[str, Any] = {"model_id": self.model_id, "model_version": self.version,
                                      "timestamp": self.timestamp, "features": row, "inference_id": self.ids[i]}
            if self.labels is not None or self.scores is not None:
                record["prediction"] = {"label": None if self.labels is None else self.labels[i],
                                        "score": None if self.scores is None else self.scores[i]}
            out.append(record)
        return out


def numeric_matrix(values: list[Any], width: int) -> NDArray[np.float64] | None:
    """Row-major plain numbers (flat, ``len % width == 0``; or nested rows of ``width``) as an (n x width)
    matrix; None when anything is not a plain int / float (the record path judges it)."""
    if not values:
        return None
    if type(values[0]) is list:
        if any(type(r) is not list or len(r) != width for r in values):
            return None
        flat = plain_numbers(list(chain.from_iterable(values)))
    else:
        if len(values) % width:
            return None
        flat = plain_numbers(values)
    return None if flat is None else flat.reshape(-1, width)


def fast_segment(blocks: Sequence[Block], sources: Sequence[int], checks: Checks) -> Segment | None:
    """One model's blocks as columns, when every block has a matrix with the same names (else None); raises
    BadRecordError when a value fails a check (the caller then takes the record path)."""
    names = blocks[0].names
    if names is None or any(b.names != names or b.matrix is None for b in blocks):
        return None
    matrices = [b.matrix for b in blocks]
    matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)  # type: ignore[arg-type]
    assert matrix is not None
    labels = None if blocks[0].labels is None else list(chain.from_iterable(b.labels or () for b in blocks))
    scores = None if blocks[0].scores is None else list(chain.from_iterable(b.scores or () for b in blocks))
    return segment_of(names, matrix, [b.n for b in blocks], [b.timestamp for b in blocks],
                      list(chain.from_iterable(b.ids for b in blocks)), labels, scores, sources, checks)


def segment_of(names: tuple[str, ...], matrix: NDArray[np.float64], ns: Sequence[int], stamps: list[object],
               ids: list[str | None] | NDArray[np.object_], labels: PerRow | None, scores: PerRow | None,
               sources: Sequence[int], checks: Checks) -> Segment | None:
    """The columns of rows given as a (rows x names) matrix, ``ns[i]`` rows from message ``sources[i]`` at
    ``stamps[i]``; None when there are too many names; BadRecordError when a value fails a check. ``ids`` as an
    object array: the caller checked them (text or None, within the length limit)."""
    if len(names) > checks.limits.max_features:
        return None
    checks.names(names, "features")
    total = int(matrix.shape[0])
    numbers, kinds = classify_numbers(np.ascontiguousarray(matrix.T))
    features = Columns(total, {name: Column(numbers[i], kinds[i], None) for i, name in enumerate(names)})
    if not isinstance(ids, np.ndarray):
        if not TEXT_TYPES.issuperset(map(type, ids)):
            raise BadRecordError("wrong_type", "inference_id must be a string")
        checks.inference_ids(ids)
        ids = object_array(ids)
    label, score = _predictions(labels, scores, checks)
    return Segment(
        CaptureColumns(timestamps_ms=np.repeat(_timestamps(stamps, checks), ns), inference_ids=ids,
                       features=features, prediction=label, score=score, attributions=None),
        source_index=np.repeat(np.asarray(sources, dtype=np.int64), ns),
    )


def _timestamps(stamps: list[object], checks: Checks) -> NDArray[np.int64]:
    if INT_TYPES.issuperset(map(type, stamps)):
        arr = np.array(stamps)
        checks.timestamps(arr)
        return arr.astype(np.int64)
    return np.array([timestamp_ms(v, None, checks) for v in stamps], dtype=np.int64)


def _predictions(labels: PerRow | None, scores: PerRow | None,
                 checks: Checks) -> tuple[Column | None, NDArray[np.float64] | None]:
    """The prediction column and the scores; either may come as float64 (the native reader's numbers: the same
    column as :func:`.values.column` makes of those ints and floats)."""
    label = score = None
    if isinstance(labels, np.ndarray):
        label = Column(*classify_numbers(labels), None)
    elif labels is not None and not set(map(type, labels)) <= NONE_ONLY:
        label = column(labels, checks, SCALARS, "prediction.label")
    if isinstance(scores, np.ndarray):
        score = scores
    elif scores is not None:
        types = set(map(type, scores))
        if not types <= NUMBERS:
            raise BadRecordError("wrong_type", "prediction.score must be a number")
        if not types <= NONE_ONLY:
            score = np.array(scores, dtype=np.float64)
    return label, score
