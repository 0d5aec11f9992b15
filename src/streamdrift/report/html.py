"""A self-contained HTML drift report: per feature, the baseline and window distributions (CDF and
histogram), the statistic, threshold and verdict; features sorted by drift; data-quality violations and
model-quality metrics. Pure rendering: no I/O, no Kafka; the page needs no network to be viewed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
from numpy.typing import NDArray

from streamdrift import __version__
from streamdrift.baseline.baseline import Baseline
from streamdrift.monitors.data_quality.evaluation import FeatureResult, WindowEvaluation
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile
from streamdrift.report.svg import BASELINE_COLOR, WINDOW_COLOR, Series, bar_chart, empty_chart, line_chart

_CDF_POINTS = 64
_HIST_BINS = 20
_TOP_CATEGORIES = 12


@dataclass(frozen=True)
class ReportWindow:
    """One evaluated window: its label (e.g. its start time), profile and evaluation."""

    label: str
    profile: DatasetProfile
    evaluation: WindowEvaluation
    model_quality: Mapping[str, float] = field(default_factory=dict)


def _drift_rank(result: FeatureResult) -> tuple[int, float]:
    excess = result.value / result.threshold if result.threshold > 0 else result.value
    return (0 if result.drifted else 1, -excess)


def _numeric_charts(name: str, base: FeatureProfile, window: FeatureProfile) -> str:
    b, w = base.numeric.kll, window.numeric.kll
    if b.is_empty or w.is_empty:
        return empty_chart(f"{name} CDF") + empty_chart(f"{name} histogram")
    lo, hi = min(b.min, w.min), max(b.max, w.max)
    if hi <= lo:
        hi = lo + 1.0
    grid = np.linspace(lo, hi, _CDF_POINTS)
    # KllSketch.cdf returns one value per point plus the final 1.0.
    cdf = line_chart(
        [Series("baseline", grid, b.cdf(grid)[: grid.size], BASELINE_COLOR),
         Series("window", grid, w.cdf(grid)[: grid.size], WINDOW_COLOR)],
        f"{name} CDF", y_max=1.0,
    )
    edges = np.linspace(lo, hi, _HIST_BINS + 1)
    inner = edges[1:-1]

    def shares(sketch_cdf: NDArray[np.float64]) -> NDArray[np.float64]:
        # cdf at the inner edges (plus datasketches' final 1.0) -> the share of each bin
        full = np.concatenate(([0.0], sketch_cdf[: inner.size], [1.0]))
        return np.diff(full)

    centers = np.arange(_HIST_BINS, dtype=np.float64)
    labels = [f"{edges[i]:.3g}..{edges[i + 1]:.3g}" for i in range(_HIST_BINS)]
    hist = bar_chart(
        labels,
        [Series("baseline", centers, shares(b.cdf(inner)), BASELINE_COLOR),
         Series("window", centers, shares(w.cdf(inner)), WINDOW_COLOR)],
        f"{name} histogram",
        x_range=(lo, hi),
    )
    return cdf + hist


def _categorical_chart(name: str, base: FeatureProfile, window: FeatureProfile) -> str:
    bf, wf = base.categorical.frequencies(), window.categorical.frequencies()
    b_total, w_total = sum(bf.values()) or 1, sum(wf.values()) or 1
    ordered = sorted(set(bf) | set(wf), key=lambda c: -(bf.get(c, 0) / b_total + wf.get(c, 0) / w_total))
    top = ordered[:_TOP_CATEGORIES]
    idx = np.arange(len(top), dtype=np.float64)
    return bar_chart(
        top,
        [Series("baseline", idx, np.array([bf.get(c, 0) / b_total for c in top]), BASELINE_COLOR),
         Series("window", idx, np.array([wf.get(c, 0) / w_total for c in top]), WINDOW_COLOR)],
        f"{name} categories",
    )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _feature_section(result: FeatureResult, baseline: DatasetProfile, window: DatasetProfile) -> str:
    name = result.feature
    base, win = baseline.features.get(name), window.features.get(name)
    if base is None or win is None:
        charts = empty_chart(name)
    elif result.kind == "numeric":
        charts = _numeric_charts(name, base, win)
    else:
        charts = _categorical_chart(name, base, win)
    verdict = '<span class="bad">DRIFT</span>' if result.drifted else '<span class="ok">ok</span>'
    secondary = ", ".join(f"{escape(k)}={v:.4g}" for k, v in sorted(result.secondary.items()))
    return (
        f'<section class="feature" id="f-{escape(name)}"><h3>{escape(name)} {verdict}</h3>'
        f'<p class="stats">{escape(result.kind)} · {escape(result.statistic)} = <b>{result.value:.4f}</b>'
        f" · threshold {result.threshold:.4f} · p-value {_fmt(result.p_value)}"
        f" · n(window) {result.n_window} · n(baseline) {result.n_baseline}"
        + (f"<br><small>{secondary}</small>" if secondary else "")
        + f'</p><div class="charts">{charts}</div></section>'
    )


def _summary_table(results: Sequence[FeatureResult]) -> str:
    rows = "".join(
        f'<tr class="{"drift" if r.drifted else ""}"><td><a href="#f-{escape(r.feature)}">{escape(r.feature)}</a></td>'
        f"<td>{escape(r.kind)}</td><td>{escape(r.statistic)}</td><td>{r.value:.4f}</td><td>{r.threshold:.4f}</td>"
        f"<td>{_fmt(r.p_value)}</td><td>{'drift' if r.drifted else 'ok'}</td></tr>"
        for r in results
    )
    return (
        "<table><thead><tr><th>feature</th><th>kind</th><th>statistic</th><th>value</th><th>threshold</th>"
        f"<th>p-value</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _violations_table(evaluation: WindowEvaluation) -> str:
    if not evaluation.violations:
        return "<p>No constraint violations.</p>"
    rows = "".join(
        f"<tr><td>{escape(v.monitor)}</td><td>{escape(v.check)}</td><td>{escape(v.subject)}</td>"
        f"<td>{_fmt(v.value)}</td><td>{_fmt(v.threshold)}</td><td>{escape(v.description)}</td></tr>"
        for v in evaluation.violations
    )
    return (
        "<table><thead><tr><th>monitor</th><th>check</th><th>feature / metric</th><th>value</th>"
        f"<th>threshold</th><th>description</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _quality_table(metrics: Mapping[str, float]) -> str:
    if not metrics:
        return ""
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(metrics.items()))
    return f"<h3>Model quality</h3><table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"


def _window_section(index: int, window: ReportWindow, baseline: Baseline) -> str:
    ev = window.evaluation
    ordered = sorted(ev.results, key=_drift_rank)
    n_drift = sum(r.drifted for r in ev.results)
    features = "".join(_feature_section(r, baseline.profile, window.profile) for r in ordered)
    skipped = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(ev.skipped.items()))
    return (
        f'<details class="window" {"open" if index == 0 else ""}><summary><b>{escape(window.label)}</b> · '
        f"{ev.n_window} records · {n_drift} drifted feature(s) · {len(ev.violations)} violation(s) · "
        f"method {escape(ev.method)}</summary>"
        f"<h3>Features, most drifted first</h3>{_summary_table(ordered)}"
        f"<h3>Data-quality checks</h3>{_violations_table(ev)}"
        f"{_quality_table(window.model_quality)}"
        + (f"<h3>Not tested</h3><ul>{skipped}</ul>" if skipped else "")
        + f"{features}</details>"
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin-bottom:4px} h3{margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left} th{background:#f3f3f3}
tr.drift td{background:#fde8e4}
.bad{color:#fff;background:#c0392b;border-radius:3px;padding:0 6px;font-size:12px}
.ok{color:#fff;background:#2e8b57;border-radius:3px;padding:0 6px;font-size:12px}
.feature{border-top:1px solid #eee;padding-top:6px} .charts svg{margin-right:12px;border:1px solid #eee}
.stats{font-size:13px;margin:2px 0} details.window{margin:10px 0;padding:6px 10px;border:1px solid #ccc;border-radius:4px}
.meta{color:#666;font-size:13px}
"""


def render_report(baseline: Baseline, windows: Sequence[ReportWindow], title: str | None = None) -> str:
    """The whole report as one HTML string (inline CSS and SVG only)."""
    heading = title or f"streamdrift report: {baseline.model_id}"
    total_drift = sum(len(w.evaluation.drifted) for w in windows)
    body = "".join(_window_section(i, w, baseline) for i, w in enumerate(windows)) or "<p>No window to show.</p>"
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(heading)}</h1>"
        f'<p class="meta">baseline {escape(baseline.baseline_id)} ({baseline.profile.n_records} records, created '
        f"{escape(baseline.created_at)}) · {len(windows)} window(s) · {total_drift} drifted feature-window(s) · "
        f"streamdrift {escape(__version__)}</p>"
        f"{body}</body></html>"
    )
