"""The notebook views (``_repr_html_``) of baselines, results and reports: self-contained HTML (inline CSS and
SVG, no script, nothing fetched). A result's view is its summary table and the report of its windows
(`streamdrift.report.html.render_report`, the page ``streamdrift report`` writes) in a sandboxed frame."""

from __future__ import annotations

from html import escape
from typing import Any

import pyarrow as pa

from streamdrift.baseline.document import Baseline as BaselineDocument

__all__ = ["baseline_html", "framed", "table_html"]

_STYLE = ("border-collapse:collapse;font-size:12px;margin:4px 0", "border:1px solid #ddd;padding:2px 6px")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value)) or "–"
    return escape(str(value))


def table_html(table: pa.Table, max_rows: int = 50, highlight: str | None = None) -> str:
    """An HTML table of the first ``max_rows`` rows of ``table``; rows whose ``highlight`` column is true are
    shaded."""
    table_style, cell_style = _STYLE
    head = "".join(f'<th style="{cell_style};background:#f3f3f3">{escape(n)}</th>' for n in table.column_names)
    body = []
    for row in table.slice(0, max_rows).to_pylist():
        shade = ";background:#fde8e4" if highlight is not None and row.get(highlight) else ""
        body.append("<tr>" + "".join(f'<td style="{cell_style}{shade}">{_cell(v)}</td>' for v in row.values())
                    + "</tr>")
    more = (f"<p style=\"font-size:12px;color:#666\">… {table.num_rows - max_rows} more rows</p>"
            if table.num_rows > max_rows else "")
    return f'<table style="{table_style}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def baseline_html(document: BaselineDocument, statistics: pa.Table) -> str:
    """A baseline's header (model, id, records, roles) and its per-feature statistics."""
    roles = ", ".join(f"{k}={escape(v)}" for k, v in (("target", document.target),
                                                       ("prediction", document.prediction),
                                                       ("score", document.score)) if v)
    sections = ", ".join(k for k in ("model_quality", "bias", "attribution") if getattr(document, k) is not None)
    return (
        f"<div><b>streamdrift baseline</b> {escape(document.baseline_id)} · model {escape(document.model_id)} · "
        f"{document.profile.n_records} records · {len(document.profile.features)} features · created "
        f"{escape(document.created_at)}"
        + (f"<br>columns: {roles}" if roles else "")
        + (f"<br>monitor sections: {escape(sections)}" if sections else "")
        + table_html(statistics, max_rows=200, highlight=None) + "</div>"
    )


def framed(page: str, height: int = 640) -> str:
    """A whole HTML page inside a sandboxed ``iframe`` (its styles stay inside; no script runs)."""
    return (f'<iframe sandbox="" style="width:100%;height:{height}px;border:1px solid #ddd" '
            f'srcdoc="{escape(page, quote=True)}"></iframe>')
