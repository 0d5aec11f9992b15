"""The report's drift-over-time section as inline SVG (no script, nothing fetched), from
:mod:`streamdrift.report.timeseries` summaries, oldest window first:

- per feature, longest drifted first: the statistic per window (a line with a point per window, red where the
  window's verdict was drift), its threshold per window (a dashed step line: a calibrated threshold moves with
  the window's size), and the window's drift alerts marked above it (a red triangle pointing down where one was
  raised, a green one pointing up where one cleared, one under the other, each with its reference's letter: B
  the baseline, R the rolling reference, P the previous window, W the same hour last week);
- per model-quality metric present: the label-free estimate with its 95% band and the realised value once the
  labels came.

Windows are equally spaced (one slot each; the x labels give their starts). Past :data:`MAX_POINTS` windows,
consecutive windows share a slot: the slot shows its window with the largest statistic / threshold, is drifted
when any of them was, and carries all their alerts (the quality chart shows the slot's means). Each ``<svg>``
carries ``data-*`` attributes (``points``, ``drifted``, ``alerts``, ``cleared``, ``windows``) so tests and people
can check what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from streamdrift.report.svg import AXIS_COLOR, BASELINE_COLOR, GAP_COLOR, GRID_COLOR, WINDOW_COLOR, Canvas
from streamdrift.report.timeseries import FeaturePoint, WindowSummary, drifted_ms, feature_order

__all__ = ["MAX_POINTS", "drift_over_time_section"]

MAX_POINTS: Final[int] = 360
WIDTH: Final[float] = 1014
HEIGHT: Final[float] = 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 52.0, 14.0, 34.0, 34.0
OK_COLOR: Final[str] = "#2e8b57"
_THRESHOLD_COLOR: Final[str] = "#555"
# the reference an alert is about: its letter beside the marker, and its place in a slot's stack
_REFERENCES: Final[dict[str, tuple[str, int]]] = {"baseline_drift_check": ("B", 0), "rolling_drift_check": ("R", 1),
                                                  "previous_window_drift_check": ("P", 2),
                                                  "last_week_drift_check": ("W", 3)}


class _Plot(Canvas):
    """A canvas with the shapes the time series need beyond :class:`Canvas`'s."""

    def circle(self, x: float, y: float, r: float, fill: str, css_class: str, tip: str) -> None:
        self._parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:g}" fill="{fill}" class="{css_class}">'
                           f"<title>{escape(tip)}</title></circle>")

    def polygon(self, points: Sequence[tuple[float, float]], fill: str, css_class: str, opacity: float = 1.0,
                tip: str | None = None) -> None:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        inner = f"<title>{escape(tip)}</title>" if tip else ""
        self._parts.append(f'<polygon points="{pts}" fill="{fill}" fill-opacity="{opacity:g}" class="{css_class}">'
                           f"{inner}</polygon>")

    def steps(self, xs: Sequence[float], ys: Sequence[float], half: float, stroke: str, css_class: str) -> None:
        """A dashed step line: each value held across its slot (x +- half)."""
        path = " ".join(f"{'M' if i == 0 else 'L'}{x - half:.1f},{y:.1f} L{x + half:.1f},{y:.1f}"
                        for i, (x, y) in enumerate(zip(xs, ys, strict=True)))
        self._parts.append(f'<path d="{path}" fill="none" stroke="{stroke}" stroke-width="1.2" '
                           f'stroke-dasharray="4 3" class="{css_class}"/>')


@dataclass(frozen=True)
class _Slot:
    """One x position: one window, or consecutive windows sharing it (past MAX_POINTS)."""

    first: WindowSummary
    windows: tuple[WindowSummary, ...]

    @property
    def label(self) -> str:
        return self.first.label if len(self.windows) == 1 else f"{self.first.label} (+{len(self.windows) - 1})"


def _slots(summaries: Sequence[WindowSummary], max_points: int) -> list[_Slot]:
    per = max(1, -(-len(summaries) // max_points))
    return [_Slot(summaries[i], tuple(summaries[i:i + per])) for i in range(0, len(summaries), per)]


def _ratio(p: FeaturePoint) -> float:
    return p.value / p.threshold if p.threshold > 0 else p.value


def _short(label: str) -> str:
    """``2025-12-01T03:00:00+00:00 (700 records)`` -> ``2025-12-01 03:00`` (UTC labels)."""
    text = label.split(" ")[0].replace("T", " ").removesuffix("Z").removesuffix("+00:00").removesuffix(".000")
    return text.removesuffix(":00") if text.count(":") == 2 else text


def _x_axis(canvas: Canvas, slots: Sequence[_Slot], xs: Sequence[float], bottom: float) -> None:
    canvas.line(_LEFT, bottom, WIDTH - _RIGHT, bottom)
    n = len(slots)
    shown = sorted({0, n - 1, *(round(i * (n - 1) / 4) for i in range(1, 4))}) if n > 1 else [0]
    for i in shown:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        canvas.line(xs[i], bottom, xs[i], bottom + 4)
        canvas.text(xs[i], bottom + 15, _short(slots[i].first.label), size=9, anchor=anchor, css_class="x-label")


def _y_axis(canvas: Canvas, top: float, bottom: float, lo: float, hi: float) -> None:
    canvas.line(_LEFT, top, _LEFT, bottom)
    for k in range(5):
        value = lo + (hi - lo) * k / 4
        y = bottom - (value - lo) / (hi - lo) * (bottom - top)
        if k:
            canvas.line(_LEFT, y, WIDTH - _RIGHT, y, GRID_COLOR)
        canvas.text(_LEFT - 4, y + 3, f"{value:.3g}", anchor="end")


def _xs(n: int) -> tuple[list[float], float]:
    slot = (WIDTH - _LEFT - _RIGHT) / max(n, 1)
    return [_LEFT + (i + 0.5) * slot for i in range(n)], slot / 2


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:.3g} {unit}"
    return f"{ms} ms"


def feature_chart(name: str, summaries: Sequence[WindowSummary], max_points: int = MAX_POINTS) -> str:
    """One feature's statistic, threshold and alerts per window (see the module docs)."""
    slots = _slots(summaries, max_points)
    points: list[tuple[int, FeaturePoint, bool]] = []  # (slot, the slot's worst point, any drifted)
    for i, slot in enumerate(slots):
        present = [p for s in slot.windows if (p := s.features.get(name)) is not None]
        if present:
            points.append((i, max(present, key=_ratio), any(p.drifted for p in present)))
    alerts = [(i, check, st) for i, slot in enumerate(slots) for s in slot.windows for check, st in s.alerts.get(name, ())]
    raised = [a for a in alerts if a[2] == "raised"]
    cleared = [a for a in alerts if a[2] == "cleared"]
    n_drifted = sum(1 for s in summaries if (p := s.features.get(name)) is not None and p.drifted)
    statistics = sorted({p.statistic for _, p, _ in points})
    title = (f"{name}: {', '.join(statistics) or 'not tested'} per window · drifted in {n_drifted} of "
             f"{len(summaries)} windows" + (f" ({_duration(drifted_ms(summaries, name))})" if n_drifted else ""))
    canvas = _Plot(WIDTH, HEIGHT, title, "chart timeseries",
                   {"chart": "timeseries", "feature": name, "points": len(points), "windows": len(summaries),
                    "drifted": n_drifted, "alerts": len(raised), "cleared": len(cleared)})
    canvas.text(_LEFT, 14, title, size=11, bold=True, fill="#222", css_class="title")
    canvas.legend(WIDTH - 230, 14, (("statistic", WINDOW_COLOR), ("threshold", _THRESHOLD_COLOR),
                                    ("drift", GAP_COLOR)))
    top, bottom = _TOP, HEIGHT - _BOTTOM
    stack = max([sum(1 for a in alerts if a[0] == i) for i in {a[0] for a in alerts}] + [0])
    # headroom for the tallest stack of alert markers (10 px each) above the highest point
    headroom = 1.12 / max(0.4, 1.0 - 10.0 * max(stack - 1, 0) / (HEIGHT - _BOTTOM - _TOP))
    hi = max([p.value for _, p, _ in points] + [p.threshold for _, p, _ in points] + [1e-9]) * headroom
    _y_axis(canvas, top, bottom, 0.0, hi)
    xs, half = _xs(len(slots))
    _x_axis(canvas, slots, xs, bottom)

    def y(value: float) -> float:
        return bottom - min(max(value, 0.0), hi) / hi * (bottom - top)

    if not points:
        canvas.text(WIDTH / 2, (top + bottom) / 2, "not tested in any window", size=12, anchor="middle",
                    fill=AXIS_COLOR)
        return canvas.render()
    canvas.steps([xs[i] for i, _, _ in points], [y(p.threshold) for _, p, _ in points], half, _THRESHOLD_COLOR,
                 "threshold")
    canvas.polyline([xs[i] for i, _, _ in points], [y(p.value) for _, p, _ in points], WINDOW_COLOR, 1.4,
                    css_class="series")
    radius = 3.2 if len(slots) <= 120 else 2.2
    for i, p, drifted in points:
        tip = (f"{slots[i].label}: {p.statistic} {p.value:.4g}, threshold {p.threshold:.4g}"
               f"{' · DRIFT' if drifted else ''}")
        canvas.circle(xs[i], y(p.value), radius, GAP_COLOR if drifted else WINDOW_COLOR,
                      "point drift" if drifted else "point", tip)
    stacked: dict[int, int] = {}  # a slot's alerts one under the other, each with its reference's letter
    for i, check, status in sorted(alerts, key=lambda a: (a[0], _REFERENCES.get(a[1], ("?", 9))[1], a[2])):
        x, k = xs[i], stacked.get(i, 0)
        stacked[i] = k + 1
        y0 = top - 2 + 10 * k
        up = status == "cleared"
        shape = [(x - 5, y0 + 9), (x + 5, y0 + 9), (x, y0)] if up else [(x - 5, y0), (x + 5, y0), (x, y0 + 9)]
        letter, _ = _REFERENCES.get(check, ("?", 9))
        canvas.polygon(shape, OK_COLOR if up else GAP_COLOR, f"alert {status} {check}",
                       tip=f"{slots[i].label}: {check} {status}")
        canvas.text(x + 7, y0 + 8, letter, size=8, fill=OK_COLOR if up else GAP_COLOR, bold=True, css_class="alert-ref")
    return canvas.render()


def quality_chart(metric: str, summaries: Sequence[WindowSummary], max_points: int = MAX_POINTS) -> str:
    """A model-quality metric per window: estimate (95% band) and realised (see the module docs)."""
    slots = _slots(summaries, max_points)
    xs, _ = _xs(len(slots))
    est: list[tuple[int, float, float | None]] = []
    real: list[tuple[int, float]] = []
    for i, slot in enumerate(slots):
        qs = [q for s in slot.windows if (q := s.quality.get(metric)) is not None]
        e = [q.estimated for q in qs if q.estimated is not None]
        se = [q.standard_error for q in qs if q.standard_error is not None]
        r = [q.realised for q in qs if q.realised is not None]
        if e:
            est.append((i, sum(e) / len(e), sum(se) / len(se) if se else None))
        if r:
            real.append((i, sum(r) / len(r)))
    title = f"{metric}: estimated (no labels, 95% band) and realised per window"
    canvas = _Plot(WIDTH, HEIGHT, title, "chart quality-timeseries",
                   {"chart": "quality-timeseries", "metric": metric, "estimated": len(est), "realised": len(real),
                    "windows": len(summaries)})
    canvas.text(_LEFT, 14, title, size=11, bold=True, fill="#222", css_class="title")
    canvas.legend(WIDTH - 200, 14, (("estimated", BASELINE_COLOR), ("realised", WINDOW_COLOR)))
    top, bottom = _TOP, HEIGHT - _BOTTOM
    values = [v for _, v, _ in est] + [v for _, v in real]
    values += [v + s * sign * 1.96 for _, v, s in est if s is not None for sign in (-1, 1)]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.1, 0.01)
    lo, hi = lo - pad, hi + pad
    _y_axis(canvas, top, bottom, lo, hi)
    _x_axis(canvas, slots, xs, bottom)

    def y(value: float) -> float:
        return bottom - (value - lo) / (hi - lo) * (bottom - top)

    band = [(i, v, s) for i, v, s in est if s is not None]
    if band:
        upper = [(xs[i], y(v + 1.96 * s)) for i, v, s in band]
        lower = [(xs[i], y(v - 1.96 * s)) for i, v, s in reversed(band)]
        canvas.polygon(upper + lower, BASELINE_COLOR, "band", 0.15)
    if est:
        canvas.polyline([xs[i] for i, _, _ in est], [y(v) for _, v, _ in est], BASELINE_COLOR, 1.6,
                        css_class="estimated")
    if real:
        canvas.polyline([xs[i] for i, _ in real], [y(v) for _, v in real], WINDOW_COLOR, 1.6, css_class="realised")
        for i, v in real:
            canvas.circle(xs[i], y(v), 2.6, WINDOW_COLOR, "point realised", f"{slots[i].label}: realised {v:.4f}")
    return canvas.render()


def _quality_metrics(summaries: Sequence[WindowSummary]) -> list[str]:
    found = {m for s in summaries for m in s.quality}
    first = [m for m in ("accuracy", "f1", "auc", "rmse", "mae") if m in found]
    return (first + sorted(found - set(first)))[:3]


def drift_over_time_section(summaries: Sequence[WindowSummary], max_points: int = MAX_POINTS) -> str:
    """The report's "Drift over time" section (empty for fewer than two windows)."""
    if len(summaries) < 2:
        return ""
    ordered = sorted(summaries, key=lambda s: s.start_ms)
    names = feature_order(ordered)
    quality = "".join(quality_chart(m, ordered, max_points) for m in _quality_metrics(ordered))
    charts = "".join(f'<div class="over-time-feature" data-feature="{escape(n)}">{feature_chart(n, ordered, max_points)}'
                     "</div>" for n in names)
    first, last = ordered[0], ordered[-1]
    note = (f"{len(ordered)} windows from {escape(_short(first.label))} to {escape(_short(last.label))}; features "
            "sorted by how long they drifted; dashed: threshold; red points: drift; triangles: alerts raised (red) "
            "and cleared (green) against the baseline (B), the rolling reference (R), the previous window (P) or the "
            "same hour last week (W)" + (f"; {-(-len(ordered) // max_points)} windows per point" if len(ordered) > max_points
                                    else ""))
    return (f'<section class="over-time"><style>.over-time svg{{margin:4px 0;border:1px solid #eee}}</style>'
            f'<h2>Drift over time</h2><p class="meta">{note}</p>'
            + (f'<h3>Model quality over time</h3><div class="over-time-quality">{quality}</div>' if quality else "")
            + f'<h3>Features, longest drifted first</h3>{charts}</section>')
