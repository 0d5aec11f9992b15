"""One chunk of input rows (feature columns plus the rows' timestamps, ids and role values) and the helpers
that read role columns (target, prediction, score). No file formats here: :mod:`streamdrift.ingest.files` makes
chunks from files; baselines, checks and the worker consume them without importing pyarrow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Columns, Kind, classify_numbers, text_column
from streamdrift.errors import InputFileError

__all__ = ["MAX_TIMESTAMP_MS", "MISSING_TIMESTAMP", "BadLine", "BadLineCallback", "CaptureBatch", "CaptureColumns",
           "Chunk", "LabelBatch",
           "RoleColumns", "number_labels", "role_binary_like", "role_floats", "role_labels", "role_present",
           "role_values"]

MISSING_TIMESTAMP: Final[int] = int(np.iinfo(np.int64).min)
MAX_TIMESTAMP_MS: Final[int] = 1 << 53  # largest epoch-ms timestamp taken (exact in float64; year ~287,000)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A skipped input row: 1-based line number (0 when unknown), a short reason tag and detail."""

    line_number: int
    reason: str
    detail: str = ""


BadLineCallback = Callable[[BadLine], None]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of rows: the feature columns and the row-level extras of the same rows."""

    columns: Columns
    timestamps: NDArray[np.int64] | None   # epoch ms, MISSING_TIMESTAMP where absent; None if not requested
    ids: NDArray[np.object_] | None        # str or None per row; None if not requested
    line_numbers: NDArray[np.int64]        # 1-based source line (CSV/JSONL) or row number (Parquet)
    bytes_read: int                        # position in the (compressed) file after this chunk
    targets: NDArray[Any] | None = None      # role values (see role_values); None without roles / column
    predictions: NDArray[Any] | None = None
    scores: NDArray[Any] | None = None
    attributions: Columns | None = None      # capture records' attributions (with roles), None when none


@dataclass(frozen=True)
class CaptureBatch:
    """The capture records of ONE model (and model version) from one poll, as columns."""

    model_id: str
    model_version: str | None
    timestamps_ms: NDArray[np.int64]
    inference_ids: NDArray[np.object_]  # str, or None where the record had no id
    features: Columns
    prediction: Column | None  # predicted label / value; None when no record carried one
    score: NDArray[np.float64] | None  # NaN where a record had no score; None when none had
    attributions: Columns | None
    source_index: NDArray[np.int64]  # index of each row's message in the input sequence
    # the rows' own ground truth (role values), when the input carried it with the rows (``check`` on a file
    # with a target column or a label file read up front); never set in the stream (labels come by the join)
    labels: NDArray[Any] | None = None

    @property
    def n_rows(self) -> int:
        return int(self.timestamps_ms.shape[0])


@dataclass(frozen=True)
class LabelBatch:
    """Ground-truth labels of a poll: one row per valid label record, any mix of models."""

    model_ids: NDArray[np.object_]
    inference_ids: NDArray[np.object_]
    timestamps_ms: NDArray[np.int64]
    labels: Column
    source_index: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_rows(self) -> int:
        return int(self.timestamps_ms.shape[0])


@dataclass(frozen=True, slots=True)
class CaptureColumns:
    """Capture rows of one model as columns: what every capture input form (JSON records, JSON and Arrow columnar
    batches) yields before the rows are grouped into a batch."""

    timestamps_ms: NDArray[np.int64]
    inference_ids: NDArray[np.object_]  # str, or None where the record had no id
    features: Columns
    prediction: Column | None  # None when no record carried one
    score: NDArray[np.float64] | None  # NaN where a record had no score; None when none had
    attributions: Columns | None

    @property
    def n_rows(self) -> int:
        return int(self.timestamps_ms.shape[0])


@dataclass(frozen=True, slots=True)
class RoleColumns:
    """Columns read as model-quality roles rather than features (any may be None)."""

    target: str | None = None
    prediction: str | None = None
    score: str | None = None

    def names(self) -> frozenset[str]:
        return frozenset(c for c in (self.target, self.prediction, self.score) if c is not None)


def role_values(column: Column) -> NDArray[Any]:
    """A role column's values: float64 (NaN = missing; booleans 1 / 0) when no row is text, else an object array
    of str (whole numbers written without ``.0``) with None for missing rows."""
    kinds = column.kinds
    text = kinds == Kind.STRING
    booleans = kinds == Kind.BOOLEAN
    if not text.any():
        out = column.numbers.copy()
        if booleans.any() and column.strings is not None:
            out[booleans] = (column.strings[booleans] == "true").astype(np.float64)
        return out
    out_obj = number_labels(column.numbers)
    has_string = text | booleans
    if column.strings is not None:
        out_obj[has_string] = column.strings[has_string]
    return out_obj


def role_column(values: NDArray[Any]) -> Column:
    """The column whose :func:`role_values` are ``values`` (its inverse: numbers, or text with None)."""
    if values.dtype.kind == "f":
        numbers, kinds = classify_numbers(np.asarray(values, dtype=np.float64))
        return Column(numbers, kinds, None)
    return text_column(np.asarray(values, dtype=object), has_missing=True)


def role_present(values: NDArray[Any]) -> NDArray[np.bool_]:
    """Rows of a role array (see :func:`role_values`) that hold a value."""
    if values.dtype.kind == "f":
        return np.asarray(~np.isnan(values), dtype=bool)
    return np.asarray(values != None, dtype=bool)  # noqa: E711 - element-wise None test on an object array


def role_floats(values: NDArray[Any], role: str) -> NDArray[np.float64]:
    """A numeric role array as float64; InputFileError when it holds text."""
    if values.dtype.kind == "f":
        return np.asarray(values, dtype=np.float64)
    raise InputFileError(f"the {role} values must be numeric for this model (found text)")


def role_labels(values: NDArray[Any]) -> NDArray[Any]:
    """Class labels as text (whole numbers without ``.0``), so numeric and text labels compare."""
    return values if values.dtype.kind != "f" else number_labels(values)


def role_binary_like(values: NDArray[Any]) -> bool:
    """Text labels, or numbers that are all 0 / 1: predictions that are classes rather than scores."""
    present = values[role_present(values)]
    return bool(values.dtype.kind != "f" or np.isin(np.unique(present), (0.0, 1.0)).all())


def number_labels(numbers: NDArray[np.float64]) -> NDArray[np.object_]:
    """Numbers as label text (whole numbers without ``.0``: 1.0 -> "1"); None where NaN / infinite."""
    numeric = np.isfinite(numbers)
    safe = np.where(numeric, numbers, 0.0)
    integral = numeric & (safe == np.floor(safe)) & (np.abs(safe) < 2.0**63)
    as_text = np.where(integral, safe.astype(np.int64).astype(str), numbers.astype(str))
    out = np.full(numbers.size, None, dtype=object)
    out[numeric] = as_text[numeric]
    return out
