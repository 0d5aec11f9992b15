"""Settings: precedence (defaults < file < environment < overrides), durations, secrets never leak."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from streamdrift.errors import ConfigError
from streamdrift.redaction import strip_url_credentials
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


# the examples (ssl.key.pem, sasl.oauthbearer.config with its client secret, ...) and options a later
# librdkafka may add: none of their values may show
SECRET_KAFKA_OPTIONS = {
    "ssl.key.pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANsecretkeymaterial\n-----END PRIVATE KEY-----",
    "ssl.key.password": "s3cret-keypw",
    "sasl.oauthbearer.config": "principal=svc clientId=abc clientSecret=s3cret-oauth-config",
    "sasl.oauthbearer.client.secret": "s3cret-client-secret",
    "ssl.keystore.password": "s3cret-keystore",
    "sasl.oauthbearer.assertion.private.key.pem": "s3cret-assertion-key",
    "sasl.oauthbearer.extensions": "logicalCluster=lkc-1,token=s3cret-extension",
    "ssl.certificate.pem": "s3cret-maybe-a-key-pasted-here",
    "sasl.kerberos.kinit.cmd": "kinit -p svc --password-file=s3cret-kinit",
    "sasl.future.credential.option": "s3cret-future",
    "Security.Protocol": "s3cret-wrong-case",
    "zz.unknown": "s3cret-unknown",
}
SAFE_KAFKA_OPTIONS = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "OAUTHBEARER",
    "sasl.username": "svc-streamdrift",
    "client.id": "streamdrift-prod",
    "acks": "all",
    "compression.type": "zstd",
    "session.timeout.ms": "6000",
    "ssl.ca.location": "/etc/ssl/ca.pem",
    "ssl.key.location": "/etc/streamdrift/client.key",
}


def test_redacted_shows_only_allow_listed_kafka_options() -> None:
    s = Settings(kafka={**SECRET_KAFKA_OPTIONS, **SAFE_KAFKA_OPTIONS}, sasl_password=SecretStr("s3cret-sasl"),
                 web_auth_token=SecretStr("s3cret-web-token-0123456789"), web_auth_user="ops",
                 web_auth_password=SecretStr("s3cret-basic"))
    view = s.redacted()
    shown = orjson.dumps(view).decode() + repr(s) + str(s)
    assert "s3cret" not in shown
    assert {k: view["kafka"][k] for k in SECRET_KAFKA_OPTIONS} == dict.fromkeys(SECRET_KAFKA_OPTIONS, REDACTED)
    assert {k: view["kafka"][k] for k in SAFE_KAFKA_OPTIONS} == SAFE_KAFKA_OPTIONS
    assert view["sasl_password"] == view["web_auth_token"] == view["web_auth_password"] == REDACTED == "***"
    assert view["web_auth_user"] == "ops"
    assert s.client_config()["ssl.key.password"] == "s3cret-keypw"  # the clients get the real values


def test_redacted_url_option_loses_its_credentials() -> None:
    s = Settings(kafka={"sasl.oauthbearer.token.endpoint.url": "https://id:s3cret@idp.example:8443/token?key=s3cret#x",
                        "sasl.oauthbearer.method": "oidc"})
    view = s.redacted()["kafka"]
    assert view["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example:8443/token"
    assert view["sasl.oauthbearer.method"] == "oidc"
    assert strip_url_credentials("http://[::1]:80/t") == "http://[::1]:80/t"
    assert strip_url_credentials("http://[::1/t") == REDACTED  # does not parse: nothing of it shown


def test_invalid_settings_error_does_not_echo_secrets() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"kafka.bootstrap.servers": "x:1", "kafka.ssl.key.pem": "s3cret-pem",
                             "sasl_password": "s3cret-pw"})
    assert "bootstrap_servers" in str(raised.value) and "s3cret" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"web_auth_token": "s3cret-short"})
    assert "16 characters" in str(raised.value) and "s3cret" not in str(raised.value)


def test_web_settings_default_to_loopback_without_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.web_host == "127.0.0.1" and not s.web_auth_enabled
    monkeypatch.setenv("STREAMDRIFT_WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("STREAMDRIFT_WEB_AUTH_TOKEN", "t" * 32)
    loaded = load_settings()
    assert loaded.web_host == "0.0.0.0" and loaded.web_auth_enabled
    assert loaded.web_auth_token is not None and loaded.web_auth_token.get_secret_value() == "t" * 32
    monkeypatch.delenv("STREAMDRIFT_WEB_AUTH_TOKEN")
    basic = load_settings(None, {"web_auth_user": "ops", "web_auth_password": "pw"})
    assert basic.web_auth_enabled
    for bad in ({"web_auth_user": "ops"}, {"web_auth_password": "pw"}, {"web_auth_user": "ops", "web_auth_password": ""},
                {"web_host": ""}):
        with pytest.raises(ConfigError):
            load_settings(None, bad)


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


def test_multivariate_rule_settings_reach_the_monitor_config() -> None:
    loaded = load_settings(None, {"monitors.multivariate_alpha": 0.001, "monitors.multivariate_min_records": 500})
    rule = loaded.monitor_config().multivariate
    assert (rule.alpha, rule.min_records) == (0.001, 500)
    assert Settings().monitor_config().multivariate.alpha == 0.01
    with pytest.raises(ConfigError):
        load_settings(None, {"monitors.multivariate_alpha": 1.5})
