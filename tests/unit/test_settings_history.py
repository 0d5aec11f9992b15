"""The ``history`` section of the settings: defaults, durations with units, the environment, refusals."""

from __future__ import annotations

import pytest

from streamdrift.errors import ConfigError
from streamdrift.settings import Settings, load_settings
from streamdrift.worker.topics import topic_specs


def test_defaults_and_units() -> None:
    h = Settings().history
    assert (h.enabled, h.topic, h.retention_ms) == (True, "streamdrift.profiles", 30 * 86_400_000)
    assert load_settings(overrides={"history.retention": "12h"}).history.retention_ms == 12 * 3_600_000


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMDRIFT_HISTORY__RETENTION", "7d")
    monkeypatch.setenv("STREAMDRIFT_HISTORY__TOPIC", "prod.profiles")
    h = load_settings().history
    assert (h.topic, h.retention_ms) == ("prod.profiles", 7 * 86_400_000)


@pytest.mark.parametrize("bad", [{"history.retention": "soon"}, {"history.retention": 0},
                                 {"history.retention": True}, {"history.topic": ""}, {"history.other": 1}])
def test_refusals(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load_settings(overrides=bad)


def test_topics_create_makes_the_profiles_topic_with_its_retention() -> None:
    settings = load_settings(overrides={"history.retention": "3d", "topics.partitions": 4})
    [spec] = [s for s in topic_specs(settings) if s.role == "profiles"]
    assert (spec.name, spec.partitions) == ("streamdrift.profiles", 4)
    assert spec.config == {"retention.ms": str(3 * 86_400_000), "max.message.bytes": str(64 << 20)}


def test_rollup_window_sizes() -> None:
    w = load_settings(overrides={"window.size": "1m", "window.rollups": ["1h", "1d"]}).window
    assert (w.rollup_ms, w.max_open_rollups) == ((3_600_000, 86_400_000), 2)
    assert Settings().window.rollup_ms == ()


@pytest.mark.parametrize("rollups", [["90s"], ["1m"], ["1h", "1h"], ["30s"]])
def test_rollups_must_be_multiples_of_the_window(rollups: list[str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(overrides={"window.size": "1m", "window.rollups": rollups})
