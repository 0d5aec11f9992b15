"""Minimal inline-SVG drawing for the self-contained HTML report (no JavaScript, no network): a canvas that
collects escaped elements, and the report's colours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

BASELINE_COLOR: Final[str] = "#4c72b0"
WINDOW_COLOR: Final[str] = "#dd8452"
GAP_COLOR: Final[str] = "#c0392b"
GAP_FILL: Final[str] = "#fde3de"
NEUTRAL_GAP_COLOR: Final[str] = "#6b6b6b"
NEUTRAL_GAP_FILL: Final[str] = "#f1efe6"
TAIL_FILL: Final[str] = "#efefef"
AXIS_COLOR: Final[str] = "#888"
GRID_COLOR: Final[str] = "#e6e6e6"
TEXT_COLOR: Final[str] = "#444"


def _attrs(values: Mapping[str, object]) -> str:
    return "".join(f' {k}="{escape(str(v))}"' for k, v in values.items() if v is not None)


class Canvas:
    """One ``<svg>`` element: add shapes, then :meth:`render`. Coordinates are pixels from the top left."""

    def __init__(self, width: float, height: float, label: str, css_class: str = "chart",
                 data: Mapping[str, object] | None = None) -> None:
        self.width, self.height = width, height
        data_attrs = {f"data-{k}": v for k, v in (data or {}).items()}
        self._open = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
                      f'viewBox="0 0 {width:g} {height:g}" role="img"'
                      f"{_attrs({'aria-label': label, 'class': css_class, **data_attrs})}>")
        self._parts: list[str] = [f'<rect x="0" y="0" width="{width:g}" height="{height:g}" fill="#ffffff"/>']

    def rect(self, x: float, y: float, w: float, h: float, fill: str, *, css_class: str | None = None,
             tip: str | None = None, stroke: str | None = None, data: Mapping[str, object] | None = None) -> None:
        attrs = _attrs({"class": css_class, "stroke": stroke, **{f"data-{k}": v for k, v in (data or {}).items()}})
        close = f"><title>{escape(tip)}</title></rect>" if tip else "/>"
        self._parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{max(h, 0.0):.1f}" '
                           f'fill="{fill}"{attrs}{close}')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = AXIS_COLOR, width: float = 1.0,
             dash: str | None = None, css_class: str | None = None) -> None:
        attrs = _attrs({"stroke-dasharray": dash, "class": css_class})
        self._parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
                           f'stroke-width="{width:g}"{attrs}/>')

    def text(self, x: float, y: float, content: str, *, size: float = 10, anchor: str = "start",
             fill: str = TEXT_COLOR, bold: bool = False, css_class: str | None = None, tip: str | None = None) -> None:
        attrs = _attrs({"text-anchor": anchor, "font-weight": "bold" if bold else None, "class": css_class})
        inner = escape(content) + (f"<title>{escape(tip)}</title>" if tip else "")
        self._parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" fill="{fill}"{attrs}>{inner}</text>')

    def polyline(self, xs: Sequence[float], ys: Sequence[float], stroke: str, width: float = 1.8,
                 css_class: str | None = None) -> None:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        self._parts.append(f'<polyline fill="none" stroke="{stroke}" stroke-width="{width:g}"'
                           f'{_attrs({"class": css_class})} points="{points}"/>')

    def legend(self, x: float, y: float, entries: Sequence[tuple[str, str]]) -> None:
        """Colour swatches with labels, left to right from (x, y) (y is the text baseline)."""
        for label, color in entries:
            self.rect(x, y - 8, 10, 10, color)
            self.text(x + 14, y + 1, label, fill="#222")
            x += 22 + 6.2 * len(label)

    def render(self) -> str:
        return self._open + "".join(self._parts) + "</svg>"


def empty_chart(title: str, width: float = 360, height: float = 120, message: str = "no data") -> str:
    canvas = Canvas(width, height, title, "chart empty")
    canvas.rect(0.5, 0.5, width - 1, height - 1, "#fafafa", stroke="#ddd")
    canvas.text(width / 2, height / 2, message, size=12, anchor="middle", fill=AXIS_COLOR)
    return canvas.render()
