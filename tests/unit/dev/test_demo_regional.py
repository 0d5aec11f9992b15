"""The demo's regional incident: incomes jump in one region only (a tenth of the traffic); the baseline the demo
publishes has per-region profiles, so the region's segment raises it."""

from __future__ import annotations

import numpy as np

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.demo import PHASES, training_baseline
from streamdrift.dev.synthetic import REGIONAL, Scenario, generate
from streamdrift.monitors.base import Rows
from streamdrift.monitors.registry import MonitorConfig, monitors_for

WINDOW = 1200  # the integration test's demo window: 4 s at 300 predictions/s


def _segment_violations(scenario: Scenario, seed: int) -> set[tuple[str | None, str | None]]:
    baseline, _ = training_baseline(20_000, 7)
    monitors = monitors_for(baseline, MonitorConfig())
    segments = monitors.get("segments")
    assert segments is not None
    batch = generate(WINDOW, np.random.default_rng(seed), scenario)
    cols = columns_from_rows(batch.rows())
    n = cols.n_rows
    rows = Rows(CaptureBatch("credit-risk", "1", np.arange(n, dtype=np.int64), np.full(n, None, dtype=object), cols,
                             None, batch.score, None, np.arange(n, dtype=np.int64)))
    state = segments.new_state()
    segments.update(state, rows)
    return {(v.segment, v.feature) for v in segments.judge(state).violations}


def test_the_regional_incident_is_raised_in_its_region() -> None:
    assert Scenario.REGIONAL_INCOME in PHASES
    assert _segment_violations(Scenario.REGIONAL_INCOME, 8) == {(REGIONAL, "income")}
    for seed in (4, 5):
        assert _segment_violations(Scenario.NORMAL, seed) == set()
