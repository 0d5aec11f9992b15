"""The drift test of a categorical feature, for any number of categories.

*Full*: while both frequent-items sketches are exact (fewer distinct values than their map holds: 768 at the
default ``frequent_lg_max_k`` of 10) and the two hold at most ``max_categories`` values together, every category
is a cell: chi-square homogeneity with small cells pooled (:func:`~streamdrift.monitors.data_quality.stattests.
chi_square_homogeneity`) and the L-inf distance of the shares, the values the baseline never had counted as one
cell (rows spread over a few new values are one shift of their total size).

*Top categories*: otherwise the cells are the baseline's ``top_k`` most frequent categories, the window's own
heavy hitters (counts above the sketch's error), and one ``other`` cell holding the rest of each side, so a
shift into or out of any frequent value, or into values the baseline never had, moves some cell. The
sketches' counts are estimates within known bounds (``lower`` / ``upper``); each cell is taken at the point of
its bounds nearest to what homogeneity expects, so the test sees only the part of a difference the sketches
cannot explain (as the numeric test widens its threshold by the KLL rank error). With exact sketches both
modes give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from streamdrift.monitors.data_quality import stattests
from streamdrift.profile.profiles import CategoricalProfile

OTHER: Final[str] = "\0other"  # the cell of every value outside the tested categories
TIGHT: Final[float] = 10.0  # a category is a cell of its own when its count is known to within a tenth
MIN_COUNT: Final[float] = 5.0
Mode = Literal["full", "top"]


@dataclass(frozen=True)
class CategoricalTest:
    mode: Mode
    linf: float  # largest difference of shares the sketches' bounds cannot explain
    chi: stattests.ChiSquareResult
    cells: int  # categories tested on their own (the ``other`` cell not counted)
    error: float  # the largest share the sketches' error could move (window + baseline)
    window: dict[str, float]  # the cells' window counts as tested (for reports)
    baseline: dict[str, float]


def _bounds(profile: CategoricalProfile, items: list[str]) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                                     NDArray[np.float64]]:
    """(lower, estimate, upper) count of each item."""
    sketch = profile.frequent
    err = float(sketch.max_error)
    est = np.array([float(sketch.estimate(i)) for i in items], dtype=np.float64)
    return np.maximum(est - err, 0.0), est, est + err


def _cells(window: CategoricalProfile, baseline: CategoricalProfile, top_k: int) -> list[str]:
    """The baseline's most frequent categories, then the window's own heavy hitters not among them (at most
    ``top_k`` of each): those whose count is known to within a tenth (lower bound >= TIGHT x the sketch's error),
    so that the ``other`` cell, the rest of each side, stays well bounded too."""
    base = [f.item for f in baseline.frequent.top(threshold=0) if f.lower >= _floor(baseline)][:top_k]
    chosen = set(base)
    heavy = [f.item for f in window.frequent.top(threshold=0)
             if f.lower >= _floor(window) and f.item not in chosen]
    return base + heavy[:top_k]


def _floor(profile: CategoricalProfile) -> float:
    return max(MIN_COUNT, TIGHT * float(profile.frequent.max_error))


def _toward(expected: NDArray[np.float64], lower: NDArray[np.float64],
            upper: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.clip(expected, lower, upper)


def _table(window: CategoricalProfile, baseline: CategoricalProfile,
           items: list[str]) -> tuple[dict[str, float], dict[str, float], float]:
    """The tested cells (items + other) of each side, taken within their bounds nearest to homogeneity."""
    n, m = float(window.count), float(baseline.count)
    w_lo, w_est, w_hi = _bounds(window, items)
    b_lo, b_est, b_hi = _bounds(baseline, items)
    # the other cell: the rest of each side, with the items' bounds reversed
    w_lo = np.append(w_lo, max(0.0, n - float(w_hi.sum())))
    w_hi = np.append(w_hi, max(0.0, n - float(w_lo[:-1].sum())))
    w_est = np.append(w_est, max(0.0, n - float(w_est.sum())))
    b_lo = np.append(b_lo, max(0.0, m - float(b_hi.sum())))
    b_hi = np.append(b_hi, max(0.0, m - float(b_lo[:-1].sum())))
    b_est = np.append(b_est, max(0.0, m - float(b_est.sum())))
    pooled = (w_est + b_est) / (n + m)
    w = _toward(n * pooled, w_lo, w_hi)
    b = _toward(m * pooled, b_lo, b_hi)
    names = [*items, OTHER]
    error = float(window.frequent.max_error) / max(n, 1.0) + float(baseline.frequent.max_error) / max(m, 1.0)
    return dict(zip(names, w.tolist(), strict=True)), dict(zip(names, b.tolist(), strict=True)), error


def _with_unseen(window: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """The window's counts with every value the baseline never had in one cell (``other``): rows spread over
    a few new values are one shift of that size, as the top-categories mode sees them in its ``other`` cell."""
    out = {k: v for k, v in window.items() if k in baseline}
    unseen = sum(v for k, v in window.items() if k not in baseline)
    if unseen:
        out[OTHER] = out.get(OTHER, 0.0) + unseen
    return out


def _linf(window: Mapping[str, float], baseline: Mapping[str, float]) -> float:
    n, m = sum(window.values()), sum(baseline.values())
    if n <= 0 or m <= 0:
        return 0.0
    return max(abs(window.get(k, 0.0) / n - baseline.get(k, 0.0) / m) for k in {*window, *baseline})


def compare(window: CategoricalProfile, baseline: CategoricalProfile, *, max_categories: int, top_k: int,
            baseline_frequencies: Mapping[str, int] | None = None) -> CategoricalTest:
    """The drift test of one categorical feature (see the module docs)."""
    wf = window.frequencies()
    bf = baseline.frequencies() if baseline_frequencies is None else baseline_frequencies
    exact = window.frequent.max_error == 0 and baseline.frequent.max_error == 0
    if exact and len(wf.keys() | bf.keys()) <= max_categories:
        w = {k: float(v) for k, v in wf.items()}
        b = {k: float(v) for k, v in bf.items()}
        return CategoricalTest("full", _linf(_with_unseen(w, b), b), stattests.chi_square_homogeneity(w, b),
                               len(w.keys() | b.keys()), 0.0, w, b)
    items = _cells(window, baseline, top_k)
    w, b, error = _table(window, baseline, items)
    return CategoricalTest("top", _linf(w, b), stattests.chi_square_homogeneity(w, b), len(items), error, w, b)
