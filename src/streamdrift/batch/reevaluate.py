"""Re-evaluation: stored windows (the profiles topic, :mod:`streamdrift.window.stored`) judged again, against
another baseline or other rules, with the judge and the monitors of the live path
(:class:`~streamdrift.events.judge.WindowJudge`, :func:`~streamdrift.monitors.registry.monitors_for`), written
like ``streamdrift check`` writes (:mod:`streamdrift.batch.output`): ``events.jsonl``, per window
``<window>/constraint_violations.json`` and the monitors' SageMaker files, ``summary.json``.

Windows are judged in the order they are given: the profiles topic holds a model's windows in the order its
control plane judged them, so the hysteresis (raise after / clear after) steps through the same sequence as it
did live, and with the live baseline and rules the events are the live ones (same ids). A window stage given
twice (a crash of the control plane replayed it) is judged once. The labels stage of a window (model quality)
adds its results and events to the window's entry when it comes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

from streamdrift.baseline.document import Baseline
from streamdrift.batch.output import CheckReport, Sink, WindowReport, window_dir_name, write_summary
from streamdrift.errors import InputFileError
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import JudgedWindow, WindowJudge, ms_to_datetime
from streamdrift.monitors.base import DATA
from streamdrift.monitors.data_quality.evaluation import WindowEvaluation
from streamdrift.monitors.data_quality.monitor import NAME as DATA_QUALITY
from streamdrift.monitors.reference import ReferenceConfig, ReferenceWindows
from streamdrift.monitors.registry import MonitorConfig, monitors_for
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.stored import StoredWindow

__all__ = ["reevaluate"]


class _Writer:
    def __init__(self, report: CheckReport, sink: Sink, size_ms: int | None) -> None:
        self.report = report
        self.sink = sink
        self.size_ms = size_ms
        self.index: dict[int, int] = {}  # window start -> its entry in report.windows

    def write(self, judged: JudgedWindow) -> None:
        window = judged.window
        self.sink.events(judged.events)
        directory = window_dir_name(ms_to_datetime(window.window_start_ms), 0, False)
        self.sink.files(directory, judged.results)
        at = self.index.get(window.window_start_ms)
        if at is not None:  # the labels stage of a window written already: its results join the entry
            self.report.windows[at] = _joined(self.report.windows[at], judged)
            return
        dq = judged.results.get(DATA_QUALITY)
        evaluation = dq.details if dq is not None and isinstance(dq.details, WindowEvaluation) else \
            WindowEvaluation("calibrated", window.n_records, 0, [], [], frozenset(), {}, 0.0)
        entry = WindowReport(window.window_start_ms // (self.size_ms or 1), ms_to_datetime(window.window_start_ms),
                             ms_to_datetime(window.window_end_ms), window.n_records, evaluation, [],
                             self.report.output_dir / directory / "constraint_violations.json",
                             DatasetProfile.empty(window.profile.params), {})  # profiles not kept: 30 days of them
        self.index[window.window_start_ms] = len(self.report.windows)
        self.report.windows.append(_joined(entry, judged))


def _joined(entry: WindowReport, judged: JudgedWindow) -> WindowReport:
    others = {n: r for n, r in judged.results.items() if n != DATA_QUALITY}
    evaluation = dataclasses.replace(
        entry.evaluation, violations=[*entry.evaluation.violations, *(v for r in others.values() for v in r.violations)],
        checked=entry.evaluation.checked | frozenset(k for r in others.values() for k in r.checked))
    return dataclasses.replace(entry, evaluation=evaluation, events=[*entry.events, *judged.events],
                               monitors={**entry.monitors, **others})


def reevaluate(
    windows: Iterable[StoredWindow],
    baseline: Baseline,
    output_dir: str | Path,
    *,
    config: MonitorConfig,
    raise_after: int = 1,
    clear_after: int = 1,
    model_id: str | None = None,
    on_window: Callable[[JudgedWindow], None] | None = None,
    references: ReferenceConfig | None = None,
) -> CheckReport:
    """Judge ``windows`` (one model's, in stored order) against ``baseline`` with ``config``'s rules and write
    the results to ``output_dir``. ``model_id``: only that model's windows (default: the baseline's model).
    ``references``: also against the rolling reference / previous window, made of the windows given (the first
    ones have fewer earlier windows than they had live)."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot create output directory {out}: {exc}") from exc
    monitors = monitors_for(baseline, config)
    judge = WindowJudge(Hysteresis(raise_after, clear_after),
                        ReferenceWindows(references) if references is not None and references.enabled else None)
    report = CheckReport(output_dir=out)
    report.monitors = [n for n in monitors.names if n != DATA_QUALITY]
    model = model_id or baseline.model_id
    seen: set[tuple[str, int, str]] = set()
    try:
        with report.events_path.open("wb") as events_file:
            writer = _Writer(report, Sink(out, events_file), None)
            for stored in windows:
                window = stored.window
                if window.model_id != model or stored.key in seen:
                    continue
                seen.add(stored.key)
                judged = judge.judge(window, monitors)
                if window.stage == DATA:
                    report.n_rows += window.n_records
                writer.write(judged)
                if on_window is not None:
                    on_window(judged)
    except OSError as exc:
        raise InputFileError(f"cannot write re-evaluation results to {out}: {exc}") from exc
    write_summary(report)
    return report
