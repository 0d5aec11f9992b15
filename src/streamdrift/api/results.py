"""``CheckResult``: what `streamdrift.check` found, as the tables a notebook works with and the gate a
pipeline needs. It reads the core's `streamdrift.batch.output.CheckReport` (the objects ``streamdrift
check`` writes to ``events.jsonl``, the per-window violation files and ``summary.json``)."""

from __future__ import annotations

from dataclasses import fields
from html import escape
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from streamdrift.api.baselines import Baseline
from streamdrift.api.errors import DriftDetected
from streamdrift.api.html import framed, table_html
from streamdrift.batch.output import CheckReport, WindowReport, summary
from streamdrift.columns.chunks import BadLine
from streamdrift.events.events import DriftEvent
from streamdrift.profile.profiles import FeatureProfile
from streamdrift.report.html import ReportWindow, render_report

__all__ = ["CheckResult", "Report"]

_EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("model_id", pa.string()), ("model_version", pa.string()),
    ("monitor", pa.string()), ("check", pa.string()), ("feature", pa.string()), ("metric", pa.string()),
    ("status", pa.string()), ("severity", pa.string()), ("window_start", pa.string()), ("window_end", pa.string()),
    ("statistic", pa.string()), ("value", pa.float64()), ("threshold", pa.float64()), ("p_value", pa.float64()),
    ("n_window", pa.int64()), ("n_baseline", pa.int64()), ("baseline_id", pa.string()), ("partial", pa.bool_()),
    ("description", pa.string()), ("schema_version", pa.string()), ("detected_at", pa.string()),
])
_WINDOW_SCHEMA = pa.schema([
    ("window", pa.int64()), ("start", pa.timestamp("ms", tz="UTC")), ("end", pa.timestamp("ms", tz="UTC")),
    ("records", pa.int64()), ("violations", pa.int64()), ("drifted_features", pa.list_(pa.string())),
    ("events", pa.int64()), ("passed", pa.bool_()),
])
_VIOLATION_SCHEMA = pa.schema([
    ("window_start", pa.timestamp("ms", tz="UTC")), ("monitor", pa.string()), ("check", pa.string()),
    ("feature", pa.string()), ("metric", pa.string()), ("statistic", pa.string()), ("value", pa.float64()),
    ("threshold", pa.float64()), ("p_value", pa.float64()), ("n_window", pa.int64()),
    ("n_baseline", pa.int64()), ("description", pa.string()),
])
_STATISTICS_SCHEMA = pa.schema([
    ("window_start", pa.timestamp("ms", tz="UTC")), ("feature", pa.string()), ("kind", pa.string()),
    ("statistic", pa.string()), ("value", pa.float64()), ("threshold", pa.float64()), ("p_value", pa.float64()),
    ("drifted", pa.bool_()), ("n_window", pa.int64()), ("n_baseline", pa.int64()), ("missing", pa.int64()),
    ("mean", pa.float64()), ("std", pa.float64()), ("min", pa.float64()), ("max", pa.float64()),
])


def _numbers(fp: FeatureProfile | None) -> dict[str, Any]:
    """Missing count and the window's mean / std / min / max of a feature's numeric values (None when none)."""
    if fp is None:
        return {"missing": None, "mean": None, "std": None, "min": None, "max": None}
    num = fp.numeric
    if num.count == 0:
        return {"missing": int(fp.n_missing), "mean": None, "std": None, "min": None, "max": None}
    from streamdrift.baseline.document import population_std

    return {"missing": int(fp.n_missing), "mean": float(num.mean), "std": float(population_std(fp)),
            "min": float(num.min), "max": float(num.max)}


def _report_windows(windows: list[WindowReport], max_windows: int) -> list[ReportWindow]:
    """The last ``max_windows`` windows, newest first (as ``streamdrift report`` shows them)."""
    shown = windows[-max_windows:] if max_windows > 0 else []
    return [ReportWindow(label=w.start.isoformat(), profile=w.profile, evaluation=w.evaluation)
            for w in reversed(shown)]


class Report:
    """The HTML drift report of a check (the page ``streamdrift report`` writes); shown inline in a notebook."""

    def __init__(self, html: str) -> None:
        #: the whole self-contained page
        self.html = html

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path``; returns it."""
        out = Path(path)
        out.write_text(self.html, encoding="utf-8")
        return out

    def __str__(self) -> str:
        return self.html

    def _repr_html_(self) -> str:
        return framed(self.html)


class CheckResult:
    """The windows, events and violations of one `streamdrift.check` run.

    ``passed`` is what ``streamdrift check --fail-on-violation`` gates on (no violation in any window);
    `raise_for_drift` turns a failure into a `streamdrift.api.errors.DriftDetected` error."""

    def __init__(self, report: CheckReport, baseline: Baseline, *, output_dir: Path | None) -> None:
        #: the core's report (windows with their evaluations and profiles, bad rows, label counts)
        self.core = report
        self.baseline = baseline
        #: where the CLI's files (events.jsonl, summary.json, per-window violation files) were written; None when
        #: the check ran in a temporary directory that is gone
        self.output_dir = output_dir

    @property
    def passed(self) -> bool:
        """True when no window violated a check."""
        return self.core.n_violations == 0

    @property
    def n_rows(self) -> int:
        """Rows checked (bad rows not counted)."""
        return self.core.n_rows

    @property
    def bad_rows(self) -> list[BadLine]:
        """The first 1,000 rows skipped, with their reason (``n_bad_rows`` counts them all)."""
        return list(self.core.bad_lines)

    @property
    def n_bad_rows(self) -> int:
        """Rows skipped (unreadable, without a timestamp, late), all of them."""
        return self.core.n_bad

    @property
    def summary(self) -> dict[str, Any]:
        """The document ``streamdrift check`` writes as ``summary.json`` (as JSON reads it back)."""
        loaded: dict[str, Any] = orjson.loads(orjson.dumps(summary(self.core)))
        return loaded

    @property
    def drift_events(self) -> list[DriftEvent]:
        """The events as objects, in the order of ``events.jsonl``."""
        return list(self.core.events)

    @property
    def events(self) -> pa.Table:
        """One row per drift event (raised / cleared), the fields of ``events.jsonl``."""
        names = {f.name for f in fields(DriftEvent)}
        rows = [{k: v for k, v in e.to_dict().items() if k in names} for e in self.drift_events]
        return pa.Table.from_pylist(rows, schema=_EVENT_SCHEMA)

    @property
    def windows(self) -> pa.Table:
        """One row per window: start, end, records, violations, drifted features, events, passed."""
        rows = [{"window": w.key, "start": w.start, "end": w.end, "records": w.n_records,
                 "violations": len(w.evaluation.violations),
                 "drifted_features": [r.feature for r in w.evaluation.drifted], "events": len(w.events),
                 "passed": not w.evaluation.violations} for w in self.core.windows]
        return pa.Table.from_pylist(rows, schema=_WINDOW_SCHEMA)

    @property
    def violations(self) -> pa.Table:
        """One row per violated check per window (every monitor's), the content of the violation files."""
        rows = [{"window_start": w.start, "monitor": v.monitor, "check": v.check, "feature": v.feature,
                 "metric": v.metric, "statistic": v.statistic, "value": v.value, "threshold": v.threshold,
                 "p_value": v.p_value, "n_window": v.n_window, "n_baseline": v.n_baseline,
                 "description": v.description}
                for w in self.core.windows for v in w.evaluation.violations]
        return pa.Table.from_pylist(rows, schema=_VIOLATION_SCHEMA)

    @property
    def statistics(self) -> pa.Table:
        """One row per window and drift-tested feature: the drift statistic, its threshold, p-value and verdict,
        and the window's missing count, mean, std, min and max of the feature."""
        rows = [{"window_start": w.start, "feature": r.feature, "kind": r.kind, "statistic": r.statistic,
                 "value": r.value, "threshold": r.threshold, "p_value": r.p_value, "drifted": r.drifted,
                 "n_window": r.n_window, "n_baseline": r.n_baseline,
                 **_numbers(w.profile.features.get(r.feature))}
                for w in self.core.windows for r in w.evaluation.results]
        return pa.Table.from_pylist(rows, schema=_STATISTICS_SCHEMA)

    def raise_for_drift(self) -> CheckResult:
        """Raise `streamdrift.api.errors.DriftDetected` when a window violated a check (the release
        gate, like ``streamdrift check --fail-on-violation``); returns the result otherwise."""
        if self.passed:
            return self
        failing = [w for w in self.core.windows if w.evaluation.violations]
        checks = sorted({f"{v.check}({v.subject})" if v.subject else v.check
                         for w in failing for v in w.evaluation.violations})
        shown = ", ".join(checks[:8]) + (f" and {len(checks) - 8} more" if len(checks) > 8 else "")
        raise DriftDetected(f"model {self.baseline.model_id}: {self.core.n_violations} violation(s) in "
                            f"{len(failing)} of {len(self.core.windows)} window(s): {shown}", self)

    def report(self, max_windows: int = 48, title: str | None = None) -> Report:
        """The HTML report of the last ``max_windows`` windows, newest first (``streamdrift report``'s page)."""
        windows = _report_windows(self.core.windows, max_windows)
        return Report(render_report(self.baseline.document, windows, title))

    def save_html(self, path: str | Path, max_windows: int = 48) -> Path:
        """Write `report` to ``path``; returns it."""
        return self.report(max_windows).save(path)

    def __repr__(self) -> str:
        return (f"CheckResult(model_id={self.baseline.model_id!r}, passed={self.passed}, "
                f"windows={len(self.core.windows)}, rows={self.n_rows}, violations={self.core.n_violations}, "
                f"events={len(self.drift_events)})")

    def _repr_html_(self) -> str:
        verdict = ('<b style="color:#2e8b57">passed</b>' if self.passed
                   else '<b style="color:#c0392b">drift / violations found</b>')
        head = (f"<div><b>streamdrift check</b> · model {escape(self.baseline.model_id)} · {verdict} · "
                f"{len(self.core.windows)} window(s) · {self.n_rows} rows · {self.core.n_violations} "
                f"violation(s) · {self.n_bad_rows} bad row(s)</div>")
        return head + table_html(self.windows, highlight=None) + framed(self.report(max_windows=12).html)
