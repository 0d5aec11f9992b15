"""Batch check of a file against a baseline: ``streamdrift check`` is the stream path run over a file.

The rows go through exactly what the worker runs (:mod:`streamdrift.batch.rows` makes them capture and label
batches): one :class:`~streamdrift.window.pipeline.PartitionPipeline` (event-time tumbling windows with a
watermark, every monitor of the model, the label join), the merge of its ``partials`` messages
(:class:`~streamdrift.window.merger.WindowMerger`, one partition) and the judge
(:class:`~streamdrift.events.judge.WindowJudge`, one hysteresis): the same rows, window size, lateness and
rules give the same events as the worker.

Windows are event-time tumbling windows (``window_ms``) or windows of ``window_records`` rows (event time = row
number). A time window closes once the largest event time seen passes its end plus ``lateness_ms`` (default:
one window); a row behind that watermark is ``late`` (a bad row, skipped). At the end of the input every open
window closes. Labels: ``CheckOptions.labels`` (a label file joined by id) and the input's own target column go
through the label join like the worker's labels topic; all are known up front, so a window's model quality is
judged when its data closes. Results are written as windows close (:mod:`streamdrift.batch.output`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np

from streamdrift.baseline.baseline import DEFAULT_WINDOW_KLL_K, Baseline
from streamdrift.batch.output import (
    CheckReport,
    RollupReport,
    Sink,
    WindowReport,
    window_dir_name,
    write_summary,
)
from streamdrift.batch.rows import (
    LABEL_ID_COLUMN,
    ChunkAdapter,
    ChunkRows,
    LabelCounts,
    label_batches,
    label_roles,
    read_label_file,
)
from streamdrift.columns.chunks import BadLine, Chunk, LabelBatch, RoleColumns
from streamdrift.errors import ConfigError, InputFileError
from streamdrift.events.concept import ConceptTracker
from streamdrift.events.events import DriftEvent, Hysteresis
from streamdrift.events.judge import JudgedWindow, WindowJudge, ms_to_datetime
from streamdrift.ingest.files import DEFAULT_MAX_LINE_BYTES, ReadOptions, detect_format, iter_chunks
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig, WindowEvaluation
from streamdrift.monitors.data_quality.monitor import NAME as DATA_QUALITY
from streamdrift.monitors.model_quality.concept import ConceptDriftConfig
from streamdrift.monitors.model_quality.rule import QualityRuleConfig
from streamdrift.monitors.registry import ModelMonitors, MonitorConfig, monitors_for
from streamdrift.profile.profiles import ProfileParams
from streamdrift.window.joinstore import JoinStore
from streamdrift.window.labels import ErrorStream, PartitionLabels
from streamdrift.window.merger import ReadyWindow, WindowMerger
from streamdrift.window.partials import PartialMessage
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.window.rollupwindows import RollupWindows
from streamdrift.window.windows import WindowSpec

__all__ = [
    "WHOLE_FILE_RECORDS",
    "CheckOptions",
    "CheckReport",
    "ChunkSource",
    "WindowReport",
    "parse_duration_ms",
    "run_check",
    "run_check_source",
    "window_dir_name",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NEVER: Final[int] = 1 << 60  # labels read up front never expire, and their watermark is "all known"
_TOPIC: Final[str] = "check"
# Windows of this many rows make any real file one window. A records window's event time is the row number in ms,
# so its end must stay a date (10**12 ms is 2001; 2**62 rows made the window end year 146,140,482 and crashed).
WHOLE_FILE_RECORDS: Final[int] = 10**12
CHUNK_ROWS: Final[int] = 50_000  # rows read at a time


def parse_duration_ms(text: str) -> int:
    """``"15m"`` -> 900000. Units: ms, s, m, h, d."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d), e.g. 15m or 1h")
    ms = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if ms <= 0:
        raise ConfigError(f"duration {text!r} must be positive")
    return ms


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
    chunk_rows: int = CHUNK_ROWS
    window_kll_k: int = DEFAULT_WINDOW_KLL_K  # the stream worker's default too (settings.profile.kll_k)
    config: EvaluationConfig = field(default_factory=EvaluationConfig)
    raise_after: int = 1
    clear_after: int = 1
    model_id: str | None = None  # None: the baseline's
    labels: str | Path | None = None  # label file joined by id for model quality
    labels_fmt: str | None = None  # None: from the label file's name
    section_monitors: bool = True  # run the model-quality / bias / attribution monitors of the baseline
    quality: QualityRuleConfig = field(default_factory=QualityRuleConfig)
    label_memory_items: int = 1_000_000  # labels held in memory by the join before spilling to disk
    monitors: MonitorConfig | None = None  # every monitor rule at once (``check --config``); overrides the above
    concept_drift: bool = True  # the worker's ADWIN detector on the joined error stream
    concept_delta: float = 0.01
    encoding: str | None = None  # of CSV / JSON Lines input and label files (None: UTF-8, anything else refused)
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # a longer line (CSV record) is an error, never loaded whole
    rollups_ms: tuple[int, ...] = ()  # roll-up windows judged beside the windows (the worker's window.rollups)
    max_open_rollups: int = 2  # window.max_open_rollups
    rollup_models: tuple[str, ...] = ()  # window.rollup_models (empty: every model)

    def __post_init__(self) -> None:
        if (self.window_ms is None) == (self.window_records is None):
            raise ConfigError("give exactly one of a time window (--window) or a record window (--window-records)")
        for every in self.rollups_ms:
            if self.window_ms is None or every <= self.window_ms or every % self.window_ms or every % 1000:
                raise ConfigError(f"--rollup {every} ms: roll-ups need time windows and a multiple (>= 2) of the "
                                  "window in whole seconds")
        if self.window_records is not None and self.window_records <= 0:
            raise ConfigError(f"--window-records must be positive, got {self.window_records}")
        if self.lateness_ms is not None and self.lateness_ms < 0:
            raise ConfigError("lateness must be >= 0")

    def monitor_config(self) -> MonitorConfig:
        if self.monitors is not None:
            return self.monitors
        return MonitorConfig(evaluation=self.config, quality=self.quality,
                             profile=ProfileParams(kll_k=self.window_kll_k),
                             quality_without_baseline=self.labels is not None)

    def spec(self) -> WindowSpec:
        """Windows of N rows (event time = row number, no lateness) or of ``window_ms`` of event time."""
        size = self.window_records if self.window_records is not None else self.window_ms or 0
        if self.window_records is not None:
            return WindowSpec(size, 0)
        return WindowSpec(size, size if self.lateness_ms is None else self.lateness_ms)


def _model_monitors(baseline: Baseline, options: CheckOptions) -> ModelMonitors:
    config = options.monitor_config()
    if options.section_monitors:
        return monitors_for(baseline, config)
    sections_off = dataclasses.replace(baseline, model_quality=None, bias=None, attribution=None,
                                      estimated_performance=None, multivariate=None)
    return monitors_for(sections_off, dataclasses.replace(config, quality_without_baseline=False))


def _roles(baseline: Baseline, monitors: ModelMonitors) -> RoleColumns | None:
    """The role columns the readers take out of the features (target, prediction, score) when a monitor
    beside data quality runs."""
    if len(monitors.monitors) <= 1:
        return None
    features = baseline.profile.features
    return RoleColumns(*(c if c is not None and c not in features else None
                         for c in (baseline.target, baseline.prediction, baseline.score)))


def _excluded(baseline: Baseline, options: CheckOptions, roles: RoleColumns | None,
              timestamp_column: str | None) -> tuple[str, ...]:
    """Columns left out of the profile: the options', the columns the baseline left out on purpose (time, id,
    excluded columns; the event-time column is read apart anyway), and the baseline's role columns that are not
    features (with ``roles`` the reader takes those out itself: excluding them would drop their values too)."""
    unprofiled = tuple(sorted(baseline.unprofiled_columns - {timestamp_column, options.id_column}))
    if roles is not None:
        return (*options.exclude, *unprofiled)
    recorded = (baseline.target, baseline.prediction, baseline.score)
    return (*options.exclude, *unprofiled,
            *(c for c in recorded if c is not None and c not in baseline.profile.features))


class _Run:
    """One check run: the stream path over the file's chunks, writing windows as they close."""

    def __init__(self, baseline: Baseline, options: CheckOptions, report: CheckReport, sink: Sink,
                 on_window: Callable[[WindowReport], None] | None) -> None:
        self.options = options
        self.report = report
        self.sink = sink
        self.on_window = on_window
        self.by_records = options.window_records is not None
        self.model_id = options.model_id or baseline.model_id
        self.monitors = _model_monitors(baseline, options)
        spec = options.spec()
        self.spec = spec
        self.store = JoinStore(None, max_memory_items=options.label_memory_items, ttl_ms=_NEVER)
        labels = PartitionLabels(self.store, spec.size_ms, self._monitors_of)
        self.pipeline = PartitionPipeline(spec, _TOPIC, 0, self._monitors_of, labels=labels,
                                          params=options.monitor_config().profile,
                                          max_message_bytes=None)  # handed over in memory: no size limit
        self.merger = WindowMerger({}, 1, _NEVER, lambda: 0)
        self.judge = WindowJudge(Hysteresis(options.raise_after, options.clear_after))
        # roll-up windows: the worker's RollupWindows over a dict, one judge (hysteresis) per size
        self.rollups = RollupWindows({}, options.rollups_ms, max_open=options.max_open_rollups,
                                     models=frozenset(options.rollup_models))
        self.rollup_judges = {every: WindowJudge(Hysteresis(options.raise_after, options.clear_after),
                                                 window_seconds=every // 1000) for every in options.rollups_ms}
        self.concept = (ConceptTracker(ConceptDriftConfig(params={"delta": options.concept_delta}), spec.size_ms,
                                       lambda _: self.monitors.baseline_id)
                        if options.concept_drift and self.monitors.get("model_quality") is not None else None)
        self.counts = LabelCounts()
        self.adapter = ChunkAdapter(self.model_id, by_records=self.by_records, counts=self.counts,
                                    on_bad_line=report.bad_line)
        self._flushes = 0
        self._pending: dict[int, tuple[JudgedWindow, list[JudgedWindow]]] = {}  # start -> data stage, labels
        self._bounds: dict[int, tuple[int, int]] = {}  # record windows: first / last real timestamp

    def _monitors_of(self, model_id: str) -> ModelMonitors:
        return self.monitors

    # ------------------------------------------------------------ input

    def labels(self, batches: Iterable[LabelBatch]) -> None:
        for batch in batches:
            self._concept(self.pipeline.add_labels(batch))

    def chunk(self, rows: ChunkRows) -> None:
        if rows.labels is not None:  # the rows' own labels first: their predictions join at once
            self._concept(self.pipeline.add_labels(rows.labels))
        [added] = self.pipeline.add_captures([rows.capture])
        if added.dropped is not None and added.dropped.size:
            for line in rows.line_numbers[added.dropped].tolist():
                self.report.bad_line(BadLine(int(line), "late", "row arrived after its window closed"))
        self.report.n_rows += added.n_added
        self._concept(self.pipeline.join_captures([rows.capture]))
        if self.by_records:
            self._record_bounds(rows)
        self.flush()

    def _record_bounds(self, rows: ChunkRows) -> None:
        stamps = rows.timestamps
        if stamps is None:
            return
        size = self.spec.size_ms
        keys = rows.capture.timestamps_ms // size
        valid = stamps != np.iinfo(np.int64).min
        for key in np.unique(keys[valid]).tolist():
            sel = stamps[valid & (keys == key)]
            lo, hi = int(sel.min()), int(sel.max())
            old = self._bounds.get(key)
            self._bounds[key] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    def _concept(self, streams: list[ErrorStream]) -> None:
        if self.concept is not None and streams:
            events = self.concept.update(streams)
            self.report.concept_events += events
            self.sink.events(events)

    # ------------------------------------------------------------ output

    def flush(self) -> None:
        flushed = self.pipeline.flush(self._flushes, None, _NEVER)
        self._flushes += 1
        messages: list[PartialMessage] = [*flushed.deltas, *flushed.markers]
        for message in messages:
            for window in self.merger.handle(message):
                self._released(window)
            if self.rollup_judges:
                for rollup in self.rollups.due(self.merger.low_watermark):
                    self._rollup(rollup)
        self._finish_ready()

    def finish(self) -> None:
        """The end of the input: every open window closes."""
        open_windows = self.pipeline.windows.open_windows
        if open_windows:
            end = max(open_windows) + self.spec.size_ms
            self.pipeline.advance_idle(end + self.spec.lateness_ms)
        while True:
            self.flush()
            if not self.pipeline.any_due():
                break
        for rollup in self.rollups.flush():  # every base window closed: so is every roll-up
            self._rollup(rollup)
        self.counts.unmatched_labels = self.store.pending_labels
        self._joined()

    def _joined(self) -> None:
        outcomes = self.pipeline.take_outcomes()
        joined = sum(n for (_, outcome), n in outcomes.items() if outcome in ("matched", "late", "invalid"))
        self.counts.matched = max(0, joined - self.counts.embedded)
        self.counts.duplicate_labels += sum(n for (_, o), n in outcomes.items() if o == "duplicate")

    def _released(self, window: ReadyWindow) -> None:
        judged = self.judge.judge(window, self.monitors)
        self.sink.events(judged.events)
        if window.stage == "data":
            self._pending[window.window_start_ms] = (judged, [])
        elif window.window_start_ms in self._pending:
            self._pending[window.window_start_ms][1].append(judged)
        if self.rollup_judges:
            for rollup in self.rollups.add(window):  # the oldest roll-up beyond max_open_rollups
                self._rollup(rollup)

    def _rollup(self, rollup: ReadyWindow) -> None:
        every = rollup.window_end_ms - rollup.window_start_ms
        judged = self.rollup_judges[every].judge(rollup, self.monitors)
        self.rollups.forget(rollup)
        self.sink.events(judged.events)
        evaluation = judged.evaluation
        self.report.rollups.append(RollupReport(
            every // 1000, *judged.bounds, rollup.stage, rollup.n_records, rollup.partial,
            [r.feature for r in evaluation.drifted] if evaluation is not None else [], judged.events))

    def _finish_ready(self) -> None:
        for start in sorted(self._pending):
            data, labels = self._pending.pop(start)
            self._write(data, labels)

    def _write(self, data: JudgedWindow, labels: list[JudgedWindow]) -> None:
        window = data.window
        key = window.window_start_ms // self.spec.size_ms
        start, end = self._window_bounds(window, key)
        results = {**data.results, **{n: r for j in labels for n, r in j.results.items()}}
        events = [*data.events, *(e for j in labels for e in j.events)]
        dq = results.get(DATA_QUALITY)
        evaluation = dq.details if dq is not None and isinstance(dq.details, WindowEvaluation) else _empty(window)
        others = {n: r for n, r in results.items() if n != DATA_QUALITY}
        extra = [v for r in others.values() for v in r.violations]
        combined = dataclasses.replace(
            evaluation, violations=[*evaluation.violations, *extra],
            checked=evaluation.checked | frozenset(k for r in others.values() for k in r.checked))
        directory = window_dir_name(start, key, self.by_records)
        self.sink.files(directory, results)
        report = WindowReport(key, start, end, int(window.n_records), combined, events,
                              self.report.output_dir / directory / "constraint_violations.json", window.profile,
                              others)
        self.report.windows.append(report)
        if self.on_window is not None:
            self.on_window(report)

    def _window_bounds(self, window: ReadyWindow, key: int) -> tuple[datetime, datetime]:
        if not self.by_records:
            return ms_to_datetime(window.window_start_ms), ms_to_datetime(window.window_end_ms)
        found = self._bounds.pop(key, None)
        if found is not None:
            return ms_to_datetime(found[0]), ms_to_datetime(found[1])
        now = datetime.now(UTC)
        return now, now


def _empty(window: ReadyWindow) -> WindowEvaluation:
    return WindowEvaluation("calibrated", int(window.n_records), 0, [], [], frozenset(), {}, 0.0)


#: Where a check's rows come from: given the read options (chunk size, timestamp / id / role columns, excluded
#: columns, the bad-row callback), the chunks. :func:`run_check` reads a file; ``streamdrift.api`` gives Arrow data.
ChunkSource = Callable[[ReadOptions], Iterator[Chunk]]


def run_check(
    input_path: str | Path,
    baseline: Baseline,
    output_dir: str | Path,
    options: CheckOptions,
    *,
    on_window: Callable[[WindowReport], None] | None = None,
) -> CheckReport:
    """Check ``input_path`` window by window against ``baseline``; write events and violations to ``output_dir``."""
    fmt = options.fmt or detect_format(input_path, encoding=options.encoding,
                                       max_line_bytes=options.max_line_bytes)

    def source(read: ReadOptions) -> Iterator[Chunk]:
        capture = fmt == "sagemaker-capture"
        return iter_chunks(input_path, fmt=fmt, chunk_rows=read.chunk_rows,
                           timestamp_column=None if capture else read.timestamp_column,
                           id_column=None if capture else read.id_column, on_bad_line=read.on_bad_line,
                           has_header=read.has_header, exclude=tuple(sorted(read.exclude)), roles=read.roles,
                           encoding=read.encoding, max_line_bytes=read.max_line_bytes)

    return run_check_source(source, baseline, output_dir, options, fmt=fmt, on_window=on_window)


def run_check_source(
    source: ChunkSource,
    baseline: Baseline,
    output_dir: str | Path,
    options: CheckOptions,
    *,
    fmt: str | None = None,
    labels: ChunkSource | None = None,
    on_window: Callable[[WindowReport], None] | None = None,
) -> CheckReport:
    """:func:`run_check` over any chunks: ``source`` gives the rows, ``fmt`` (the input format when they come
    from a file, None for in-memory data) chooses the format's defaults (JSON Lines' ``timestamp`` and
    ``inference_id`` columns, SageMaker capture's own). ``labels``: label chunks (an id column and the baseline's
    target or ``label`` column) instead of ``options.labels``."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot create output directory {out}: {exc}") from exc
    if labels is not None and options.labels is not None:
        raise ConfigError("give labels either as a file (CheckOptions.labels) or as chunks, not both")
    has_labels = options.labels is not None or labels is not None
    if labels is not None:
        options = dataclasses.replace(options, monitors=dataclasses.replace(options.monitor_config(),
                                                                            quality_without_baseline=True))
    timestamp_column = options.timestamp_column
    if timestamp_column is None and options.window_ms is not None:
        timestamp_column = baseline.timestamp_column  # the one the baseline build declared or detected
    if timestamp_column is None and fmt == "jsonl":
        timestamp_column = "timestamp"
    if options.window_ms is not None and timestamp_column is None and fmt != "sagemaker-capture":
        raise ConfigError("time windows on this input need --timestamp-column (or use --window-records)")
    id_column = options.id_column
    if has_labels:
        if baseline.model_quality is None and baseline.bias is None:
            raise ConfigError("--labels: the baseline has no model_quality (or bias) section to judge labels "
                              "against; build it with --target and --prediction / --score")
        if id_column is None and fmt == "jsonl":
            id_column = "inference_id"
        if id_column is None and fmt != "sagemaker-capture":
            raise ConfigError("--labels are joined by row id: pass --id-column")
    report = CheckReport(output_dir=out)
    try:
        with report.events_path.open("wb") as events_file:
            run = _Run(baseline, options, report, Sink(out, events_file, report.events), on_window)
            try:
                report.monitors = [n for n in run.monitors.names if n != DATA_QUALITY]
                roles = _roles(baseline, run.monitors)
                label_id = None if fmt == "sagemaker-capture" else id_column
                if labels is not None:
                    run.labels(label_batches(
                        labels(ReadOptions(chunk_rows=100_000, id_column=label_id or LABEL_ID_COLUMN,
                                           roles=label_roles(baseline.target), on_bad_line=report.bad_line)),
                        run.model_id, id_column=label_id, target=baseline.target, counts=run.counts,
                        where="the labels"))
                elif options.labels is not None:
                    run.labels(read_label_file(
                        options.labels, run.model_id, id_column=label_id,
                        target=baseline.target, fmt=options.labels_fmt, counts=run.counts,
                        on_bad_line=report.bad_line, encoding=options.encoding,
                        max_line_bytes=options.max_line_bytes))
                chunks = source(ReadOptions(
                    chunk_rows=options.chunk_rows, has_header=options.has_header,
                    exclude=frozenset(_excluded(baseline, options, roles, timestamp_column)),
                    timestamp_column=timestamp_column, id_column=id_column, on_bad_line=report.bad_line,
                    roles=roles, encoding=options.encoding, max_line_bytes=options.max_line_bytes))
                for chunk in chunks:
                    rows = run.adapter.rows(chunk)
                    if rows is not None:
                        run.chunk(rows)
                run.finish()
            finally:
                run.store.close()
    except OSError as exc:
        raise InputFileError(f"cannot write check results to {out}: {exc}") from exc
    if roles is not None:
        report.labels = run.counts
    write_summary(report)
    return report


def events_of(report: CheckReport) -> list[DriftEvent]:
    """Every event of a check run: the windows', the roll-up windows' and the concept-drift detector's."""
    return [*(e for w in report.windows for e in w.events), *(e for r in report.rollups for e in r.events),
            *report.concept_events]
