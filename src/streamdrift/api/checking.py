"""``streamdrift.check``: judge data window by window against a baseline, like ``streamdrift check`` (it runs
`streamdrift.batch.check.run_check` on a path and `streamdrift.batch.check.run_check_source` on
in-memory data: the same windows, monitors, merge and judge as the stream worker)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from streamdrift.api.baselines import Baseline
from streamdrift.api.data import Data, as_path, chunk_source
from streamdrift.api.results import CheckResult
from streamdrift.batch.check import run_check, run_check_source
from streamdrift.batch.options import check_options
from streamdrift.errors import ConfigError
from streamdrift.ingest.files import detect_format
from streamdrift.monitors.data_quality.evaluation import Method
from streamdrift.monitors.data_quality.stattests import Correction

__all__ = ["check"]


def _duration(value: str | timedelta | None, what: str) -> str | None:
    """A duration as ``streamdrift check`` takes it (``"15m"``); a timedelta in milliseconds."""
    if value is None or isinstance(value, str):
        return value
    ms = round(value.total_seconds() * 1000)
    if ms <= 0:
        raise ConfigError(f"{what} must be positive, got {value}")
    return f"{ms}ms"


def check(
    data: Data,
    baseline: Baseline | str | Path,
    *,
    window: str | timedelta | None = None,
    window_records: int | None = None,
    labels: Data | None = None,
    timestamp_column: str | None = None,
    id_column: str | None = None,
    exclude: Sequence[str] = (),
    lateness: str | timedelta | None = None,
    method: Method | None = None,
    alpha: float | None = None,
    correction: Correction | None = None,
    statistic: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    feature_thresholds: Mapping[str, float] | None = None,
    raise_after: int | None = None,
    clear_after: int | None = None,
    config: str | Path | None = None,
    output_dir: str | Path | None = None,
    fmt: str | None = None,
    chunk_rows: int = 50_000,
) -> CheckResult:
    """Cut ``data`` into windows and judge each against ``baseline`` (a `Baseline` or a baseline file).

    ``data``: a pandas / polars DataFrame, a pyarrow Table or RecordBatchReader, a file path, or an iterable of
    those (read one at a time: constant memory). Windows: ``window`` (event time, e.g. ``"1h"`` or a
    ``timedelta``; the rows' ``timestamp_column``, default the one the baseline detected) or ``window_records``
    (N rows each); exactly one. ``labels``: ground truth joined by ``id_column`` (a label file, or a table with
    the id column and the baseline's target or ``label`` column) for the model-quality monitor.

    The rules are ``streamdrift check``'s flags (``method``, ``alpha``, ``correction``, ``statistic``,
    ``thresholds``, ``feature_thresholds``, ``raise_after``, ``clear_after``), over the rules of a worker settings file ``config`` when given
    (``check --config``: it then judges as that worker would). ``output_dir``: also keep the
    files ``streamdrift check --output`` writes (events.jsonl, summary.json, per-window SageMaker files); by
    default they go to a temporary directory that is removed.
    """
    base = baseline if isinstance(baseline, Baseline) else Baseline.load(baseline)
    path = as_path(data)
    label_path = as_path(labels) if labels is not None else None
    options = check_options(
        config_path=Path(config) if config is not None else None, window=_duration(window, "window"),
        window_records=window_records, lateness=_duration(lateness, "lateness"), labels=label_path,
        has_labels=labels is not None, method=method, alpha=alpha, correction=correction, statistic=statistic,
        thresholds=thresholds, feature_thresholds=feature_thresholds, raise_after=raise_after,
        clear_after=clear_after, timestamp_column=timestamp_column, id_column=id_column, exclude=exclude,
        fmt=fmt, chunk_rows=chunk_rows)
    label_source = chunk_source(labels) if labels is not None and label_path is None else None
    with tempfile.TemporaryDirectory(prefix="streamdrift-check-") as scratch:
        out = Path(output_dir) if output_dir is not None else Path(scratch)
        if path is not None and label_source is None:
            report = run_check(path, base.document, out, options)
        else:
            if path is not None and fmt is None:
                fmt = detect_format(path)
            report = run_check_source(chunk_source(data, fmt), base.document, out, options,
                                      fmt=fmt if path is not None else None, labels=label_source)
    return CheckResult(report, base, output_dir=Path(output_dir) if output_dir is not None else None)
