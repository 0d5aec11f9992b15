"""Batch check of a file against a baseline: ``streamdrift check``.

Rows are cut into event-time tumbling windows (``window_ms``) or windows of ``window_records`` rows and
profiled as the file streams by. Memory stays bounded: only *open* windows hold a profile (a few KB per
feature). A time window closes once the largest event time seen passes its end plus ``lateness_ms`` (default:
one window); rows arriving for a closed window are reported as ``late`` bad rows and skipped. Closed windows
are evaluated in start order, their events go through one :class:`~streamdrift.events.events.Hysteresis`, and the
results are written as they close: ``DIR/events.jsonl`` (DriftEvent JSON lines), one SageMaker
``DIR/<window>/constraint_violations.json`` per window and ``DIR/summary.json``.

Record windows without timestamps get window bounds from their rows' timestamps when the input has any, else
the processing time at which the window closed.

The model-quality, bias and attribution monitors (:mod:`streamdrift.batch.monitors`) are built from the
baseline's sections: model quality joins ``CheckOptions.labels`` (a label file, by id) or reads the input's own
target column; their violations become events beside the data-quality ones (one hysteresis), and each window
directory gets ``model_quality/``, ``bias/`` and ``attribution/constraint_violations.json`` (SageMaker formats).
Other monitors plug in through :class:`WindowMonitor`: they receive every row subset routed to a window and
return violations when the window closes (a monitor with ``close_window`` returning a
:class:`~streamdrift.batch.monitors.MonitorWindow` also reports its clean checks, a summary and files).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import numpy as np
import orjson
from numpy.typing import NDArray

from streamdrift.baseline.baseline import DEFAULT_WINDOW_KLL_K, Baseline
from streamdrift.baseline.sagemaker import Violation as SageMakerViolation
from streamdrift.baseline.sagemaker import violation_description, write_constraint_violations
from streamdrift.batch.monitors import LabelCounts, LabelJoin, MonitorWindow, build_monitors, monitor_names
from streamdrift.columns.chunks import MISSING_TIMESTAMP, BadLine, Chunk, RoleColumns
from streamdrift.columns.columns import take
from streamdrift.errors import ConfigError, InputFileError
from streamdrift.events.events import DriftEvent, Hysteresis, events_from_evaluation
from streamdrift.ingest.files import detect_format, iter_chunks
from streamdrift.monitors.data_quality.evaluation import (
    CheckKey,
    EvaluationConfig,
    Violation,
    WindowEvaluation,
    evaluate,
    prepare,
)
from streamdrift.monitors.model_quality import QualityRuleConfig
from streamdrift.profile.profiles import DatasetProfile

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_REPORTED_BAD_LINES = 1_000


def parse_duration_ms(text: str) -> int:
    """``"15m"`` -> 900000. Units: ms, s, m, h, d."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d), e.g. 15m or 1h")
    ms = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if ms <= 0:
        raise ConfigError(f"duration {text!r} must be positive")
    return ms


class WindowMonitor(Protocol):
    """A per-window monitor fed with the same rows as the profile (e.g. model quality joined with labels)."""

    def update(self, window_key: int, chunk: Chunk, rows: NDArray[np.intp]) -> None: ...

    def close(self, window_key: int) -> list[Violation]: ...


@runtime_checkable
class ReportingMonitor(Protocol):
    """A WindowMonitor that also reports its clean checks (for clearing events), a summary and files."""

    def update(self, window_key: int, chunk: Chunk, rows: NDArray[np.intp]) -> None: ...

    def close(self, window_key: int) -> list[Violation]: ...

    def close_window(self, window_key: int) -> MonitorWindow: ...


@dataclass(frozen=True)
class CheckOptions:
    window_ms: int | None = None
    window_records: int | None = None
    lateness_ms: int | None = None  # None: one window
    timestamp_column: str | None = None  # None: "timestamp" for our capture JSON Lines
    id_column: str | None = None
    fmt: str | None = None
    has_header: bool | None = None
    exclude: tuple[str, ...] = ()  # plus the baseline's target / prediction / score columns
    chunk_rows: int = 50_000
    window_kll_k: int = DEFAULT_WINDOW_KLL_K  # the stream worker's default too (settings.profile.kll_k)
    config: EvaluationConfig = field(default_factory=EvaluationConfig)
    raise_after: int = 1
    clear_after: int = 1
    model_id: str | None = None  # None: the baseline's
    labels: str | Path | None = None  # label file joined by id for model quality / bias (see checkmonitors)
    labels_fmt: str | None = None  # None: from the label file's name
    section_monitors: bool = True  # run the model-quality / bias / attribution monitors of the baseline
    quality: QualityRuleConfig = field(default_factory=QualityRuleConfig)
    label_memory_items: int = 1_000_000  # labels held in memory by the join before spilling to SQLite

    def __post_init__(self) -> None:
        if (self.window_ms is None) == (self.window_records is None):
            raise ConfigError("give exactly one of a time window (--window) or a record window (--window-records)")
        if self.window_records is not None and self.window_records <= 0:
            raise ConfigError(f"--window-records must be positive, got {self.window_records}")
        if self.lateness_ms is not None and self.lateness_ms < 0:
            raise ConfigError("lateness must be >= 0")


@dataclass(frozen=True)
class WindowReport:
    key: int
    start: datetime
    end: datetime
    n_records: int
    evaluation: WindowEvaluation
    events: list[DriftEvent]
    violations_path: Path
    profile: DatasetProfile  # the window's merged profile (for reports)
    monitors: dict[str, MonitorWindow] = field(default_factory=dict)  # other monitors' results by name


@dataclass
class CheckReport:
    output_dir: Path
    windows: list[WindowReport] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    n_bad: int = 0
    n_rows: int = 0
    monitors: list[str] = field(default_factory=list)  # names of the other monitors that ran
    labels: LabelCounts | None = None  # label join / embedded-label counts when model quality ran

    @property
    def n_violations(self) -> int:
        return sum(len(w.evaluation.violations) for w in self.windows)

    @property
    def events_path(self) -> Path:
        return self.output_dir / "events.jsonl"

    def bad_line(self, bad: BadLine) -> None:
        self.n_bad += 1
        if len(self.bad_lines) < MAX_REPORTED_BAD_LINES:
            self.bad_lines.append(bad)


@dataclass
class _OpenWindow:
    profile: DatasetProfile
    first_ms: int | None = None
    last_ms: int | None = None


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


def window_dir_name(start: datetime, key: int, by_records: bool) -> str:
    """A filesystem-safe, sortable directory name for a window."""
    stamp = start.strftime("%Y%m%dT%H%M%S") + (f"{start.microsecond // 1000:03d}" if start.microsecond else "") + "Z"
    return f"records-{key:08d}-{stamp}" if by_records else stamp


class _Windower:
    """Routes chunks' rows to open window profiles and yields windows as they close."""

    def __init__(self, baseline: Baseline, options: CheckOptions, report: CheckReport,
                 monitors: Sequence[WindowMonitor]) -> None:
        self._baseline = baseline
        self._opts = options
        self._report = report
        self._monitors = monitors
        self._open: dict[int, _OpenWindow] = {}
        self._closed_before: int | None = None  # time windows: keys below this are closed
        self._max_ms: int | None = None
        self._row_offset = 0

    def _profile(self) -> DatasetProfile:
        """An empty window profile that reads categorical baseline features as categorical (as the baseline did)."""
        features = self._baseline.constraints.features
        schema = {n: c.inferred_type for n, c in features.items() if c.inferred_type.value in ("String", "Boolean")}
        domains = {n: c.domain for n, c in features.items() if c.domain is not None}
        params = replace(self._baseline.profile.params, kll_k=self._opts.window_kll_k)
        return DatasetProfile.empty(params=params, schema=schema, domains=domains)

    def _keys(self, chunk: Chunk) -> NDArray[np.int64]:
        n = chunk.columns.n_rows
        if self._opts.window_records is not None:
            keys = (np.arange(n, dtype=np.int64) + self._row_offset) // self._opts.window_records
            self._row_offset += n
            return keys
        if self._opts.window_ms is None or chunk.timestamps is None:
            raise ConfigError("time windows need event timestamps: pass --timestamp-column")
        return np.floor_divide(chunk.timestamps, self._opts.window_ms)

    def _drop(self, chunk: Chunk, mask: NDArray[np.bool_], reason: str, detail: str) -> None:
        for line in chunk.line_numbers[mask][:MAX_REPORTED_BAD_LINES]:
            self._report.bad_line(BadLine(int(line), reason, detail))
        self._report.n_bad += max(0, int(mask.sum()) - MAX_REPORTED_BAD_LINES)

    def add(self, chunk: Chunk) -> Iterator[tuple[int, _OpenWindow]]:
        keys = self._keys(chunk)
        valid = np.ones(keys.size, dtype=bool)
        if self._opts.window_ms is not None and chunk.timestamps is not None:
            missing = chunk.timestamps == MISSING_TIMESTAMP
            self._drop(chunk, missing, "missing_timestamp", "no parseable event timestamp")
            valid &= ~missing
            if self._closed_before is not None:
                late = valid & (keys < self._closed_before)
                self._drop(chunk, late, "late", "row arrived after its window closed")
                valid &= ~late
        self._report.n_rows += int(valid.sum())
        uniq, inverse = np.unique(keys[valid], return_inverse=True)
        rows_valid = np.flatnonzero(valid)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(uniq.size + 1))
        for i, key in enumerate(uniq.tolist()):
            rows = rows_valid[order[bounds[i]:bounds[i + 1]]]
            self._route(int(key), chunk, rows)
        yield from self._close_ready(keys[valid], chunk)

    def _route(self, key: int, chunk: Chunk, rows: NDArray[np.intp]) -> None:
        window = self._open.get(key)
        if window is None:
            window = self._open[key] = _OpenWindow(self._profile())
        window.profile.update(take(chunk.columns, rows))
        if chunk.timestamps is not None:
            stamps = chunk.timestamps[rows]
            stamps = stamps[stamps != MISSING_TIMESTAMP]
            if stamps.size:
                lo, hi = int(stamps.min()), int(stamps.max())
                window.first_ms = lo if window.first_ms is None else min(window.first_ms, lo)
                window.last_ms = hi if window.last_ms is None else max(window.last_ms, hi)
        for monitor in self._monitors:
            monitor.update(key, chunk, rows)

    def _close_ready(self, keys: NDArray[np.int64], chunk: Chunk) -> Iterator[tuple[int, _OpenWindow]]:
        if self._opts.window_records is not None:
            full = [k for k in sorted(self._open) if self._open[k].profile.n_records >= self._opts.window_records]
            for key in full:
                yield key, self._open.pop(key)
            return
        if keys.size == 0 or self._opts.window_ms is None or chunk.timestamps is None:
            return
        size = self._opts.window_ms
        latest = int(chunk.timestamps[chunk.timestamps != MISSING_TIMESTAMP].max(initial=MISSING_TIMESTAMP))
        self._max_ms = latest if self._max_ms is None else max(self._max_ms, latest)
        lateness = size if self._opts.lateness_ms is None else self._opts.lateness_ms
        closable = (self._max_ms - lateness) // size  # windows with key < closable have end + lateness <= max
        for key in sorted(k for k in self._open if k < closable):
            yield key, self._open.pop(key)
        self._closed_before = closable if self._closed_before is None else max(self._closed_before, closable)

    def flush(self) -> Iterator[tuple[int, _OpenWindow]]:
        for key in sorted(self._open):
            yield key, self._open.pop(key)

    def bounds(self, key: int, window: _OpenWindow, closed_at: datetime) -> tuple[datetime, datetime]:
        if self._opts.window_ms is not None:
            return _ms_to_datetime(key * self._opts.window_ms), _ms_to_datetime((key + 1) * self._opts.window_ms)
        if window.first_ms is not None and window.last_ms is not None:
            return _ms_to_datetime(window.first_ms), _ms_to_datetime(window.last_ms)
        return closed_at, closed_at


def _sagemaker_violations(evaluation: WindowEvaluation) -> list[SageMakerViolation]:
    out = []
    for v in evaluation.violations:
        if v.monitor != "data_quality":
            continue  # the other monitors write their own files (their SageMaker formats differ)
        prefix = violation_description(v.value) if v.value is not None else ""
        out.append(SageMakerViolation(v.subject, v.check, f"{prefix}{v.description}"))
    return out


class _Sink:
    """Writes each closed window's outputs as it is evaluated."""

    def __init__(self, output_dir: Path, events_file: IO[bytes]) -> None:
        self.output_dir = output_dir
        self.events_file = events_file

    def write(self, window_dir: str, evaluation: WindowEvaluation, events: list[DriftEvent],
              monitors: dict[str, MonitorWindow]) -> Path:
        for event in events:
            self.events_file.write(event.to_json() + b"\n")
        self.events_file.flush()
        for result in monitors.values():
            for name, document in result.files.items():
                target = self.output_dir / window_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        return write_constraint_violations(self.output_dir / window_dir / "constraint_violations.json",
                                           _sagemaker_violations(evaluation))


def _summary(report: CheckReport) -> dict[str, Any]:
    return {
        "rows": report.n_rows, "bad_rows": report.n_bad, "violations": report.n_violations,
        "monitors": ["data_quality", *report.monitors],
        "labels": report.labels.to_dict() if report.labels is not None else None,
        "windows": [{"start": w.start.isoformat(), "end": w.end.isoformat(), "records": w.n_records,
                     "violations_file": str(w.violations_path.relative_to(report.output_dir)),
                     "evaluation": w.evaluation.to_dict(), "events": [e.event_id for e in w.events],
                     "monitors": {name: {**m.summary, "verdict": m.verdict, "violations": len(m.violations)}
                                  for name, m in w.monitors.items()}}
                    for w in report.windows],
        "bad_lines": [{"line": b.line_number, "reason": b.reason, "detail": b.detail} for b in report.bad_lines],
    }


def _close_monitor(monitor: WindowMonitor, key: int, index: int) -> MonitorWindow:
    if isinstance(monitor, ReportingMonitor):
        return monitor.close_window(key)
    violations = monitor.close(key)
    name = str(getattr(monitor, "monitor", f"monitor{index}"))
    return MonitorWindow(name, violations, frozenset(v.key for v in violations), {}, f"{len(violations)} violations")


@dataclass
class _Plan:
    """What the readers must deliver for the monitors: role values, ids, the label join."""

    monitors: list[WindowMonitor]
    names: list[str]
    labels: LabelJoin
    roles: RoleColumns | None
    id_column: str | None


def _plan(baseline: Baseline, options: CheckOptions, fmt: str, extra: Sequence[WindowMonitor],
          on_bad_line: Callable[[BadLine], None]) -> _Plan:
    id_column = options.id_column
    if options.labels is not None:
        if baseline.model_quality is None and baseline.bias is None:
            raise ConfigError("--labels: the baseline has no model_quality (or bias) section to judge labels "
                              "against; build it with --target and --prediction / --score")
        if id_column is None and fmt == "jsonl":
            id_column = "inference_id"
        if id_column is None and fmt != "sagemaker-capture":
            raise ConfigError("--labels are joined by row id: pass --id-column")
        labels = LabelJoin.load(options.labels, id_column=None if fmt == "sagemaker-capture" else id_column,
                                target=baseline.target, fmt=options.labels_fmt,
                                max_memory_items=options.label_memory_items, on_bad_line=on_bad_line)
    else:
        labels = LabelJoin()
    built = build_monitors(baseline, labels, options.quality) if options.section_monitors else []
    roles = None
    if built:
        features = baseline.profile.features
        roles = RoleColumns(*(c if c is not None and c not in features else None
                              for c in (baseline.target, baseline.prediction, baseline.score)))
    monitors: list[WindowMonitor] = [*built, *extra]
    return _Plan(monitors, monitor_names(monitors), labels, roles, id_column)


def run_check(
    input_path: str | Path,
    baseline: Baseline,
    output_dir: str | Path,
    options: CheckOptions,
    *,
    monitors: Sequence[WindowMonitor] = (),
    on_window: Callable[[WindowReport], None] | None = None,
) -> CheckReport:
    """Check ``input_path`` window by window against ``baseline``; write events and violations to ``output_dir``.

    Besides ``monitors``, the baseline's model-quality / bias / attribution sections add their monitors (unless
    ``options.section_monitors`` is False)."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot create output directory {out}: {exc}") from exc
    fmt = options.fmt or detect_format(input_path)
    timestamp_column = options.timestamp_column
    if timestamp_column is None and fmt == "jsonl":
        timestamp_column = "timestamp"
    if options.window_ms is not None and timestamp_column is None and fmt != "sagemaker-capture":
        raise ConfigError("time windows on this input need --timestamp-column (or use --window-records)")
    report = CheckReport(output_dir=out)
    plan = _plan(baseline, options, fmt, monitors, report.bad_line)
    report.monitors = plan.names
    windower = _Windower(baseline, options, report, plan.monitors)
    hysteresis = Hysteresis(options.raise_after, options.clear_after)
    model_id = options.model_id or baseline.model_id
    by_records = options.window_records is not None
    prepared = prepare(baseline)

    def finish(key: int, window: _OpenWindow, sink: _Sink) -> None:
        closed_at = datetime.now(UTC)
        start, end = windower.bounds(key, window, closed_at)
        evaluation = evaluate(window.profile, prepared, options.config)
        results = {name: _close_monitor(m, key, i)
                   for i, (name, m) in enumerate(zip(plan.names, plan.monitors, strict=True))}
        evaluation = _with_violations(evaluation, [v for r in results.values() for v in r.violations],
                                      frozenset().union(*(r.checked for r in results.values())))
        events = events_from_evaluation(evaluation, hysteresis, model_id, (start, end), baseline.baseline_id)
        path = sink.write(window_dir_name(start, key, by_records), evaluation, events, results)
        window_report = WindowReport(key, start, end, int(window.profile.n_records), evaluation, events, path,
                                     window.profile, results)
        report.windows.append(window_report)
        if on_window is not None:
            on_window(window_report)

    try:
        with report.events_path.open("wb") as events_file:
            sink = _Sink(out, events_file)
            chunks = iter_chunks(input_path, fmt=fmt, chunk_rows=options.chunk_rows,
                                 timestamp_column=timestamp_column if fmt != "sagemaker-capture" else None,
                                 id_column=plan.id_column if fmt != "sagemaker-capture" else None,
                                 on_bad_line=report.bad_line, has_header=options.has_header,
                                 exclude=_excluded(baseline, options, plan.roles), roles=plan.roles)
            for chunk in chunks:
                for key, window in windower.add(chunk):
                    finish(key, window, sink)
            for key, window in windower.flush():
                finish(key, window, sink)
    except OSError as exc:
        raise InputFileError(f"cannot write check results to {out}: {exc}") from exc
    finally:
        counts = plan.labels.finish()
    if plan.roles is not None:
        report.labels = counts
    (out / "summary.json").write_bytes(orjson.dumps(_summary(report), option=orjson.OPT_INDENT_2))
    return report


def _excluded(baseline: Baseline, options: CheckOptions, roles: RoleColumns | None) -> tuple[str, ...]:
    """Columns left out of the profile: the options' plus the baseline's role columns that are not features
    (with ``roles`` the reader takes those out itself: excluding them would drop their values too)."""
    if roles is not None:
        return options.exclude
    recorded = (baseline.target, baseline.prediction, baseline.score)
    return (*options.exclude, *(c for c in recorded if c is not None and c not in baseline.profile.features))


def _with_violations(evaluation: WindowEvaluation, extra: list[Violation],
                     checked: frozenset[CheckKey]) -> WindowEvaluation:
    if not extra and not checked:
        return evaluation
    return WindowEvaluation(
        method=evaluation.method, n_window=evaluation.n_window, n_baseline=evaluation.n_baseline,
        results=evaluation.results, violations=[*evaluation.violations, *extra],
        checked=evaluation.checked | checked | {v.key for v in extra}, skipped=evaluation.skipped,
        elapsed_seconds=evaluation.elapsed_seconds,
    )
