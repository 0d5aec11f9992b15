"""What ``streamdrift history`` and ``baseline build --from-history`` make of rolled-up windows (no Kafka: the
worker's reader hands the stored windows over): a JSON summary per roll-up window, and a baseline file from the
merged windows of a span of production (the same document as one built from a file, marked with its source
span in ``extra["source"]``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from streamdrift.baseline.build import suggest_constraints
from streamdrift.baseline.document import Baseline, feature_summary, make_baseline_id
from streamdrift.errors import BaselineError
from streamdrift.events.events import rfc3339
from streamdrift.events.judge import ms_to_datetime
from streamdrift.monitors.base import DATA
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.rollup import RollUp

__all__ = ["baseline_from_windows", "summary_line", "window_summary"]


def window_summary(window: ReadyWindow, n_windows: int) -> dict[str, Any]:
    """A roll-up window as JSON: bounds, stage, how many windows and records it merges, whether any was
    partial, and (data stage) each feature's statistics like a baseline file's ``features``; the monitor
    states it holds by name."""
    out: dict[str, Any] = {
        "model_id": window.model_id, "model_version": window.model_version,
        "window_start": rfc3339(ms_to_datetime(window.window_start_ms)),
        "window_end": rfc3339(ms_to_datetime(window.window_end_ms)), "stage": window.stage,
        "windows": n_windows, "n_records": window.n_records, "partial": window.partial,
        "monitor_states": sorted(window.extras),
    }  # fmt: skip
    if window.stage == DATA:
        out["features"] = {name: feature_summary(fp) for name, fp in sorted(window.profile.features.items())}
    return out


def summary_line(window: ReadyWindow, n_windows: int) -> bytes:
    return orjson.dumps(window_summary(window, n_windows), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


def baseline_from_windows(windows: Iterable[ReadyWindow], model_id: str, source: dict[str, Any],
                          created_at: datetime | None = None) -> Baseline:
    """A baseline of the data stages of ``windows`` (merged: their sketches keep the windows' KLL k, so its
    quantiles carry the windows' rank-error bound) with suggested constraints, marked ``extra["source"]`` =
    ``source`` plus the windows, records and span it holds. BaselineError when no window has records."""
    rolled = RollUp(None).add_all(w for w in windows if w.stage == DATA and w.model_id == model_id)
    found = [(w, n) for w, n in rolled.result() if w.stage == DATA]
    if not found or found[0][0].n_records == 0:
        raise BaselineError(f"no window of model {model_id!r} with records in that span")
    window, n_windows = found[0]
    profile = window.profile
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    span = {"first_window_start": rfc3339(ms_to_datetime(window.window_start_ms)),
            "last_window_end": rfc3339(ms_to_datetime(window.window_end_ms)),
            "windows": n_windows, "partial_windows": window.partial, "n_records": window.n_records}
    return Baseline(
        baseline_id=make_baseline_id(model_id, created, profile.to_bytes()), model_id=model_id,
        created_at=created.isoformat().replace("+00:00", "Z"), profile=profile,
        constraints=suggest_constraints(profile), extra={"source": {**source, **span}},
    )
