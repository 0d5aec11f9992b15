"""Segments (the rows of one model read from part of a poll) and their row-wise concatenation into one
:class:`CaptureBatch` per model; :func:`concat_columns` pads a feature absent from a part with MISSING rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.chunks import CaptureBatch, CaptureColumns
from streamdrift.columns.columns import Column, Columns

__all__ = ["Segment", "batch_of", "concat_columns"]


@dataclass(frozen=True)
class Segment:
    rows: CaptureColumns
    source_index: NDArray[np.int64]  # of each row's message in the input sequence


def batch_of(model_id: str, model_version: str | None, segs: Sequence[Segment]) -> CaptureBatch:
    """The segments of one model, in order, as one batch."""
    lengths = [s.rows.n_rows for s in segs]
    return CaptureBatch(
        model_id=model_id,
        model_version=model_version,
        timestamps_ms=_cat([s.rows.timestamps_ms for s in segs], np.int64),
        inference_ids=_cat([s.rows.inference_ids for s in segs], np.object_),
        features=concat_columns([s.rows.features for s in segs]) if len(segs) != 1 else segs[0].rows.features,
        prediction=_optional_column([s.rows.prediction for s in segs], lengths),
        score=_optional_scores([s.rows.score for s in segs], lengths),
        attributions=_optional_columns([s.rows.attributions for s in segs], lengths),
        source_index=_cat([s.source_index for s in segs], np.int64),
    )


def _cat(parts: list[NDArray[Any]], dtype: type[Any]) -> NDArray[Any]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _concat_column(parts: Sequence[Column]) -> Column:
    if len(parts) == 1:
        return parts[0]
    strings: NDArray[np.object_] | None = None
    if any(p.strings is not None for p in parts):
        strings = np.concatenate(
            [p.strings if p.strings is not None else np.full(p.kinds.shape[0], None, dtype=object) for p in parts]
        )
    return Column(np.concatenate([p.numbers for p in parts]), np.concatenate([p.kinds for p in parts]), strings)


def concat_columns(parts: Sequence[Columns]) -> Columns:
    """Row-wise concatenation; a feature absent from a part is MISSING in its rows."""
    names: dict[str, None] = {}
    for p in parts:
        names.update(dict.fromkeys(p.columns))
    columns = {
        name: _concat_column([p.columns.get(name) or Column.missing(p.n_rows) for p in parts]) for name in names
    }
    return Columns(sum(p.n_rows for p in parts), columns)


def _optional_column(parts: list[Column | None], lengths: list[int]) -> Column | None:
    if all(p is None for p in parts):
        return None
    return _concat_column([p if p is not None else Column.missing(n) for p, n in zip(parts, lengths, strict=True)])


def _optional_columns(parts: list[Columns | None], lengths: list[int]) -> Columns | None:
    if all(p is None for p in parts):
        return None
    return concat_columns([p if p is not None else Columns(n, {}) for p, n in zip(parts, lengths, strict=True)])


def _optional_scores(parts: list[NDArray[np.float64] | None], lengths: list[int]) -> NDArray[np.float64] | None:
    if all(p is None for p in parts):
        return None
    return np.concatenate([p if p is not None else np.full(n, np.nan) for p, n in zip(parts, lengths, strict=True)])
