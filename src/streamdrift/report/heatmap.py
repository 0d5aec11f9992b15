"""The segment x feature heat map of a window's drift statistic (which slices drift, at a glance): an HTML table
whose cells are shaded by the statistic, drifted cells marked. It reads the segments monitor's summary
(``heatmap``: statistic, features, segments, values, drifted; :mod:`streamdrift.monitors.segments.monitor`), the
same JSON ``/status/<model>`` serves; no drift logic here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

HEATMAP_CSS = """
table.heatmap td{text-align:right;font-variant-numeric:tabular-nums}
table.heatmap td.drift{outline:2px solid #c0392b;outline-offset:-2px;font-weight:bold}
"""


def _shade(value: float, top: float) -> str:
    """White (0) to red (the map's largest value)."""
    share = 0.0 if top <= 0 else min(max(value / top, 0.0), 1.0)
    green_blue = round(255 - 175 * share)
    return f"background:rgb(255,{green_blue},{green_blue})"


def segment_heatmap(summary: Mapping[str, Any] | None) -> str:
    """The heat map of a segments summary, or "" when there is none (no segments, or none tested)."""
    heat = (summary or {}).get("heatmap") or {}
    features = [str(f) for f in heat.get("features", ())]
    segments = [str(s) for s in heat.get("segments", ())]
    values = heat.get("values") or []
    if not features or not segments:
        return ""
    drifted = {s: set(fs) for s, fs in (heat.get("drifted") or {}).items()}
    finite = [float(v) for row in values for v in row if isinstance(v, int | float) and math.isfinite(v)]
    top = max(finite, default=0.0)
    head = "".join(f"<th>{escape(f)}</th>" for f in features)
    rows = []
    for segment, row in zip(segments, values, strict=False):
        cells = []
        for feature, value in zip(features, row, strict=False):
            if not isinstance(value, int | float) or not math.isfinite(value):
                cells.append("<td>-</td>")
                continue
            marked = feature in drifted.get(segment, ())
            cells.append(f'<td class="{"drift" if marked else "cell"}" style="{_shade(float(value), top)}" '
                         f'title="{escape(segment)} · {escape(feature)}">{float(value):.3f}</td>')
        rows.append(f"<tr><th>{escape(segment)}</th>{''.join(cells)}</tr>")
    by = ", ".join(escape(str(b)) for b in (summary or {}).get("by", ()))
    new = (summary or {}).get("new") or []
    note = f" · new since the baseline (compared with the whole): {escape(', '.join(map(str, new)))}" if new else ""
    pooled = int((summary or {}).get("pooled_rows", 0))
    note += f" · {pooled} rows of further segments pooled as _other" if pooled else ""
    return (f'<h3>Segments by {by}: {escape(str(heat.get("statistic", "")))} per segment and feature</h3>'
            f'<p class="meta">drifted cells outlined{note}</p>'
            f'<style>{HEATMAP_CSS}</style><table class="heatmap"><thead><tr><th>segment</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
