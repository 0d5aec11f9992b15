"""The sections of the worker's settings (topics, window, profile, evaluation, labels, monitors, limits) and
the duration type they share; :mod:`streamdrift.settings` assembles them into :class:`Settings`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from streamdrift.errors import ConfigError
from streamdrift.ingest.limits import YEAR_3000_MS, CaptureLimits
from streamdrift.redaction import REDACTED as REDACTED  # re-exported: what a redacted value shows

if TYPE_CHECKING:
    pass


_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


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
    min_insync_replicas: int | None = Field(
        default=None, ge=1, description="min.insync.replicas of every topic (topics create); default: 2 when "
        "replication_factor is 3 or more, else the broker's")

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
    rollups: tuple[Duration, ...] = Field(
        default=(), description="roll-up window sizes judged beside the base windows, merged from them (e.g. "
        "[1h, 1d]; each a multiple of size, aligned to the epoch; docs/history.md)")
    rollup_models: tuple[str, ...] = Field(
        default=(), description="the models judged in roll-up windows too (empty: every model)")
    max_open_rollups: int = Field(
        default=2, ge=1, description="open roll-up windows per model, size and stage at most (the memory bound; one "
        "is open while base windows come in order): beyond it the oldest is released as partial")

    @model_validator(mode="after")
    def _check_rollups(self) -> WindowSettings:
        for every in self.rollups:
            ms = round(every * 1000)
            if ms <= self.size_ms or ms % self.size_ms or ms % 1000:
                raise ValueError(f"window.rollups: {every:g} s is not a multiple (>= 2) of window.size "
                                 f"({self.size:g} s) in whole seconds")
        if len(set(self.rollups)) != len(self.rollups):
            raise ValueError("window.rollups: a size is given twice")
        return self

    @property
    def rollup_ms(self) -> tuple[int, ...]:
        return tuple(round(every * 1000) for every in self.rollups)

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
    multivariate_alpha: float = Field(default=0.01, gt=0, lt=1, description="multivariate drift: Holm level of "
                                      "the reconstruction-error KS and mean tests")
    multivariate_min_records: int = Field(default=200, ge=2, description="multivariate drift: records a window "
                                          "needs before it is judged")


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
