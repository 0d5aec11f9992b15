"""Settings: precedence (defaults < file < environment < overrides), durations, secrets never leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdrift.errors import ConfigError
from streamdrift.settings import REDACTED, Settings, load_settings, parse_duration


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("STREAMDRIFT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("10s", 10.0), ("5m", 300.0), ("1h", 3600.0), ("1.5", 1.5), (7, 7.0), (" 2 s ", 2.0)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["ten seconds", "-3s", "5 weeks", True, None, "3x"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_defaults_and_derived_milliseconds() -> None:
    s = Settings()
    assert s.topics.capture == "streamdrift.capture"
    assert s.topics.baselines == "streamdrift.baselines"
    assert s.window.size_ms == 60_000
    assert s.window.lateness_ms == 10_000
    assert s.commit_interval == 2.0


def test_constructor_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMDRIFT_GROUP_ID", "from-env")
    assert Settings().group_id == "streamdrift"
    assert load_settings().group_id == "from-env"


def test_precedence_file_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "streamdrift.yaml"
    config.write_text(
        "group_id: from-file\nbootstrap_servers: file:9092\nwindow:\n  size: 5m\n  lateness: 20s\n"
        "topics:\n  capture: file.capture\n"
    )
    monkeypatch.setenv("STREAMDRIFT_BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("STREAMDRIFT_WINDOW__LATENESS", "30s")
    s = load_settings(config, {"window.size": "2m", "group_id": None})
    assert s.group_id == "from-file"  # None override = not given
    assert s.bootstrap_servers == "env:9092"  # env beats file
    assert s.window.size_ms == 120_000  # flag beats file
    assert s.window.lateness_ms == 30_000  # env beats file, sibling of an overridden field kept
    assert s.topics.capture == "file.capture"
    assert s.topics.alerts == "streamdrift.alerts"


def test_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "streamdrift.toml"
    config.write_text('group_id = "t"\n[evaluation]\nalpha = 0.05\ncorrection = "bh"\n')
    s = load_settings(config)
    assert (s.group_id, s.evaluation.alpha, s.evaluation.correction) == ("t", 0.05, "bh")


def test_invalid_values_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="window"):
        load_settings(None, {"window.size": "soon"})
    with pytest.raises(ConfigError):
        load_settings(None, {"evaluation.correction": "bonferroni-ish"})
    with pytest.raises(ConfigError):
        load_settings(None, {"no_such_setting": 1})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")


def test_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        setattr(s, "group_id", "x")  # noqa: B010


def test_kafka_options_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMDRIFT_SASL_PASSWORD", "hunter2")
    s = load_settings(
        None,
        {
            "kafka.security.protocol": "SASL_SSL",
            "kafka.sasl.mechanism": "PLAIN",
            "kafka.sasl.username": "svc",
            "kafka.ssl.key.password": "keypw",
        },
    )
    config = s.client_config({"group.id": "g"})
    assert config["bootstrap.servers"] == s.bootstrap_servers
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "hunter2"
    assert config["group.id"] == "g"
    view = s.redacted()
    text = repr(view) + repr(s) + str(s)
    assert "hunter2" not in text
    assert "keypw" not in repr(view)
    assert view["sasl_password"] == REDACTED
    assert view["kafka"]["ssl.key.password"] == REDACTED
    assert view["kafka"]["sasl.username"] == "svc"


def test_secret_must_not_hide_in_kafka_options() -> None:
    with pytest.raises(ConfigError, match="sasl_password"):
        load_settings(None, {"kafka.sasl.password": "oops"})


def test_label_and_monitor_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert defaults.labels.enabled and defaults.labels.ttl == 24 * 3600 and defaults.labels.delay == 3600
    assert defaults.monitors.attribution_threshold == 0.9
    config = tmp_path / "c.yaml"
    config.write_text("labels:\n  ttl: 2h\n  spill_dir: /var/lib/sd\nmonitors:\n  bias_confidence: 0.995\n")
    monkeypatch.setenv("STREAMDRIFT_LABELS__DELAY", "5m")
    loaded = load_settings(config, {"labels.min_labelled": 50})
    assert (loaded.labels.ttl, loaded.labels.delay, loaded.labels.min_labelled) == (7200.0, 300.0, 50)
    assert loaded.labels.spill_dir == "/var/lib/sd" and loaded.monitors.bias_confidence == 0.995
    with pytest.raises(ConfigError):
        load_settings(None, {"labels.ttl": "0s"})
    with pytest.raises(ConfigError):
        load_settings(None, {"monitors.attribution_threshold": 1.5})


def test_window_kll_k_default_matches_the_check_command() -> None:
    from streamdrift.baseline.baseline import DEFAULT_WINDOW_KLL_K
    from streamdrift.batch.check import CheckOptions

    assert Settings().profile.kll_k == DEFAULT_WINDOW_KLL_K == CheckOptions(window_records=10).window_kll_k
