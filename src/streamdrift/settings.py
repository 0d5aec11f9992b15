"""The one typed, frozen settings object of a streamdrift worker.

Precedence, lowest to highest: defaults < config file (YAML or TOML) < environment (``STREAMDRIFT_*``,
nested fields with ``__``, e.g. ``STREAMDRIFT_WINDOW__SIZE=5m``) < explicit overrides (CLI flags).
The environment is read only by :func:`load_settings`; constructing :class:`Settings` directly never
reads it, so library code and tests stay deterministic.

Durations accept seconds as numbers or strings with a unit: ``"250ms"``, ``"10s"``, ``"5m"``, ``"1h"``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
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
from streamdrift.ingest.limits import YEAR_3000_MS, CaptureLimits
from streamdrift.redaction import REDACTED as REDACTED  # re-exported: what a redacted value shows
from streamdrift.redaction import redact_kafka_options
from streamdrift.settings_history import HistorySettings

if TYPE_CHECKING:
    from streamdrift.monitors.registry import MonitorConfig

_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_MIN_TOKEN_CHARS = 16


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"500ms"``, ``"10s"``, ``"5m"``; ConfigError otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ConfigError(f"not a duration: {value!r} (use e.g. 500ms, 10s, 5m, 1h)")
        seconds = float(match["value"]) * _UNIT_SECONDS[match["unit"] or "s"]
    else:
        raise ConfigError(f"not a duration: {value!r}")
    if seconds < 0:
        raise ConfigError(f"a duration cannot be negative: {value!r}")
    return seconds


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ConfigError as exc:  # pydantic turns ValueError into a validation error with the field's path
        raise ValueError(str(exc)) from exc


Duration = Annotated[float, BeforeValidator(_duration)]
ClientValue = str | int | float | bool


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Frozen):
    """Topic names. Every default is ``streamdrift.<name>``."""

    capture: str = "streamdrift.capture"
    labels: str = "streamdrift.labels"
    partials: str = "streamdrift.partials"
    alerts: str = "streamdrift.alerts"
    baselines: str = "streamdrift.baselines"
    deadletter: str = "streamdrift.deadletter"
    capture_partitions: int = Field(default=6, ge=1, description="partitions of the capture topic (topics create)")
    partitions: int = Field(default=3, ge=1, description="partitions of the other topics (topics create)")
    replication_factor: int = Field(default=1, ge=1)

    def all(self) -> dict[str, str]:
        """Role -> topic name."""
        return {
            "capture": self.capture,
            "labels": self.labels,
            "partials": self.partials,
            "alerts": self.alerts,
            "baselines": self.baselines,
            "deadletter": self.deadletter,
        }


class WindowSettings(_Frozen):
    """Event-time tumbling windows of the data plane."""

    size: Duration = Field(default=60.0, gt=0, description="window length")
    lateness: Duration = Field(default=10.0, description="allowed lateness: watermark = max event time - lateness")
    late_policy: Literal["drop", "oldest_open"] = "drop"
    idle_timeout: Duration = Field(default=30.0, gt=0, description="an idle partition's watermark advances by wall clock")

    @property
    def size_ms(self) -> int:
        return round(self.size * 1000)

    @property
    def lateness_ms(self) -> int:
        return round(self.lateness * 1000)

    @property
    def idle_timeout_ms(self) -> int:
        return round(self.idle_timeout * 1000)


class ProfileSettings(_Frozen):
    """Sketch parameters of the window profiles. Every worker of a deployment must use the same values (the
    partials of one window are merged); the baseline may use others (a larger baseline k tightens the drift
    test's rank-error widening, see docs/evaluation.md)."""

    kll_k: int = Field(default=1000, ge=8, le=65535, description="KLL k of window sketches (windows of up to k "
                       "records are held exactly; rank-error bound 0.0028 beyond)")
    frequent_lg_max_k: int = Field(default=10, ge=3, le=21)
    hll_lg_k: int = Field(default=12, ge=4, le=21)


class EvaluationSettings(_Frozen):
    """How a closed window is compared with its baseline."""

    method: Literal["calibrated", "simple", "robust"] | None = Field(
        default=None, description="None: calibrated for streamdrift baselines, the baseline's own for SageMaker's"
    )
    statistic: str = Field(default="linf", description="numeric drift statistic (effect size): "
                           "one of the drift statistics table (linf, psi, js, wasserstein)")
    alpha: float = Field(default=0.01, gt=0, lt=1)
    correction: Literal["holm", "bh", "none"] = "holm"
    effect_size_floor: float = Field(default=0.05, ge=0, description="ignore significant but tiny differences "
                                     "(the L-inf threshold)")
    thresholds: dict[str, float] = Field(default_factory=dict, description="threshold per drift statistic, e.g. "
                                         "{psi: 0.25}; others keep their defaults")
    feature_thresholds: dict[str, float] = Field(default_factory=dict, description="threshold per feature (of the "
                                                 "selected statistic); wins over the baseline's own")
    categorical_effect_size_floor: float = Field(default=0.03, ge=0, description="minimum L-inf distance of "
                                                 "category shares for a categorical drift violation")
    max_categories: int = Field(default=1000, ge=1, description="categories tested one by one while the sketches "
                                "are exact; beyond, the well-counted top categories plus 'other'")
    top_categories: int = Field(default=200, ge=1, description="at most this many of the baseline's (and of the "
                                "window's) categories are cells of their own in the top-categories test")
    min_window_records: int = Field(default=30, ge=0)
    raise_after: int = Field(default=1, ge=1, description="consecutive drifting windows before an alert is raised")
    clear_after: int = Field(default=2, ge=1, description="consecutive clean windows before an alert is cleared")

    @model_validator(mode="after")
    def _check(self) -> EvaluationSettings:
        from streamdrift.monitors.data_quality.statistics import STATISTICS

        for name in (self.statistic, *self.thresholds):
            if name not in STATISTICS:
                raise ValueError(f"unknown drift statistic {name!r}: one of {', '.join(STATISTICS)}")
        if any(not v >= 0 for v in (*self.thresholds.values(), *self.feature_thresholds.values())):
            raise ValueError("thresholds must be >= 0")
        return self


class LabelSettings(_Frozen):
    """The labels topic, the label <-> prediction join and the monitors that need labels (model quality)."""

    enabled: bool = Field(default=True, description="consume the labels topic (co-partitioned with capture)")
    delay: Duration = Field(
        default=3600.0, ge=0,
        description="how long after a window ends (label event time) its labels still count in it: the window's "
        "model quality is evaluated when the labels watermark (max label timestamp - delay) passed its end; data "
        "quality, bias and attribution do not wait. A later label is joined (concept drift sees it) but counted late",
    )
    ttl: Duration = Field(default=24 * 3600.0, gt=0, description="how long a prediction or label waits for its match")
    max_memory_items: int = Field(
        default=300_000, ge=1,
        description="join entries (pending predictions and labels, matched keys) kept in memory per worker process "
        "before the first stored spill to disk (segment files; waiting labels to SQLite); the partitions' stores share it "
        "(each at least 10,000). About 160 bytes an entry with UUID inference ids (benchmarks/bench_join.py), so "
        "the default is about 50 MB",
    )
    spill_dir: str | None = Field(default=None, description="directory of the join store's spill files "
                                  "(default: a private temporary directory)")
    sample_rate: float = Field(
        default=1.0, gt=0, le=1, description="share of predictions that wait in the join store for their label "
        "(deterministic on model id + inference id, so a prediction and its label agree in every process); model "
        "quality and concept drift are then measured on that sample. Below 1 at high rates: every prediction that "
        "waits costs its store insert and, beyond max_memory_items, its share of the disk spill",
    )
    min_labelled: int = Field(default=200, ge=0, description="windows with fewer labelled records raise nothing")
    alpha: float = Field(default=0.01, gt=0, lt=1, description="model-quality drift rule significance")
    concept_drift: bool = Field(default=True, description="ADWIN on the joined error stream, per model")
    concept_delta: float = Field(default=0.01, gt=0, lt=1, description="ADWIN delta")

    @model_validator(mode="after")
    def _check(self) -> LabelSettings:
        if self.delay > self.ttl:
            raise ValueError(f"labels.delay ({self.delay:g} s) exceeds labels.ttl ({self.ttl:g} s): predictions would "
                             "expire before their window stops waiting for labels")
        return self


class MonitorSettings(_Frozen):
    """Bias and attribution drift rules (their facets and features come from the baseline)."""

    bias_confidence: float = Field(default=0.99, gt=0.5, lt=1)
    bias_min_group_count: int = Field(default=50, ge=1)
    attribution_threshold: float = Field(default=0.9, gt=0, le=1, description="NDCG below this is drift")
    attribution_min_records: int = Field(default=100, ge=1)


class LimitSettings(_Frozen):
    """What one capture or label message may hold (:class:`streamdrift.ingest.limits.CaptureLimits`). A message
    beyond a limit is dead-lettered with a reason (``too_many_rows``, ``too_large``, ``too_many_features``,
    ``too_long``, ``bad_timestamp``): never an exception, a stall or a large allocation. Lengths are characters."""

    max_rows_per_message: int = Field(default=100_000, ge=1, description="rows a columnar batch may declare")
    rows_per_byte: int = Field(default=1, ge=1, description="rows a batch may declare per byte of its size "
                               "(decompressed size for an Arrow batch): a 63-byte batch cannot declare 50M rows")
    max_decoded_bytes: int = Field(default=64 << 20, ge=1024, description="an Arrow batch's size with its buffers "
                                   "decompressed (checked from its headers, before decompressing)")
    max_features: int = Field(default=1000, ge=1, description="features (and attributions) of a record or batch: "
                              "more and it is dead-lettered; a model's rows of one poll naming more in all are cut "
                              "into several batches")
    max_model_id_chars: int = Field(default=128, ge=1, description="model_id and model_version")
    max_inference_id_chars: int = Field(default=256, ge=1)
    max_name_chars: int = Field(default=256, ge=1, description="feature and attribution names")
    max_value_chars: int = Field(default=1024, ge=1, description="text values: categories, text predictions, labels")
    min_timestamp_ms: int = Field(default=0, ge=0, description="earliest event time taken (epoch ms)")
    max_timestamp_ms: int = Field(default=YEAR_3000_MS, ge=1, le=(1 << 53) - 1, description="latest event time "
                                  "taken (epoch ms; default the year 3000, past any timestamp in milliseconds and "
                                  "below any in microseconds)")
    max_future: Duration = Field(default=3600.0, description="how far ahead of the worker's clock an event time "
                                 "may be")
    max_models: int = Field(default=1000, ge=1, description="models one data-plane process monitors: records of "
                            "further models are dead-lettered (too_many_models), so neither memory nor the "
                            "metrics grow with the model ids producers invent")
    max_partial_bytes: int = Field(default=1 << 20, ge=4096, description="largest partials message the data plane "
                                   "sends: a wider model's delta is split by features (keep it at or below the "
                                   "partials topic's max.message.bytes and the producer's batch.size)")
    max_window_bytes: int = Field(default=64 << 20, ge=1 << 20, description="largest merged window the control "
                                  "plane keeps in its changelogged table (its changelog topic's max.message.bytes, "
                                  "the producer's request and the restore's fetch size): about 24 KB per numeric "
                                  "feature, so 64 MiB holds windows of models with 2,000+ features")

    @model_validator(mode="after")
    def _check(self) -> LimitSettings:
        if self.min_timestamp_ms >= self.max_timestamp_ms:
            raise ValueError("limits.min_timestamp_ms must be below limits.max_timestamp_ms")
        return self

    @property
    def max_future_ms(self) -> int:
        return round(self.max_future * 1000)

    def capture_limits(self) -> CaptureLimits:
        """The limits as :func:`streamdrift.ingest.records.parse_capture` and ``parse_labels`` take them."""
        return CaptureLimits(
            max_rows_per_message=self.max_rows_per_message,
            rows_per_byte=self.rows_per_byte,
            max_decoded_bytes=self.max_decoded_bytes,
            max_features=self.max_features,
            max_model_id_chars=self.max_model_id_chars,
            max_inference_id_chars=self.max_inference_id_chars,
            max_name_chars=self.max_name_chars,
            max_value_chars=self.max_value_chars,
            min_timestamp_ms=self.min_timestamp_ms,
            max_timestamp_ms=self.max_timestamp_ms,
            max_future_ms=self.max_future_ms,
        )


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
    history: HistorySettings = Field(default_factory=HistorySettings)  # the profiles topic (settings_history.py)
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

    @model_validator(mode="after")
    def _check(self) -> Settings:
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
            profile=ProfileParams(kll_k=p.kll_k, frequent_lg_max_k=p.frequent_lg_max_k, hll_lg_k=p.hll_lg_k),
            quality_without_baseline=lab.enabled, max_features=self.limits.max_features,
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
