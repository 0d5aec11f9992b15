"""What the report's charts show, computed from a baseline and a window profile: axes, bins, shares, the largest
gaps. Display only: the verdicts, statistics and thresholds come from the evaluation (the report reads them).

Numeric features (:func:`numeric_view`):

- **discrete** when the baseline and the window together hold at most :data:`DISCRETE_MAX` distinct values (a few
  integers, a constant; values read at 1,001 ranks, so values under 0.1% of a side are not listed): one bar per
  value, the shares from the sketches' CDFs, plus "other" when such rare values hold at least 0.05%;
- otherwise on the baseline's **robust range**, its :data:`TAIL` and 1 - TAIL quantiles (0.5% .. 99.5%): values
  beyond it fall in the two overflow bins. The axis is **log** when that range is positive, spans at least
  :data:`LOG_MIN_RATIO` (a factor 30, ~1.5 decades) and the median sits in its first :data:`LOG_MAX_MEDIAN_POSITION`
  (a right-skewed, heavy-tailed feature such as a price); else **linear**.
- Histogram bins are the baseline's quantiles (:data:`N_BINS` bins between the 0.5% and 99.5% quantiles, so each
  holds about 5% of the baseline; tied quantiles merge bins). Shares are the sketches' CDF differences.
- The CDF of both on the same axis, and where on that axis the two differ most.

Categorical features (:func:`categorical_view`): the :data:`TOP_CATEGORIES` values with the largest share in the
baseline or the window (so a category that surges in the window is shown), sorted by baseline share, then one
"other" bar for the rest (with thousands of categories "other" can hold most rows).

In both, the bars where the window's share differs most from the baseline's (at least :data:`MIN_GAP`, i.e. one
percentage point; at most :data:`GAPS_HIGHLIGHTED`) are marked as gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from streamdrift.profile.profiles import CategoricalProfile
from streamdrift.profile.sketches import KllSketch

__all__ = ["BarsView", "NumericView", "ValueAxis", "categorical_view", "compact", "numeric_view"]

TAIL: Final[float] = 0.005
N_BINS: Final[int] = 20
DISCRETE_MAX: Final[int] = 20
LOG_MIN_RATIO: Final[float] = 30.0
LOG_MAX_MEDIAN_POSITION: Final[float] = 0.2
TOP_CATEGORIES: Final[int] = 12
GAPS_HIGHLIGHTED: Final[int] = 3
MIN_GAP: Final[float] = 0.01
CDF_POINTS: Final[int] = 160
VALUE_RANKS: Final[int] = 1001

AxisKind = Literal["linear", "log"]


def compact(value: float) -> str:
    """A short label for a value: up to 4 digits below 10,000 (1925, 647, 0.172), then 3 significant digits with
    k / M / G / T suffixes (35.6k, 4.3M); tiny values in scientific notation (1.5e-04)."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    for threshold, scale, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if magnitude >= threshold:
            return f"{value / scale:.3g}{suffix}"
    if magnitude < 1e-3:
        return f"{value:.1e}"
    return f"{value:.4g}"


@dataclass(frozen=True)
class ValueAxis:
    """A numeric axis from ``lo`` to ``hi``, linear or logarithmic (log needs ``lo > 0``)."""

    kind: AxisKind
    lo: float
    hi: float

    def fraction(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Position of values along the axis, 0 at ``lo`` and 1 at ``hi`` (not clipped)."""
        if self.kind == "log":
            lo, hi = math.log10(self.lo), math.log10(self.hi)
            out: NDArray[np.float64] = (np.log10(np.maximum(x, 1e-300)) - lo) / (hi - lo)
            return out
        span = self.hi - self.lo if self.hi > self.lo else 1.0
        linear: NDArray[np.float64] = (x - self.lo) / span
        return linear

    def grid(self, n: int) -> NDArray[np.float64]:
        return np.geomspace(self.lo, self.hi, n) if self.kind == "log" else np.linspace(self.lo, self.hi, n)

    def ticks(self) -> list[float]:
        """Tick values inside the axis: decades (with 2 and 5 when few) on a log axis, 1-2-5 steps on a linear one."""
        if self.kind == "log":
            first, last = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
            steps = (1.0,) if last - first > 3 else (1.0, 2.0, 5.0)
            values = [m * 10.0 ** e for e in range(first, last + 1) for m in steps]
        else:
            span = self.hi - self.lo
            raw = span / 6 if span > 0 else 1.0
            base = 10.0 ** math.floor(math.log10(raw))
            step = next(m * base for m in (1.0, 2.0, 5.0, 10.0) if m * base >= raw)
            start = math.ceil(self.lo / step) * step
            values = [float(v) for v in np.arange(start, self.hi + step * 1e-9, step)]
        return [v for v in values if self.lo <= v <= self.hi]


@dataclass(frozen=True)
class NumericView:
    """A continuous numeric feature: baseline-quantile bins with overflow slots, and both CDFs.

    ``base`` / ``window`` are shares per slot: ``[below edges[0], bin 0, ..., bin n-1, above edges[-1]]``.
    """

    axis: ValueAxis
    note: str
    edges: NDArray[np.float64]
    base: NDArray[np.float64]
    window: NDArray[np.float64]
    gaps: tuple[int, ...]
    grid: NDArray[np.float64]
    base_cdf: NDArray[np.float64]
    window_cdf: NDArray[np.float64]
    widest_at: int  # index into grid where |base_cdf - window_cdf| is largest

    @property
    def n_bins(self) -> int:
        return int(self.edges.size - 1)

    def slot_labels(self) -> list[str]:
        inner = [f"{compact(self.edges[i])} – {compact(self.edges[i + 1])}" for i in range(self.n_bins)]
        return [f"< {compact(self.edges[0])}", *inner, f"> {compact(self.edges[-1])}"]


@dataclass(frozen=True)
class BarsView:
    """One bar per value (a category, or a discrete number), baseline and window shares, the last one possibly
    "other". ``new``: indexes of values the baseline does not have."""

    labels: tuple[str, ...]
    base: NDArray[np.float64]
    window: NDArray[np.float64]
    gaps: tuple[int, ...]
    note: str
    other: int | None = None  # index of the "other" bar
    new: frozenset[int] = frozenset()


def _gaps(base: NDArray[np.float64], window: NDArray[np.float64]) -> tuple[int, ...]:
    delta = np.abs(window - base)
    order = np.argsort(-delta, kind="stable")[:GAPS_HIGHLIGHTED]
    return tuple(int(i) for i in order if delta[i] >= MIN_GAP)


def _distinct_values(sketch: KllSketch) -> NDArray[np.float64]:
    """The sketch's values at :data:`VALUE_RANKS` evenly spaced ranks, deduplicated: every value holding at least
    0.1% of it (and the min and max)."""
    return np.unique(sketch.quantiles(np.linspace(0.0, 1.0, VALUE_RANKS)))


def _value_shares(sketch: KllSketch, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(X == v) for each of the strictly increasing ``values``."""
    at_most = sketch.cdf(values, inclusive=True)[: values.size]
    below = sketch.cdf(values, inclusive=False)[: values.size]
    return np.asarray(np.clip(at_most - below, 0.0, 1.0), dtype=np.float64)


def _discrete_view(base: KllSketch, window: KllSketch) -> BarsView | None:
    b_values, w_values = _distinct_values(base), _distinct_values(window)
    if b_values.size > DISCRETE_MAX or w_values.size > DISCRETE_MAX:
        return None
    values = np.union1d(b_values, w_values)
    if values.size > DISCRETE_MAX:
        return None
    b, w = _value_shares(base, values), _value_shares(window, values)
    labels = tuple(compact(float(v)) for v in values)
    new = frozenset(int(i) for i in np.flatnonzero(b == 0))
    note = (f"constant in the baseline: {compact(float(b_values[0]))}" if b_values.size == 1
            else f"discrete: {b_values.size} values in the baseline")
    if new:
        note += f", {len(new)} new in the window"
    other: int | None = None
    b_rest, w_rest = max(0.0, 1.0 - float(b.sum())), max(0.0, 1.0 - float(w.sum()))
    if max(b_rest, w_rest) >= 0.0005:  # values too rare for the rank grid
        labels, other = (*labels, "other"), len(labels)
        b, w = np.append(b, b_rest), np.append(w, w_rest)
    return BarsView(labels, b, w, _gaps(b, w), note, other, new)


def _robust_range(base: KllSketch) -> tuple[float, float, float]:
    lo, med, hi = (float(v) for v in base.quantiles(np.array([TAIL, 0.5, 1.0 - TAIL])))
    if hi <= lo:  # one value holds 99% of the baseline: the whole range
        lo, hi = float(base.min), float(base.max)
    return lo, med, hi


def _axis(lo: float, med: float, hi: float) -> tuple[ValueAxis, str]:
    span = f"{compact(lo)} – {compact(hi)}"
    if lo > 0 and hi / lo >= LOG_MIN_RATIO and (med - lo) / (hi - lo) <= LOG_MAX_MEDIAN_POSITION:
        decades = math.log10(hi / lo)
        return ValueAxis("log", lo, hi), (f"log axis: positive, right-skewed (baseline 0.5%–99.5%: {span}, "
                                          f"{decades:.1f} decades); tails in overflow bins")
    return ValueAxis("linear", lo, hi), f"linear axis on the baseline's 0.5%–99.5% range ({span}); tails in overflow bins"


def _slot_shares(sketch: KllSketch, edges: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shares below edges[0], in [e_i, e_i+1) (the last bin closed) and above edges[-1]."""
    n_bins = edges.size - 1
    below = sketch.cdf(edges, inclusive=False)[:n_bins]  # P(X < e_i), i < n_bins
    at_most_last = float(sketch.cdf(edges[-1:], inclusive=True)[0])  # P(X <= e_m)
    cumulative = np.concatenate(([0.0], below, [at_most_last, 1.0]))
    return np.clip(np.diff(cumulative), 0.0, 1.0)


def numeric_view(base: KllSketch, window: KllSketch) -> NumericView | BarsView | None:
    """The chart data of a numeric feature (rules in the module docs); None when either sketch is empty."""
    if base.is_empty or window.is_empty:
        return None
    discrete = _discrete_view(base, window)
    if discrete is not None:
        return discrete
    lo, med, hi = _robust_range(base)
    axis, note = _axis(lo, med, hi)
    edges = np.unique(base.quantiles(np.linspace(TAIL, 1.0 - TAIL, N_BINS + 1)))
    if edges.size < 2:
        edges = np.linspace(lo, hi, N_BINS + 1)
    b, w = _slot_shares(base, edges), _slot_shares(window, edges)
    grid = axis.grid(CDF_POINTS)
    b_cdf, w_cdf = base.cdf(grid)[: grid.size], window.cdf(grid)[: grid.size]
    widest = int(np.argmax(np.abs(b_cdf - w_cdf)))
    return NumericView(axis, note, edges, b, w, _gaps(b, w), grid, b_cdf, w_cdf, widest)


def categorical_view(base: CategoricalProfile, window: CategoricalProfile,
                     top: int = TOP_CATEGORIES) -> BarsView | None:
    """The chart data of a categorical feature (rules in the module docs); None when either side has no value."""
    b_total, w_total = int(base.count), int(window.count)
    if b_total == 0 or w_total == 0:
        return None
    bf, wf = base.frequencies(), window.frequencies()
    b = {k: v / b_total for k, v in bf.items()}
    w = {k: v / w_total for k, v in wf.items()}
    ranked = sorted(set(b) | set(w), key=lambda c: (-max(b.get(c, 0.0), w.get(c, 0.0)), c))[:top]
    shown = sorted(ranked, key=lambda c: (-b.get(c, 0.0), -w.get(c, 0.0), c))
    b_shares = np.array([b.get(c, 0.0) for c in shown])
    w_shares = np.array([w.get(c, 0.0) for c in shown])
    distinct = max(float(base.distinct.estimate), float(len(bf)))
    note = f"{distinct:,.0f} distinct values in the baseline; top {len(shown)} shown"
    labels = tuple(shown)
    other: int | None = None
    b_rest, w_rest = max(0.0, 1.0 - float(b_shares.sum())), max(0.0, 1.0 - float(w_shares.sum()))
    if b_rest > 1e-9 or w_rest > 1e-9:
        rest = max(0, round(distinct) - len(shown))
        labels = (*labels, f"other ({rest:,} values)" if rest else "other")
        b_shares, w_shares = np.append(b_shares, b_rest), np.append(w_shares, w_rest)
        other = len(labels) - 1
    new = frozenset(i for i, c in enumerate(shown) if b.get(c, 0.0) == 0.0)
    return BarsView(labels, b_shares, w_shares, _gaps(b_shares, w_shares), note, other, new)
