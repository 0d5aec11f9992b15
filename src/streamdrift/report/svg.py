"""Tiny inline-SVG charts for the self-contained HTML report (no JavaScript, no network)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
from numpy.typing import NDArray

BASELINE_COLOR = "#4c72b0"
WINDOW_COLOR = "#dd8452"

_W, _H = 360, 200
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 46, 10, 10, 34


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    color: str


def _fmt(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _label(value: float | str) -> str:
    return value if isinstance(value, str) else _fmt(value)


def _scale(values: NDArray[np.float64], lo: float, hi: float, out_lo: float, out_hi: float) -> NDArray[np.float64]:
    span = hi - lo if hi > lo else 1.0
    return out_lo + (values - lo) / span * (out_hi - out_lo)


def _frame(x_lo: float | str, x_hi: float | str, y_hi: float, title: str) -> list[str]:
    x0, x1, y0, y1 = _PAD_L, _W - _PAD_R, _H - _PAD_B, _PAD_T
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="#ffffff"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#888"/>',
        f'<text x="{x0}" y="{y0 + 14}" font-size="10" fill="#444">{escape(_label(x_lo))}</text>',
        f'<text x="{x1}" y="{y0 + 14}" font-size="10" fill="#444" text-anchor="end">{escape(_label(x_hi))}</text>',
        f'<text x="{x0 - 4}" y="{y1 + 8}" font-size="10" fill="#444" text-anchor="end">{escape(_fmt(y_hi))}</text>',
        f'<text x="{x0 - 4}" y="{y0}" font-size="10" fill="#444" text-anchor="end">0</text>',
    ]
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    for i, s in enumerate(series):
        x = _PAD_L + 8 + i * 120
        y = _H - 4
        parts.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 14}" y="{y + 1}" font-size="10" fill="#222">{escape(s.label)}</text>')
    return parts


def line_chart(series: Sequence[Series], title: str, y_max: float | None = None) -> str:
    """Step lines (for CDFs) sharing one x range."""
    finite = [s for s in series if s.x.size]
    if not finite:
        return empty_chart(title)
    x_lo = float(min(s.x.min() for s in finite))
    x_hi = float(max(s.x.max() for s in finite))
    y_hi = y_max if y_max is not None else float(max(s.y.max() for s in finite)) or 1.0
    parts = _frame(x_lo, x_hi, y_hi, title)
    for s in finite:
        xs = _scale(s.x, x_lo, x_hi, _PAD_L, _W - _PAD_R)
        ys = _scale(s.y, 0.0, y_hi, _H - _PAD_B, _PAD_T)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline fill="none" stroke="{s.color}" stroke-width="1.8" points="{points}"/>')
    parts.extend(_legend(finite))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(categories: Sequence[str], series: Sequence[Series], title: str,
              x_range: tuple[float, float] | None = None) -> str:
    """Grouped bars: one group per category, one bar per series (y = share).

    With ``x_range`` the groups are bins of a numeric axis from x_range[0] to x_range[1]; without it each
    group is labelled with its category name.
    """
    if not categories:
        return empty_chart(title)
    y_hi = float(max((float(s.y.max()) for s in series if s.y.size), default=1.0)) or 1.0
    x_lo, x_hi = x_range if x_range is not None else ("", "")
    parts = _frame(x_lo, x_hi, y_hi, title)
    inner_w = _W - _PAD_L - _PAD_R
    group_w = inner_w / len(categories)
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    for j, s in enumerate(series):
        for i, value in enumerate(s.y):
            h = (float(value) / y_hi) * (_H - _PAD_B - _PAD_T)
            x = _PAD_L + i * group_w + group_w * 0.1 + j * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{_H - _PAD_B - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.color}"><title>{escape(categories[i])}: {float(value):.4f}</title></rect>'
            )
    if x_range is None:
        for i, name in enumerate(categories):
            short = name if len(name) <= 10 else name[:9] + "…"
            x = _PAD_L + (i + 0.5) * group_w
            parts.append(f'<text x="{x:.1f}" y="{_H - _PAD_B + 12}" font-size="9" fill="#444" '
                         f'text-anchor="middle">{escape(short)}</text>')
    parts.extend(_legend(series))
    parts.append("</svg>")
    return "".join(parts)


def empty_chart(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" aria-label="{escape(title)}">'
        f'<rect width="{_W}" height="{_H}" fill="#fafafa" stroke="#ddd"/>'
        f'<text x="{_W / 2}" y="{_H / 2}" font-size="12" text-anchor="middle" fill="#888">no data</text></svg>'
    )
