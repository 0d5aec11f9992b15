"""The report's charts as inline SVG, drawn from :mod:`streamdrift.report.chartdata` views (no statistics here).

- :func:`quantile_bins_chart`: a numeric feature's share per baseline-quantile bin, baseline and window side by
  side, the two overflow bins (beyond the baseline's 0.5% / 99.5% quantiles) shaded and labelled, the largest
  gaps highlighted with their difference in percentage points;
- :func:`cdf_chart`: both CDFs on the view's axis (log or linear, labelled), the largest gap marked, the shares
  beyond the range written out;
- :func:`value_bars_chart`: discrete numbers (few values, constants), one group of bars per value;
- :func:`category_bars_chart`: horizontal bars, top categories then "other", each row's shares and difference.

The largest gaps are always marked; in red only when the evaluation found the feature drifted (``drifted``),
in a neutral tone otherwise (an unchanged window has its largest gaps too: noise). Each ``<svg>`` carries
``data-*`` attributes saying what it shows (chart kind, axis, bins, rows, gaps, ``emphasis`` drift / none), so
tests and people can check the choice without reading pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.report.chartdata import BarsView, NumericView, compact
from streamdrift.report.svg import (
    AXIS_COLOR,
    BASELINE_COLOR,
    GAP_COLOR,
    GAP_FILL,
    GRID_COLOR,
    NEUTRAL_GAP_COLOR,
    NEUTRAL_GAP_FILL,
    TAIL_FILL,
    WINDOW_COLOR,
    Canvas,
)

__all__ = ["category_bars_chart", "cdf_chart", "quantile_bins_chart", "value_bars_chart"]

WIDTH: Final[float] = 500
HEIGHT: Final[float] = 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 46.0, 12.0, 30.0, 50.0
_LEGEND = (("baseline", BASELINE_COLOR), ("window", WINDOW_COLOR))


@dataclass(frozen=True)
class _Tone:
    color: str
    fill: str
    name: str


def _tone(drifted: bool) -> _Tone:
    return _Tone(GAP_COLOR, GAP_FILL, "drift") if drifted else _Tone(NEUTRAL_GAP_COLOR, NEUTRAL_GAP_FILL, "none")


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _pts(delta: float) -> str:
    points = round(100 * delta, 1)
    return f"{points + 0.0:+.1f} pts"  # + 0.0: no "-0.0"


def _share_ticks(top: float) -> list[float]:
    """2-5 round share values below ``top`` for the y axis."""
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if top / step <= 5:
            return [step * i for i in range(1, int(top / step) + 1)]
    return [0.5, 1.0]


def _frame(canvas: Canvas, title: str, note: str | None = None) -> None:
    canvas.text(_LEFT, 14, title, size=11, bold=True, fill="#222")
    canvas.legend(canvas.width - 150, 14, _LEGEND)
    if note:
        canvas.text(_LEFT, canvas.height - 6, note, size=9, fill="#666")


def _y_axis(canvas: Canvas, top: float, bottom: float, y_max: float, right: float, ticks: Sequence[float],
            label: object = _pct) -> None:
    canvas.line(_LEFT, top, _LEFT, bottom)
    canvas.line(_LEFT, bottom, right, bottom)
    canvas.text(_LEFT - 4, bottom + 3, "0", anchor="end")
    for value in ticks:
        y = bottom - value / y_max * (bottom - top)
        canvas.line(_LEFT, y, right, y, GRID_COLOR)
        canvas.text(_LEFT - 4, y + 3, label(value) if callable(label) else str(value), anchor="end")


def _grouped_bars(canvas: Canvas, labels: Sequence[str], base: NDArray[np.float64], window: NDArray[np.float64],
                  gaps: Sequence[int], shaded: frozenset[int], top: float, bottom: float,
                  tone: _Tone) -> tuple[float, float]:
    """Slots of baseline / window bars between _LEFT and the right margin; returns (slot width, y max)."""
    right = canvas.width - _RIGHT
    n = len(labels)
    slot = (right - _LEFT) / n
    y_max = max(float(base.max(initial=0.0)), float(window.max(initial=0.0)), 1e-9) * 1.18
    _y_axis(canvas, top, bottom, y_max, right, _share_ticks(y_max))
    height = bottom - top
    for i in range(n):
        x = _LEFT + i * slot
        if i in shaded:
            canvas.rect(x, top, slot, height, TAIL_FILL, css_class="overflow")
        if i in gaps:
            canvas.rect(x + 0.5, top, slot - 1, height, tone.fill, css_class="gap", data={"slot": i})
    bar = min(slot * 0.42, 36.0)
    for i in range(n):
        x = _LEFT + i * slot + slot / 2 - bar
        b, w = float(base[i]), float(window[i])
        tip = f"{labels[i]}: baseline {_pct(b)}, window {_pct(w)} ({_pts(w - b)})"
        canvas.rect(x, bottom - b / y_max * height, bar, b / y_max * height, BASELINE_COLOR, css_class="bar base",
                    tip=tip)
        canvas.rect(x + bar, bottom - w / y_max * height, bar, w / y_max * height, WINDOW_COLOR,
                    css_class="bar window", tip=tip)
        if i in gaps:
            y = bottom - max(b, w) / y_max * height - 3
            canvas.text(x + bar, max(y, top + 8), f"{100 * (w - b):+.1f}", size=9, anchor="middle", fill=tone.color,
                        bold=True, css_class="gap-label")
    return slot, y_max


def quantile_bins_chart(view: NumericView, title: str, drifted: bool = False) -> str:
    """Share per baseline-quantile bin (see the module docs)."""
    labels = view.slot_labels()
    tone = _tone(drifted)
    canvas = Canvas(WIDTH, HEIGHT, title, "chart quantile-bins",
                    {"chart": "quantile-bins", "axis": view.axis.kind, "bins": view.n_bins, "overflow": 2,
                     "gaps": len(view.gaps), "emphasis": tone.name})
    _frame(canvas, title, "bins at baseline quantiles (~5% each) · shaded: tails beyond 0.5% / 99.5% · "
                          "marked: largest gaps")
    top, bottom = _TOP, HEIGHT - _BOTTOM
    slot, _ = _grouped_bars(canvas, labels, view.base, view.window, view.gaps,
                            frozenset({0, len(labels) - 1}), top, bottom, tone)
    canvas.text(_LEFT + slot / 2, bottom + 24, "below", size=8, anchor="middle", css_class="overflow-label")
    canvas.text(_LEFT + slot * (len(labels) - 0.5), bottom + 24, "above", size=8, anchor="middle",
                css_class="overflow-label")
    step = max(1, round(view.n_bins / 5))
    for j in range(0, view.n_bins + 1, step):  # edge j separates slot j and slot j + 1
        x = _LEFT + (j + 1) * slot
        canvas.line(x, bottom, x, bottom + 4)
        canvas.text(x, bottom + 14, compact(float(view.edges[j])), size=9, anchor="middle")
    if view.n_bins % step:
        x = _LEFT + (view.n_bins + 1) * slot
        canvas.line(x, bottom, x, bottom + 4)
        canvas.text(x, bottom + 14, compact(float(view.edges[-1])), size=9, anchor="middle")
    return canvas.render()


def cdf_chart(view: NumericView, title: str, drifted: bool = False) -> str:
    """Both CDFs on the view's axis, the largest gap marked (see the module docs)."""
    axis = view.axis
    tone = _tone(drifted)
    canvas = Canvas(WIDTH, HEIGHT, title, "chart cdf", {"chart": "cdf", "axis": axis.kind, "emphasis": tone.name})
    right, top, bottom = WIDTH - _RIGHT, _TOP, HEIGHT - _BOTTOM
    below_b, below_w = float(view.base[0]), float(view.window[0])
    above_b, above_w = float(view.base[-1]), float(view.window[-1])
    _frame(canvas, title, f"{'log' if axis.kind == 'log' else 'linear'} axis · beyond the range: below "
                          f"{_pct(below_b)} | {_pct(below_w)}, above {_pct(above_b)} | {_pct(above_w)} "
                          "(baseline | window)")
    _y_axis(canvas, top, bottom, 1.0, right, (0.25, 0.5, 0.75, 1.0), label=lambda v: f"{v:g}")

    def xs(values: NDArray[np.float64]) -> list[float]:
        return [float(v) for v in _LEFT + np.clip(axis.fraction(values), 0.0, 1.0) * (right - _LEFT)]

    def ys(values: NDArray[np.float64]) -> list[float]:
        return [float(v) for v in bottom - values * (bottom - top)]

    for tick in axis.ticks():
        x = xs(np.array([tick]))[0]
        canvas.line(x, bottom, x, bottom + 4)
        canvas.line(x, top, x, bottom, GRID_COLOR)
        canvas.text(x, bottom + 14, compact(tick), size=9, anchor="middle", css_class="tick")
    canvas.text(_LEFT, bottom + 26, compact(axis.lo), size=8, anchor="start", fill="#888")
    canvas.text(right, bottom + 26, compact(axis.hi), size=8, anchor="end", fill="#888")
    canvas.text((_LEFT + right) / 2, bottom + 26, f"{axis.kind} axis", size=9, anchor="middle", fill="#666",
                css_class="axis-kind")
    canvas.polyline(xs(view.grid), ys(view.base_cdf), BASELINE_COLOR, css_class="cdf base")
    canvas.polyline(xs(view.grid), ys(view.window_cdf), WINDOW_COLOR, css_class="cdf window")
    at = view.widest_at
    gap = float(abs(view.base_cdf[at] - view.window_cdf[at]))
    if gap >= 0.01:
        x = xs(view.grid[at:at + 1])[0]
        y_b, y_w = ys(view.base_cdf[at:at + 1])[0], ys(view.window_cdf[at:at + 1])[0]
        canvas.line(x, min(y_b, y_w), x, max(y_b, y_w), tone.color, 2.0, css_class="gap")
        label = f"largest gap {gap:.3f} at {compact(float(view.grid[at]))}"
        anchor = "end" if x > (_LEFT + right) / 2 else "start"
        canvas.text(x + (-4 if anchor == "end" else 4), min(y_b, y_w) - 4 if min(y_b, y_w) > top + 12 else top + 12,
                    label, size=9, anchor=anchor, fill=tone.color, bold=True, css_class="gap-label")
    return canvas.render()


def value_bars_chart(view: BarsView, title: str, drifted: bool = False) -> str:
    """One group of bars per discrete value (see the module docs)."""
    labels = [f"{label}*" if i in view.new else label for i, label in enumerate(view.labels)]
    tone = _tone(drifted)
    canvas = Canvas(WIDTH, HEIGHT, title, "chart discrete",
                    {"chart": "discrete", "values": len(labels), "gaps": len(view.gaps), "emphasis": tone.name})
    _frame(canvas, title, view.note + (" (* not in the baseline)" if view.new else ""))
    top, bottom = _TOP, HEIGHT - _BOTTOM
    slot, _ = _grouped_bars(canvas, labels, view.base, view.window, view.gaps, frozenset(), top, bottom, tone)
    for i, label in enumerate(labels):
        canvas.text(_LEFT + (i + 0.5) * slot, bottom + 14, label, size=9, anchor="middle")
    return canvas.render()


_ROW: Final[float] = 20.0
_LABEL_W: Final[float] = 150.0
_VALUE_W: Final[float] = 150.0


def category_bars_chart(view: BarsView, title: str, drifted: bool = False, width: float = 2 * WIDTH + 14) -> str:
    """Horizontal bars per category, "other" last (see the module docs)."""
    n = len(view.labels)
    height = _TOP + 8 + n * _ROW + 24
    tone = _tone(drifted)
    canvas = Canvas(width, height, title, "chart categories",
                    {"chart": "categories", "rows": n, "gaps": len(view.gaps),
                     "other": "yes" if view.other is not None else "no", "emphasis": tone.name})
    _frame(canvas, title)
    x0, x1 = _LABEL_W, width - _VALUE_W
    regular = [i for i in range(n) if i != view.other]
    scale = max([float(max(view.base[i], view.window[i])) for i in regular] + [1e-9]) * 1.05
    if view.other is not None and not regular:
        scale = max(float(view.base[view.other]), float(view.window[view.other]), 1e-9) * 1.05
    top = _TOP + 8
    canvas.line(x0, top - 4, x0, top + n * _ROW)
    for i, label in enumerate(view.labels):
        y = top + i * _ROW
        b, w = float(view.base[i]), float(view.window[i])
        gap = i in view.gaps
        is_other = i == view.other
        css = "row" + (" other" if is_other else "") + (" gap" if gap else "") + (" new" if i in view.new else "")
        if gap:
            canvas.rect(0, y, width, _ROW, tone.fill, css_class="gap")
        shown = label if len(label) <= 22 else label[:21] + "…"
        if i in view.new:
            shown += " (new)"
        canvas.text(x0 - 6, y + 14, shown, size=10, anchor="end", fill="#222" if not is_other else "#666",
                    bold=is_other, css_class=css, tip=label)
        for j, (share, color) in enumerate(((b, BASELINE_COLOR), (w, WINDOW_COLOR))):
            length = min(share / scale, 1.0) * (x1 - x0)
            canvas.rect(x0, y + 3 + j * 7, length, 6, color, css_class="bar " + ("base" if j == 0 else "window"),
                        tip=f"{label}: {'baseline' if j == 0 else 'window'} {_pct(share)}")
            if share > scale:  # "other" may hold far more than any category: its bar is cut, the value written
                canvas.line(x1 - 8, y + 2 + j * 7, x1 - 4, y + 10 + j * 7, "#ffffff", 2.0, css_class="cut")
        delta = w - b
        canvas.text(x1 + 6, y + 14, f"{_pct(b)} → {_pct(w)}", size=10)
        canvas.text(width - 8, y + 14, _pts(delta), size=10, anchor="end", fill=tone.color if gap else AXIS_COLOR,
                    bold=gap)
    canvas.text(x0, height - 6, view.note + "; bars cut at the largest category's share, values on the right",
                size=9, fill="#666")
    return canvas.render()
