"""The one typed, frozen settings object of a streamdrift worker.

Precedence, lowest to highest: defaults < config file (YAML or TOML) < environment (``STREAMDRIFT_*``,
nested fields with ``__``, e.g. ``STREAMDRIFT_WINDOW__SIZE=5m``) < explicit overrides (CLI flags).
The environment is read only by :func:`load_settings`; constructing :class:`Settings` directly never
reads it, so library code and tests stay deterministic.

Durations accept seconds as numbers or strings with a unit: ``"250ms"``, ``"10s"``, ``"5m"``, ``"1h"``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from streamdrift.errors import ConfigError
from streamdrift.ingest.sources.config import SourceSettings, check_sources
from streamdrift.redaction import REDACTED as REDACTED  # re-exported: what a redacted value shows
from streamdrift.redaction import redact_kafka_options
from streamdrift.settings.history import HistorySettings
from streamdrift.settings.segments import SegmentSettings as SegmentSettings

if TYPE_CHECKING:
    from streamdrift.monitors.registry import MonitorConfig

from streamdrift.settings.sections import (  # re-exported: the sections are part of the settings API
    ClientValue as ClientValue,
)
from streamdrift.settings.sections import (
    Duration as Duration,
)
from streamdrift.settings.sections import (
    EvaluationSettings as EvaluationSettings,
)
from streamdrift.settings.sections import (
    LabelSettings as LabelSettings,
)
from streamdrift.settings.sections import (
    LimitSettings as LimitSettings,
)
from streamdrift.settings.sections import (
    MonitorSettings as MonitorSettings,
)
from streamdrift.settings.sections import (
    ProfileSettings as ProfileSettings,
)
from streamdrift.settings.sections import (
    TopicSettings as TopicSettings,
)
from streamdrift.settings.sections import (
    WindowSettings as WindowSettings,
)
from streamdrift.settings.sections import (
    parse_duration as parse_duration,
)

_MIN_TOKEN_CHARS = 16


class Settings(BaseSettings):
    """Everything a streamdrift worker needs. Frozen: build a new one with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        frozen=True,
        env_prefix="STREAMDRIFT_",
        env_nested_delimiter="__",
        extra="forbid",
        hide_input_in_errors=True,  # a validation error would otherwise print every value given, secrets too
    )

    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "streamdrift"
    instance_id: str | None = Field(
        default=None,
        description="stable id of this data-plane instance: static group membership and a fixed transactional.id, "
        "so a restarted instance fences its crashed predecessor at once (default: unique per process)",
    )
    topics: TopicSettings = Field(default_factory=TopicSettings)
    window: WindowSettings = Field(default_factory=WindowSettings)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    monitors: MonitorSettings = Field(default_factory=MonitorSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)  # the profiles topic (settings/history.py)
    segments: SegmentSettings = Field(default_factory=SegmentSettings)  # drift per slice (settings/segments.py)
    commit_interval: Duration = Field(default=2.0, gt=0, description="data-plane transaction interval")
    commit_max_records: int = Field(
        default=200_000, ge=1, description="commit earlier once this many records are pending: bounds the memory of "
        "the deltas (one profile per model and partition) under high throughput"
    )
    merge_timeout: Duration = Field(
        default=120.0, gt=0, description="evaluate a window as partial when not every partition closed it within this "
        "time after the first one did"
    )
    max_record_bytes: int = Field(default=1 << 20, ge=64)
    batch_size: int = Field(default=5000, ge=1, description="messages per consume() call")
    web_host: str = Field(
        default="127.0.0.1", min_length=1,
        description="address the web server (and the data plane's metrics server) binds: loopback by default; "
        "0.0.0.0 (every interface) or another address opens it to the network, see docs/security.md",
    )
    web_port: int = Field(default=8000, ge=0, le=65535)
    web_auth_token: SecretStr | None = Field(
        default=None, description="bearer token required by /status, /status/{model} and /report/{model} "
        "(header 'Authorization: Bearer <token>'; at least 16 characters); /metrics and /health stay open",
    )
    web_auth_user: str | None = Field(default=None, min_length=1, description="HTTP basic auth user for /status "
                                      "and /report (with web_auth_password)")
    web_auth_password: SecretStr | None = Field(default=None, description="HTTP basic auth password (with "
                                                "web_auth_user)")
    max_features_per_model: int = Field(default=200, ge=1)
    kafka: dict[str, str] = Field(default_factory=dict, description="librdkafka options for every client")
    sasl_password: SecretStr | None = None
    sources: tuple[SourceSettings, ...] = Field(default=(), description="capture topics read through a mapping "
                                                "(docs/sources.md)")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        check_sources(self.sources, set(self.topics.all().values()))
        if self.window.lateness >= self.window.size * 100:
            raise ValueError("window.lateness is absurdly large compared with window.size")
        if "bootstrap.servers" in self.kafka:
            raise ValueError("set bootstrap_servers, not kafka['bootstrap.servers']")
        if "sasl.password" in self.kafka:
            raise ValueError("set sasl_password (a secret), not kafka['sasl.password']")
        if (self.web_auth_user is None) != (self.web_auth_password is None):
            raise ValueError("web_auth_user and web_auth_password go together: set both or neither")
        if self.web_auth_password is not None and not self.web_auth_password.get_secret_value():
            raise ValueError("web_auth_password is empty")
        if self.web_auth_token is not None and len(self.web_auth_token.get_secret_value()) < _MIN_TOKEN_CHARS:
            raise ValueError(f"web_auth_token must have at least {_MIN_TOKEN_CHARS} characters "
                             "(e.g. the output of `openssl rand -hex 32`)")
        return self

    @property
    def web_auth_enabled(self) -> bool:
        """Whether /status and /report ask for credentials (web_auth_token or web_auth_user/password)."""
        return self.web_auth_token is not None or self.web_auth_user is not None

    def __repr_args__(self) -> Any:
        # repr() / str() show the librdkafka options redacted too, not only the SecretStr fields
        for name, value in super().__repr_args__():
            yield name, redact_kafka_options(value) if name == "kafka" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only explicit values: load_settings() is the one place that reads the environment.
        return (init_settings,)

    def client_config(self, extra: Mapping[str, ClientValue] | None = None) -> dict[str, ClientValue]:
        """librdkafka configuration for one client: bootstrap, pass-through options, the secret, ``extra``."""
        config: dict[str, ClientValue] = {"bootstrap.servers": self.bootstrap_servers, **self.kafka}
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        config.update(extra or {})
        return config

    def monitor_config(self) -> MonitorConfig:
        """The monitor rules of these settings (``check --config`` reads the same file, so it judges alike)."""
        from streamdrift.monitors.attribution.ranking import AttributionDriftConfig
        from streamdrift.monitors.bias.drift import BiasDriftConfig
        from streamdrift.monitors.data_quality.evaluation import EvaluationConfig
        from streamdrift.monitors.model_quality.rule import QualityRuleConfig
        from streamdrift.monitors.multivariate.monitor import MultivariateRuleConfig
        from streamdrift.monitors.registry import MonitorConfig
        from streamdrift.profile.profiles import ProfileParams

        e, lab, mon, p = self.evaluation, self.labels, self.monitors, self.profile
        return MonitorConfig(
            evaluation=EvaluationConfig(method=e.method, alpha=e.alpha, correction=e.correction,
                                        effect_size_floor=e.effect_size_floor, statistic=e.statistic,
                                        thresholds=dict(e.thresholds), feature_thresholds=dict(e.feature_thresholds),
                                        categorical_effect_size_floor=e.categorical_effect_size_floor,
                                        max_categories=e.max_categories, top_categories=e.top_categories,
                                        min_window_records=e.min_window_records),
            quality=QualityRuleConfig(alpha=lab.alpha, min_records=lab.min_labelled),
            bias=BiasDriftConfig(confidence=mon.bias_confidence, min_group_count=mon.bias_min_group_count),
            attribution=AttributionDriftConfig(mon.attribution_threshold, mon.attribution_min_records),
            multivariate=MultivariateRuleConfig(mon.multivariate_alpha, mon.multivariate_min_records),
            profile=ProfileParams(kll_k=p.kll_k, frequent_lg_max_k=p.frequent_lg_max_k, hll_lg_k=p.hll_lg_k),
            quality_without_baseline=lab.enabled, max_features=self.limits.max_features,
            segments=self.segments.config(),
        )

    def redacted(self) -> dict[str, Any]:
        """A JSON-able view for logs and the status API: every secret (SecretStr) field and every librdkafka option
        not on the allow-list of :mod:`streamdrift.redaction` shown as ``***``."""
        data = self.model_dump(mode="json")
        for name in type(self).model_fields:
            if isinstance(getattr(self, name), SecretStr):
                data[name] = REDACTED
        data["kafka"] = redact_kafka_options(self.kafka)
        return data


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        data: object = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} is not valid {path.suffix or 'YAML'}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"window.size": "5m"}`` or ``{"window__size": ...}`` -> ``{"window": {"size": "5m"}}``; None = unset."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.replace("__", ".").split(".")
        if parts[0] == "kafka" and len(parts) > 1:  # librdkafka option names contain dots themselves
            parts = ["kafka", ".".join(parts[1:])]
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return nested


def load_settings(config_file: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults < ``config_file`` < environment < ``overrides`` (dotted keys for nested fields)."""
    data = _read_config_file(config_file) if config_file is not None else {}
    env = EnvSettingsSource(Settings)()
    data = _deep_merge(data, env)
    data = _deep_merge(data, _nest(overrides or {}))
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc


def parse_kafka_options(options: Sequence[str]) -> dict[str, str]:
    """``["security.protocol=SASL_SSL", ...]`` (repeatable CLI option) -> ``{"security.protocol": "SASL_SSL"}``."""
    parsed: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--kafka-option wants key=value, got {option!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def load_cli_settings(
    config_file: Path | None, overrides: Mapping[str, Any], kafka_options: Sequence[str] = ()
) -> Settings:
    """What CLI entry points call: flags (None = not given) and ``--kafka-option key=value`` on top."""
    merged = dict(overrides)
    if kafka_options:
        merged["kafka"] = parse_kafka_options(kafka_options)
    return load_settings(config_file, merged)
