"""A self-contained HTML drift report: per feature, the baseline and window distributions (charts in
:mod:`streamdrift.report.charts`, what they show chosen in :mod:`streamdrift.report.chartdata`), the statistic,
threshold and verdict read from the evaluation; features sorted by drift, then the untested ones with the
evaluation's reason (identifier-like ones without charts) and the baseline's unprofiled columns (time, declared
id, excluded) with their role; data-quality violations and model-quality metrics. Pure rendering: no I/O, no
Kafka; the page needs no network to be viewed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from streamdrift import __version__
from streamdrift.baseline.baseline import Baseline
from streamdrift.monitors.data_quality.evaluation import FeatureResult, WindowEvaluation
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile
from streamdrift.report.chartdata import BarsView, categorical_view, numeric_view
from streamdrift.report.charts import category_bars_chart, cdf_chart, quantile_bins_chart, value_bars_chart
from streamdrift.report.heatmap import segment_heatmap
from streamdrift.report.svg import empty_chart
from streamdrift.report.timecharts import drift_over_time_section
from streamdrift.report.timeseries import WindowSummary


@dataclass(frozen=True)
class ReportWindow:
    """One evaluated window: its label (e.g. its start time), profile and evaluation."""

    label: str
    profile: DatasetProfile
    evaluation: WindowEvaluation
    model_quality: Mapping[str, float] = field(default_factory=dict)
    # summaries of the label-free monitors by kind ("estimated_performance", "multivariate"), when they ran
    label_free: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _drift_rank(result: FeatureResult) -> tuple[int, float]:
    excess = result.value / result.threshold if result.threshold > 0 else result.value
    return (0 if result.drifted else 1, -excess)


def _numeric_charts(name: str, base: FeatureProfile, window: FeatureProfile, drifted: bool) -> tuple[str, str]:
    view = numeric_view(base.numeric.kll, window.numeric.kll)
    if view is None:
        return "", empty_chart(f"{name}: no numeric values in the baseline or the window")
    if isinstance(view, BarsView):  # its note is in the chart
        return "", value_bars_chart(view, f"{name}: share per value", drifted)
    return view.note, (cdf_chart(view, f"{name}: CDF", drifted)
                       + quantile_bins_chart(view, f"{name}: share per bin", drifted))


def _categorical_chart(name: str, base: FeatureProfile, window: FeatureProfile, drifted: bool) -> tuple[str, str]:
    view = categorical_view(base.categorical, window.categorical)
    if view is None:
        return "", empty_chart(f"{name}: no categorical values in the baseline or the window")
    return "", category_bars_chart(view, f"{name}: share per category", drifted)


def _charts(name: str, kind: str, baseline: DatasetProfile, window: DatasetProfile,
            drifted: bool = False) -> tuple[str, str]:
    """(axis note, charts) of one feature; ``drifted`` (the evaluation's verdict) colours the largest gaps."""
    base, win = baseline.features.get(name), window.features.get(name)
    if base is None or win is None:
        return "", empty_chart(name, message="not in the window")
    if kind == "numeric":
        return _numeric_charts(name, base, win, drifted)
    return _categorical_chart(name, base, win, drifted)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _feature_section(result: FeatureResult, baseline: DatasetProfile, window: DatasetProfile) -> str:
    name = result.feature
    note, charts = _charts(name, result.kind, baseline, window, result.drifted)
    verdict = '<span class="bad">DRIFT</span>' if result.drifted else '<span class="ok">ok</span>'
    secondary = ", ".join(f"{escape(k)}={v:.4g}" for k, v in sorted(result.secondary.items()))
    return (
        f'<section class="feature" id="f-{escape(name)}"><h3>{escape(name)} {verdict}</h3>'
        f'<p class="stats">{escape(result.kind)} · {escape(result.statistic)} = <b>{result.value:.4f}</b>'
        f" · threshold {result.threshold:.4f} · p-value {_fmt(result.p_value)}"
        f" · n(window) {result.n_window} · n(baseline) {result.n_baseline}"
        + (f"<br><small>{secondary}</small>" if secondary else "")
        + "</p>" + (f'<p class="axis">{escape(note)}</p>' if note else "")
        + f'<div class="charts">{charts}</div></section>'
    )


def _untested_section(name: str, reason: str, baseline: Baseline, window: DatasetProfile) -> str:
    """A feature the evaluation did not test: why, and its distributions unless it is identifier-like (or has
    no type to chart)."""
    constraint = baseline.constraints.features.get(name)
    kind = None
    if constraint is not None and constraint.skip_drift is None:
        kind = ("numeric" if constraint.inferred_type.is_numeric else
                "categorical" if constraint.inferred_type.is_categorical else None)
    note, charts = _charts(name, kind, baseline.profile, window) if kind is not None else ("", "")
    if constraint is not None and constraint.skip_drift is not None and constraint.skip_drift not in reason:
        reason = f"{reason} (baseline: {constraint.skip_drift})"
    return (
        f'<section class="feature untested" id="f-{escape(name)}"><h3>{escape(name)} '
        f'<span class="skip">not tested</span></h3><p class="stats">{escape(reason)}</p>'
        + (f'<p class="axis">{escape(note)}</p>' if note else "")
        + (f'<div class="charts">{charts}</div>' if charts else "") + "</section>"
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


def _estimate_table(window: ReportWindow) -> str:
    """Estimated performance (no labels) of a window: estimate, 95% interval, baseline, and the realised value
    when the labels came."""
    est = window.label_free.get("estimated_performance")
    if not est or not est.get("metrics"):
        return ""
    checks = {c["metric"]: c for c in est.get("checks", [])}
    rows = []
    for metric, value in sorted(est["metrics"].items()):
        se = est.get("standard_errors", {}).get(metric)
        interval = f"{value - 1.96 * se:.4f} – {value + 1.96 * se:.4f}" if se is not None else "–"
        check = checks.get(metric, {})
        drift = bool(check.get("drifted"))
        realised = window.model_quality.get(metric)
        rows.append(f'<tr class="{"drift" if drift else ""}" data-metric="{escape(metric)}"><td>{escape(metric)}</td>'
                    f"<td>{value:.4f}</td><td>{interval}</td><td>{_fmt(check.get('baseline_value'))}</td>"
                    f"<td>{_fmt(check.get('threshold'))}</td><td>{_fmt(realised)}</td>"
                    f"<td>{'drift' if drift else 'ok'}</td></tr>")
    return ("<h3>Estimated performance (from calibrated scores, no labels)</h3><table class=\"estimated\"><thead><tr>"
            "<th>metric</th><th>estimate</th><th>95% interval</th><th>baseline</th><th>threshold</th>"
            f"<th>realised</th><th>verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _multivariate_table(window: ReportWindow) -> str:
    mv = window.label_free.get("multivariate")
    if not mv or "ks_distance" not in mv:
        return ""
    quantiles = ", ".join(f"{escape(q)}: {v:.4g}" for q, v in mv.get("quantiles", {}).items())
    verdict = '<span class="bad">DRIFT</span>' if mv.get("drifted") else '<span class="ok">ok</span>'
    return (f"<h3>Multivariate drift (PCA reconstruction error) {verdict}</h3>"
            f'<p class="stats multivariate">KS D = <b>{mv["ks_distance"]:.4f}</b> · threshold '
            f"{mv['ks_threshold']:.4f} · p-value {_fmt(mv.get('ks_p_value'))} · mean {_fmt(mv.get('mean'))} vs "
            f"baseline {_fmt(mv.get('baseline_mean'))} (p-value {_fmt(mv.get('mean_p_value'))}) · window quantiles "
            f"{quantiles}</p>")


def _estimate_overview(windows: Sequence[ReportWindow]) -> str:
    """Estimated against realised accuracy over the windows (realised only where labels came)."""
    rows = []
    for w in windows:
        est = w.label_free.get("estimated_performance") or {}
        value = (est.get("metrics") or {}).get("accuracy")
        if value is None:
            continue
        se = (est.get("standard_errors") or {}).get("accuracy")
        rows.append(f"<tr><td>{escape(w.label)}</td><td>{value:.4f}</td><td>{_fmt(se)}</td>"
                    f"<td>{_fmt(w.model_quality.get('accuracy'))}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Estimated vs realised accuracy</h2><table class=\"overview\"><thead><tr><th>window</th>"
            "<th>estimated</th><th>standard error</th><th>realised</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _window_section(index: int, window: ReportWindow, baseline: Baseline) -> str:
    ev = window.evaluation
    ordered = sorted(ev.results, key=_drift_rank)
    n_drift = sum(r.drifted for r in ev.results)
    features = "".join(_feature_section(r, baseline.profile, window.profile) for r in ordered)
    features += "".join(_untested_section(k, v, baseline, window.profile) for k, v in sorted(ev.skipped.items()))
    skipped = "".join(f'<li><a href="#f-{escape(k)}">{escape(k)}</a>: {escape(v)}</li>'
                      for k, v in sorted(ev.skipped.items()))
    skipped += "".join(f"<li>{escape(name)} ({escape(role.role)}): {escape(role.reason)}</li>"
                       for name, role in baseline.column_roles.items() if name in baseline.unprofiled_columns)
    return (
        f'<details class="window" {"open" if index == 0 else ""}><summary><b>{escape(window.label)}</b> · '
        f"{ev.n_window} records · {n_drift} drifted feature(s) · {len(ev.violations)} violation(s) · "
        f"method {escape(ev.method)}</summary>"
        f"<h3>Features, most drifted first</h3>{_summary_table(ordered)}"
        f"<h3>Data-quality checks</h3>{_violations_table(ev)}"
        f"{_quality_table(window.model_quality)}{_estimate_table(window)}{_multivariate_table(window)}"
        f"{segment_heatmap(window.label_free.get('segments'))}"
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
.feature{border-top:1px solid #eee;padding-top:6px} .charts svg{margin:0 12px 8px 0;border:1px solid #eee}
.skip{color:#fff;background:#888;border-radius:3px;padding:0 6px;font-size:12px}
.axis{font-size:12px;color:#555;margin:2px 0 6px}
.stats{font-size:13px;margin:2px 0} details.window{margin:10px 0;padding:6px 10px;border:1px solid #ccc;border-radius:4px}
.meta{color:#666;font-size:13px}
"""


def render_report(baseline: Baseline, windows: Sequence[ReportWindow], title: str | None = None,
                  over_time: Sequence[WindowSummary] = ()) -> str:
    """The whole report as one HTML string (inline CSS and SVG only). ``over_time``: the summaries of every
    window of the span, for the drift-over-time charts (:mod:`streamdrift.report.timecharts`)."""
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
        f"{drift_over_time_section(over_time)}{_estimate_overview(windows)}{body}</body></html>"
    )
