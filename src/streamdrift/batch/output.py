"""What ``streamdrift check`` writes as windows close: ``DIR/events.jsonl`` (DriftEvent JSON lines), per window
``DIR/<window>/constraint_violations.json`` (SageMaker data quality) and each monitor's SageMaker file
(``model_quality/``, ``bias/``, ``attribution/``), and ``DIR/summary.json`` at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from streamdrift.baseline.jsonfiles import write_json
from streamdrift.batch.rows import LabelCounts
from streamdrift.columns.chunks import BadLine
from streamdrift.events.events import DriftEvent
from streamdrift.monitors.base import MonitorResult
from streamdrift.monitors.data_quality.evaluation import WindowEvaluation
from streamdrift.monitors.estimated_performance.monitor import NAME as ESTIMATED
from streamdrift.monitors.estimated_performance.monitor import side_by_side
from streamdrift.monitors.model_quality.monitor import NAME as MODEL_QUALITY
from streamdrift.profile.profiles import DatasetProfile

MAX_REPORTED_BAD_LINES = 1_000


@dataclass(frozen=True)
class WindowReport:
    key: int
    start: datetime
    end: datetime
    n_records: int
    evaluation: WindowEvaluation  # data quality, with the other monitors' violations and checks added
    events: list[DriftEvent]
    violations_path: Path
    profile: DatasetProfile  # the window's merged profile (for reports)
    monitors: dict[str, MonitorResult] = field(default_factory=dict)  # the other monitors' results by name


@dataclass(frozen=True)
class RollupReport:
    """A roll-up window (``--rollup`` / ``window.rollups``) judged: its bounds, size, records and events."""

    window_seconds: int
    start: datetime
    end: datetime
    stage: str
    n_records: int
    partial: bool
    drifted_features: list[str]
    events: list[DriftEvent]


@dataclass
class CheckReport:
    output_dir: Path
    windows: list[WindowReport] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    n_bad: int = 0
    n_rows: int = 0
    monitors: list[str] = field(default_factory=list)  # names of the monitors beside data quality that ran
    labels: LabelCounts | None = None  # label join / embedded-label counts when model quality ran
    concept_events: list[DriftEvent] = field(default_factory=list)  # the concept-drift detector's events
    events: list[DriftEvent] = field(default_factory=list)  # every event in events.jsonl's order
    rollups: list[RollupReport] = field(default_factory=list)  # roll-up windows, as they were judged

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


def window_dir_name(start: datetime, key: int, by_records: bool) -> str:
    """A filesystem-safe, sortable directory name for a window."""
    stamp = start.strftime("%Y%m%dT%H%M%S") + (f"{start.microsecond // 1000:03d}" if start.microsecond else "") + "Z"
    return f"records-{key:08d}-{stamp}" if by_records else stamp


class Sink:
    """Writes each closed window's outputs as it is judged."""

    def __init__(self, output_dir: Path, events_file: IO[bytes], kept: list[DriftEvent] | None = None) -> None:
        self.output_dir = output_dir
        self.events_file = events_file
        self.kept = kept  # every event written is appended here too (CheckReport.events)

    def events(self, events: list[DriftEvent]) -> None:
        for event in events:
            self.events_file.write(event.to_json() + b"\n")
        self.events_file.flush()
        if self.kept is not None:
            self.kept.extend(events)

    def files(self, window_dir: str, results: dict[str, MonitorResult]) -> None:
        for result in results.values():
            for name, document in result.files.items():
                write_json(self.output_dir / window_dir / name, document)


def summary(report: CheckReport) -> dict[str, Any]:
    return {
        "rows": report.n_rows, "bad_rows": report.n_bad, "violations": report.n_violations,
        "monitors": ["data_quality", *report.monitors],
        "labels": report.labels.to_dict() if report.labels is not None else None,
        "windows": [{"start": w.start.isoformat(), "end": w.end.isoformat(), "records": w.n_records,
                     "violations_file": str(w.violations_path.relative_to(report.output_dir)),
                     "evaluation": w.evaluation.to_dict(), "events": [e.event_id for e in w.events],
                     "monitors": {name: {**m.summary, "verdict": m.verdict, "violations": len(m.violations)}
                                  for name, m in w.monitors.items()}, **_side_by_side(w)}
                    for w in report.windows],
        **({"rollups": [{"window_seconds": r.window_seconds, "start": r.start.isoformat(), "end": r.end.isoformat(),
                         "stage": r.stage, "records": r.n_records, "partial": r.partial,
                         "drifted_features": r.drifted_features, "events": [e.event_id for e in r.events]}
                        for r in report.rollups]} if report.rollups else {}),
        "bad_lines": [{"line": b.line_number, "reason": b.reason, "detail": b.detail} for b in report.bad_lines],
    }


def _side_by_side(window: WindowReport) -> dict[str, Any]:
    """Estimated and realised performance of a window that had both (labels given to check)."""
    estimated, realised = window.monitors.get(ESTIMATED), window.monitors.get(MODEL_QUALITY)
    if estimated is None or realised is None:
        return {}
    return {"estimated_vs_realised": side_by_side(estimated.summary, realised.summary)}


def write_summary(report: CheckReport) -> None:
    (report.output_dir / "summary.json").write_bytes(orjson.dumps(summary(report), option=orjson.OPT_INDENT_2))
