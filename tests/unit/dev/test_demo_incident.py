"""The demo's label-free incident: applicants crowd around the decision boundary and no label is sent; the
baseline the demo publishes makes the estimated performance raise it from the scores alone."""

from __future__ import annotations

import numpy as np
from estimation import judge

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.demo import PHASES, UNLABELLED, training_baseline
from streamdrift.dev.synthetic import Scenario, generate
from streamdrift.monitors.base import Rows
from streamdrift.monitors.registry import MonitorConfig, monitors_for

WINDOW = 4000  # one demo window: 10 s at 400 predictions/s


def _rows(scenario: Scenario, seed: int) -> Rows:
    batch = generate(WINDOW, np.random.default_rng(seed), scenario)
    cols = columns_from_rows(batch.rows())
    n = cols.n_rows
    return Rows(CaptureBatch("credit-risk", "1", np.arange(n, dtype=np.int64), np.full(n, None, dtype=object), cols,
                             None, batch.score, None, np.arange(n, dtype=np.int64)))


def test_the_unlabelled_incident_is_raised_by_the_estimate_alone() -> None:
    assert Scenario.BORDERLINE in PHASES and Scenario.BORDERLINE in UNLABELLED
    baseline, _ = training_baseline(20_000, 7)
    monitors = monitors_for(baseline, MonitorConfig())
    assert {"estimated_performance", "multivariate"} <= set(monitors.names)
    base_accuracy = baseline.estimated_performance["metrics"]["accuracy"]["value"]  # type: ignore[index]
    truth = generate(WINDOW, np.random.default_rng(3), Scenario.BORDERLINE)
    assert float((truth.prediction == truth.label).mean()) < base_accuracy - 0.05  # the drop is real
    incident = judge(monitors, _rows(Scenario.BORDERLINE, 3), "estimated_performance")["estimated_performance"]
    assert "accuracy" in {v.metric for v in incident.violations}
    for seed in (4, 5, 6):
        normal = judge(monitors, _rows(Scenario.NORMAL, seed), "estimated_performance")["estimated_performance"]
        assert not normal.violations
