"""Profiling the pending rows of many segments at once (see :meth:`SegmentStates.settle
<streamdrift.monitors.segments.state.SegmentStates.settle>`).

The rows are put in segment order with one stable sort of their segment codes (a radix sort: the codes are small
integers), so each segment's rows are a contiguous slice. The numeric columns are gathered once into one
``(columns, rows)`` block, and every segment's moments (count, sum, mean, M2, min, max, fractional rows) and
whether a column is all finite numbers in that segment come from a few ``reduceat`` calls over the whole block,
instead of one finite block (stack, reductions) per segment. A segment's profile then gets its slice of the block
(a copy: its rows go to the profile's KLL buffer) and the other columns' slices, the same update as
:meth:`DatasetProfile.update <streamdrift.profile.dataset.DatasetProfile.update>` of its rows alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Columns, Kind, take_column
from streamdrift.profile.dataset import DatasetProfile
from streamdrift.profile.feature import FiniteBlock


def segment_order(codes: NDArray[np.intp], n_targets: int) -> NDArray[np.intp]:
    """The rows in segment order, stable (numpy sorts 8- and 16-bit integers by radix: linear time)."""
    small = codes.astype(np.uint8 if n_targets <= 1 << 8 else np.uint16) if n_targets <= 1 << 16 else codes
    return np.argsort(small, kind="stable")


def _gather(columns: list[Column], order: NDArray[np.intp] | None,
            n: int) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    values = np.empty((len(columns), n), dtype=np.float64)
    kinds = np.empty((len(columns), n), dtype=np.uint8)
    for j, col in enumerate(columns):
        if order is None:
            values[j] = col.numbers
            kinds[j] = col.kinds
        else:
            np.take(col.numbers, order, out=values[j])
            np.take(col.kinds, order, out=kinds[j])
    return values, kinds


def profile_segments(columns: Columns, codes: NDArray[np.intp], targets: list[str],
                     profile_of: Callable[[str], DatasetProfile]) -> None:
    """Add the rows of ``columns`` to the profile of their segment: ``targets[codes[i]]`` for row ``i``."""
    n = columns.n_rows
    if n == 0:
        return
    counts = np.bincount(codes, minlength=len(targets))
    order = segment_order(codes, len(targets)) if len(targets) > 1 else None
    numeric = [name for name, col in columns.columns.items() if col.strings is None]
    other = {name: col for name, col in columns.columns.items() if col.strings is not None}
    if order is not None and other:
        other = {name: take_column(col, order) for name, col in other.items()}
    present = np.flatnonzero(counts)
    ends = np.cumsum(counts)
    starts = ends - counts
    if numeric:
        values, kinds = _gather([columns.columns[name] for name in numeric], order, n)
        seg_starts = starts[present]
        seg_n = counts[present]
        lo_kind = np.minimum.reduceat(kinds, seg_starts, axis=1)
        hi_kind = np.maximum.reduceat(kinds, seg_starts, axis=1)
        finite = (lo_kind >= Kind.INTEGRAL) & (hi_kind <= Kind.FRACTIONAL)  # (columns, segments)
        n_fractional = np.add.reduceat((kinds == Kind.FRACTIONAL).astype(np.int64), seg_starts, axis=1)
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite segments' moments are not used
            total = np.add.reduceat(values, seg_starts, axis=1)
            mean = total / seg_n
            centered = values - np.repeat(mean, seg_n, axis=1)
            np.multiply(centered, centered, out=centered)
            m2 = np.add.reduceat(centered, seg_starts, axis=1)
            del centered
            lo = np.minimum.reduceat(values, seg_starts, axis=1)
            hi = np.maximum.reduceat(values, seg_starts, axis=1)
    for k, t in enumerate(present.tolist()):
        start, end = int(starts[t]), int(ends[t])
        profile = profile_of(targets[t])
        block = None
        rest = {name: take_column(col, slice(start, end)) for name, col in other.items()}
        if numeric:
            rows = [j for j, name in enumerate(numeric)
                    if finite[j, k] and not profile.declared_categorical(name)]
            in_block = set(rows)
            for j, name in enumerate(numeric):
                if j not in in_block:
                    rest[name] = Column(values[j, start:end].copy(), kinds[j, start:end].copy())
            if rows:
                block = ([numeric[j] for j in rows], FiniteBlock(
                    list(range(len(rows))), values[rows, start:end], n_fractional[rows, k], total[rows, k],
                    mean[rows, k], m2[rows, k], lo[rows, k], hi[rows, k]))
        profile.update(Columns(end - start, rest), block)
