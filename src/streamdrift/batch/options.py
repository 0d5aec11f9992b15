"""A check's options from its rules as ``streamdrift check`` takes them (flags over an optional worker settings
file), shared by the command and by ``streamdrift.check`` so both judge alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from streamdrift.batch.check import CHUNK_ROWS, CheckOptions, parse_duration_ms
from streamdrift.ingest.files import DEFAULT_MAX_LINE_BYTES
from streamdrift.monitors.data_quality.evaluation import Method
from streamdrift.monitors.data_quality.stattests import Correction
from streamdrift.settings import Settings, load_settings

__all__ = ["check_options"]


def check_options(
    *,
    config_path: Path | None = None,
    window: str | None = None,
    window_records: int | None = None,
    lateness: str | None = None,
    labels: str | Path | None = None,
    has_labels: bool | None = None,
    method: str | None = None,
    alpha: float | None = None,
    correction: str | None = None,
    statistic: str | None = None,
    effect_size_floor: float | None = None,
    thresholds: Mapping[str, float] | None = None,
    feature_thresholds: Mapping[str, float] | None = None,
    raise_after: int | None = None,
    clear_after: int | None = None,
    timestamp_column: str | None = None,
    id_column: str | None = None,
    exclude: Sequence[str] = (),
    fmt: str | None = None,
    labels_fmt: str | None = None,
    has_header: bool | None = None,
    encoding: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    chunk_rows: int = CHUNK_ROWS,
    rollups: Sequence[str] = (),
) -> CheckOptions:
    """The options of a check: the settings file's rules (``config_path``; defaults without one), each given
    rule winning. ``has_labels``: labels come from elsewhere than a ``labels`` file (default: whether
    ``labels`` is given). The reading options (timestamp / id columns, format,
    exclude, encoding, ...) are :class:`CheckOptions`'s, passed through. ``rollups`` (durations, e.g. ``1h``):
    roll-up windows judged beside the windows; default: the settings file's ``window.rollups``."""
    settings = load_settings(config_path) if config_path is not None else Settings()
    base = settings.monitor_config()
    e = base.evaluation
    evaluation = dataclasses.replace(
        e, method=cast("Method | None", method) if method is not None else e.method,
        alpha=alpha if alpha is not None else e.alpha,
        correction=cast("Correction", correction) if correction is not None else e.correction,
        statistic=statistic or e.statistic,
        effect_size_floor=effect_size_floor if effect_size_floor is not None else e.effect_size_floor,
        thresholds={**e.thresholds, **(thresholds or {})},
        feature_thresholds={**e.feature_thresholds, **(feature_thresholds or {})},
    )
    labelled = labels is not None if has_labels is None else has_labels
    monitors = dataclasses.replace(base, evaluation=evaluation, quality_without_baseline=labelled)
    if config_path is not None and window is None and window_records is None:
        window_ms: int | None = settings.window.size_ms
        lateness_ms: int | None = settings.window.lateness_ms if lateness is None else parse_duration_ms(lateness)
    else:
        window_ms = parse_duration_ms(window) if window is not None else None
        lateness_ms = parse_duration_ms(lateness) if lateness is not None else (
            settings.window.lateness_ms if config_path is not None and window is not None else None)
    configured = config_path is not None
    return CheckOptions(
        window_ms=window_ms, window_records=window_records, lateness_ms=lateness_ms, config=evaluation,
        monitors=monitors,
        raise_after=raise_after or (settings.evaluation.raise_after if configured else 1),
        clear_after=clear_after or (settings.evaluation.clear_after if configured else 1),
        labels=labels, window_kll_k=monitors.profile.kll_k,
        concept_drift=settings.labels.concept_drift, concept_delta=settings.labels.concept_delta,
        timestamp_column=timestamp_column, id_column=id_column, exclude=tuple(exclude), fmt=fmt,
        labels_fmt=labels_fmt, has_header=has_header, encoding=encoding, max_line_bytes=max_line_bytes,
        chunk_rows=chunk_rows,
        rollups_ms=tuple(parse_duration_ms(r) for r in rollups) if rollups else
        (settings.window.rollup_ms if configured else ()),
        max_open_rollups=settings.window.max_open_rollups, rollup_models=settings.window.rollup_models,
    )
