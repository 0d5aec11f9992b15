"""Concept-drift monitor on per-record error streams."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.errors import BadRecordError, ConfigError
from streamdrift.monitors.model_quality.concept import (
    ConceptDriftConfig,
    ConceptDriftMonitor,
    DetectorName,
    error_stream,
)


def _bernoulli(seed: int, parts: list[tuple[float, int]]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(n) < p).astype(np.float64) for p, n in parts])


def test_detects_step_and_reports_batch_index() -> None:
    """0.2 -> 0.4: ADWIN (delta 0.01) finds it within 600 records in each of 10 seeded runs."""
    delays = []
    for seed in range(10):
        x = _bernoulli(seed, [(0.2, 5000), (0.4, 2000)])
        mon = ConceptDriftMonitor()
        first = mon.update(x[:3000])
        signals = mon.update(x[3000:])
        assert first == []
        assert signals, seed
        s = signals[0]
        assert s.record == s.index + 3000 and s.error_after > s.error_before
        delays.append(s.record - 5000)
    assert all(0 <= d <= 600 for d in delays), delays


def test_quiet_without_change() -> None:
    alarms = sum(len(ConceptDriftMonitor().update(_bernoulli(seed, [(0.2, 20_000)]))) for seed in range(5))
    assert alarms <= 1  # tuned for <= 0.01 per 1,000 records; 100k records here


def test_cooldown_clear_and_direction() -> None:
    x = _bernoulli(7, [(0.1, 4000), (0.5, 3000), (0.1, 3000)])
    mon = ConceptDriftMonitor(ConceptDriftConfig(cooldown=10_000, clear_after=2000))
    signals = mon.update(x)
    assert len(signals) == 1  # the cool-down swallows the later detections
    assert mon.in_drift is False  # more than clear_after records since the signal
    both = ConceptDriftMonitor(ConceptDriftConfig(cooldown=0, increases_only=False)).update(x)
    assert any(s.error_after < s.error_before for s in both) and len(both) >= 2


@pytest.mark.parametrize("name", ["page_hinkley", "hddm_a", "kswin"])
def test_other_detectors_fire_on_big_step(name: DetectorName) -> None:
    x = _bernoulli(3, [(0.05, 3000), (0.6, 1000)])
    signals = ConceptDriftMonitor(ConceptDriftConfig(detector=name)).update(x)
    assert any(s.record >= 3000 for s in signals)


def test_errors_and_error_stream() -> None:
    with pytest.raises(ConfigError):
        ConceptDriftConfig(detector="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ConceptDriftMonitor(ConceptDriftConfig(params={"no_such": 1}))
    with pytest.raises(BadRecordError):
        ConceptDriftMonitor().update(np.array([0.0, np.nan]))
    assert error_stream([1, 0, 2], [1, 1, 2], classification=True).tolist() == [0.0, 1.0, 0.0]
    assert error_stream([1.0, 2.0], [1.5, 1.0], classification=False).tolist() == [0.5, 1.0]
