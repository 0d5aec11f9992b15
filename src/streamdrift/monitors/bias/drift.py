"""The bias drift rule: bootstrap intervals of each metric, the allowed range around the baseline, and
the evaluation of a window (see docs/bias_attribution.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from streamdrift.errors import (
    ConfigError,
    VersionMismatchError,
)
from streamdrift.monitors.bias.spec import (
    ALL_METRICS,
    DEFAULT_DRIFT_METRICS,
    FAIR_VALUE,
    GROUP_A,
    GROUP_D,
    METRIC_DESCRIPTIONS,
    N_CELLS,
    PREDICTION_ONLY_METRICS,
    BiasConfig,
    FacetSpec,
)
from streamdrift.monitors.bias.state import BiasState, group_sizes, metrics_from_counts

# --------------------------------------------------------------------------------------------- intervals


@dataclass(frozen=True, slots=True)
class BiasDriftConfig:
    """The drift rule's parameters (see docs/bias_attribution.md).

    A metric drifts when the window's ``confidence`` interval lies entirely outside the allowed range
    ``baseline +- tol`` (``direction="both"``) or ``fair +- (|baseline - fair| + tol)`` (``"away_from_fair"``,
    SageMaker's "worse than the baseline" reading). On each side, ``tol`` is the larger of the metric's
    minimum tolerance (``tolerances.get(metric, min_tolerance)``) and ``sqrt(h_w**2 + h_b**2) - h_w``, with
    ``h_w`` / ``h_b`` the facing half-widths of the window's and the baseline's intervals: the decision is then
    a test of the difference at ``confidence`` that also needs the change to exceed the minimum tolerance.
    With a large baseline the per-metric false-alarm rate is about ``1 - confidence``.
    Intervals: bootstrap over the counts; ``"normal"`` = value +- z * bootstrap SD (stable with few reps; the
    percentile interval is used when a replicate is infinite), ``"percentile"`` = bootstrap percentiles.
    """

    confidence: float = 0.99
    n_bootstrap: int = 400
    seed: int = 0
    min_group_count: int = 50
    min_tolerance: float = 0.0
    tolerances: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    metrics: tuple[str, ...] = DEFAULT_DRIFT_METRICS
    direction: Literal["both", "away_from_fair"] = "both"
    interval: Literal["normal", "percentile"] = "normal"

    def __post_init__(self) -> None:
        if not 0.5 < self.confidence < 1.0:
            raise ConfigError(f"bias: confidence must be in (0.5, 1), got {self.confidence}")
        if self.n_bootstrap < 50:
            raise ConfigError(f"bias: n_bootstrap must be >= 50, got {self.n_bootstrap}")
        if self.min_group_count < 1 or self.min_tolerance < 0 or any(t < 0 for t in self.tolerances.values()):
            raise ConfigError("bias: min_group_count must be >= 1 and tolerances >= 0")
        unknown = (set(self.metrics) | set(self.tolerances)) - set(ALL_METRICS)
        if unknown:
            raise ConfigError(f"bias: unknown metrics {sorted(unknown)}; known: {list(ALL_METRICS)}")


def bootstrap_intervals(
    counts: NDArray[np.int64], config: BiasDriftConfig, rng: np.random.Generator
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every metric from ``counts[2, 6]``.

    Non-parametric bootstrap on the counts: the window's rows are resampled with replacement, i.e. the 12
    (group, cell) counts are drawn from one multinomial with the observed proportions, so group sizes vary too
    (which CI needs).
    """
    total = int(counts.sum())
    if total == 0:
        reps = np.zeros((config.n_bootstrap, 2, N_CELLS), dtype=np.int64)
    else:
        flat = rng.multinomial(total, counts.reshape(-1) / total, size=config.n_bootstrap)
        reps = flat.reshape(config.n_bootstrap, 2, N_CELLS)
    values_now = metrics_from_counts(counts)
    alpha = 1.0 - config.confidence
    z = float(_normal_quantile(1.0 - alpha / 2))
    out: dict[str, tuple[float, float]] = {}
    for name, values in metrics_from_counts(reps).items():
        centre = float(values_now[name])
        if config.interval == "normal" and np.isfinite(values).all() and np.isfinite(centre):
            half = z * float(values.std(ddof=1))
            out[name] = (centre - half, centre + half)
        else:
            lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
            out[name] = (float(lo), float(hi))
    return out


def _normal_quantile(p: float) -> float:
    """Standard normal quantile (statistics.NormalDist; no scipy needed on the hot path)."""
    return NormalDist().inv_cdf(p)


def _enough(name: str, counts: NDArray[np.int64], minimum: int) -> bool:
    n, labelled = group_sizes(counts)
    sizes = n if name in PREDICTION_ONLY_METRICS else labelled
    return bool((sizes >= minimum).all())


def allowed_range(
    name: str,
    baseline: float,
    baseline_interval: tuple[float, float] | None,
    window: float,
    window_interval: tuple[float, float],
    config: BiasDriftConfig,
) -> tuple[float, float]:
    """The range the window's interval must touch for the metric not to drift (see :class:`BiasDriftConfig`)."""
    floor = config.tolerances.get(name, config.min_tolerance)
    b_lo, b_hi = baseline_interval if baseline_interval is not None else (baseline, baseline)
    w_lo, w_hi = max(window - window_interval[0], 0.0), max(window_interval[1] - window, 0.0)
    tol_up = max(floor, math.hypot(w_lo, max(b_hi - baseline, 0.0)) - w_lo)
    tol_down = max(floor, math.hypot(w_hi, max(baseline - b_lo, 0.0)) - w_hi)
    if config.direction == "both":
        return baseline - tol_down, baseline + tol_up
    fair = FAIR_VALUE[name]
    if baseline >= fair:
        reach_up, reach_down = baseline - fair + tol_up, baseline - fair + tol_down
    else:
        reach_up, reach_down = fair - baseline + tol_up, fair - baseline + tol_down
    return fair - reach_down, fair + reach_up


# --------------------------------------------------------------------------------------------- baseline


@dataclass(frozen=True, slots=True)
class MetricBaseline:
    """A baseline metric value and, when known (built from counts), its interval."""

    value: float
    interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": json_float(self.value),
                "interval": [json_float(x) for x in self.interval] if self.interval else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricBaseline:
        interval = data.get("interval")
        return cls(read_float(data["value"]),
                   (read_float(interval[0]), read_float(interval[1])) if interval else None)


def json_float(x: float) -> float | str:
    """JSON has no infinities: write them as Clarify does ("inf" / "-inf")."""
    return x if np.isfinite(x) else ("inf" if x > 0 else ("-inf" if x < 0 else "nan"))


def read_float(x: object) -> float:
    if isinstance(x, int | float | str) and not isinstance(x, bool):
        return float(x)
    raise ConfigError(f"bias baseline: {x!r} is not a number")


@dataclass(frozen=True, slots=True)
class FacetBaseline:
    """Baseline metrics of one facet (``value_or_threshold`` as written in Clarify's analysis.json)."""

    facet: str
    value_or_threshold: str
    metrics: Mapping[str, MetricBaseline]
    counts: NDArray[np.int64] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"facet": self.facet, "value_or_threshold": self.value_or_threshold,
                "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
                "counts": self.counts.tolist() if self.counts is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FacetBaseline:
        counts = data.get("counts")
        return cls(str(data["facet"]), str(data["value_or_threshold"]),
                   {str(k): MetricBaseline.from_dict(v) for k, v in data["metrics"].items()},
                   np.asarray(counts, dtype=np.int64).reshape(2, N_CELLS) if counts is not None else None)


@dataclass(frozen=True, slots=True)
class BiasBaseline:
    """What ``Baseline.bias`` holds: per facet the baseline metrics; the state config when built from data."""

    facets: tuple[FacetBaseline, ...]
    config: BiasConfig | None = None
    label: str | None = None
    label_value_or_threshold: str | None = None

    @classmethod
    def from_state(cls, state: BiasState, drift: BiasDriftConfig = BiasDriftConfig(),
                   label: str | None = None) -> BiasBaseline:
        """Values and bootstrap intervals of every metric the counts support (min group count applies)."""
        rng = np.random.default_rng(drift.seed)
        facets = []
        for i, spec in enumerate(state.config.facets):
            counts = state.counts[i]
            values = metrics_from_counts(counts)
            intervals = bootstrap_intervals(counts, drift, rng)
            metrics = {name: MetricBaseline(float(values[name]), intervals[name])
                       for name in ALL_METRICS if _enough(name, counts, drift.min_group_count)}
            facets.append(FacetBaseline(spec.name, spec.value_or_threshold, metrics, counts.copy()))
        return cls(tuple(facets), state.config, label, state.config.label.value_or_threshold)

    def find(self, spec: FacetSpec) -> FacetBaseline | None:
        """The baseline of a facet: same name and value_or_threshold, else the only entry with that name."""
        same_name = [f for f in self.facets if f.facet == spec.name]
        exact = [f for f in same_name if f.value_or_threshold == spec.value_or_threshold]
        if exact:
            return exact[0]
        return same_name[0] if len(same_name) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "facets": [f.to_dict() for f in self.facets],
                "config": self.config.to_dict() if self.config else None, "label": self.label,
                "label_value_or_threshold": self.label_value_or_threshold}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BiasBaseline:
        if data.get("version") != 1:
            raise VersionMismatchError(f"bias baseline version {data.get('version')!r}, this build reads 1")
        try:
            config = data.get("config")
            return cls(tuple(FacetBaseline.from_dict(f) for f in data["facets"]),
                       BiasConfig.from_dict(config) if config else None, data.get("label"),
                       data.get("label_value_or_threshold"))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"bias baseline is malformed: {exc!r}") from exc


# --------------------------------------------------------------------------------------------- evaluation

Status = Literal["ok", "insufficient_data", "no_baseline", "undefined"]


@dataclass(frozen=True, slots=True)
class BiasMetricResult:
    """One metric of one facet in one window, ready for a DriftEvent (monitor="bias", check="bias_drift_check")."""

    facet: str
    value_or_threshold: str
    metric: str
    value: float
    baseline_value: float | None
    interval: tuple[float, float] | None
    allowed_range: tuple[float, float] | None
    drifted: bool
    n_a: int
    n_d: int
    status: Status

    @property
    def description(self) -> str:
        return METRIC_DESCRIPTIONS[self.metric]


def evaluate_bias(window: BiasState, baseline: BiasBaseline,
                  drift: BiasDriftConfig = BiasDriftConfig()) -> list[BiasMetricResult]:
    """Every configured metric of every facet of the window, with its interval and drift decision."""
    rng = np.random.default_rng(drift.seed)
    results: list[BiasMetricResult] = []
    for i, spec in enumerate(window.config.facets):
        counts = window.counts[i]
        values = metrics_from_counts(counts)
        base = baseline.find(spec)
        intervals = bootstrap_intervals(counts, drift, rng)
        for name in drift.metrics:
            results.append(_judge(spec, name, counts, float(values[name]), intervals[name], base, drift))
    return results


def _judge(spec: FacetSpec, name: str, counts: NDArray[np.int64], value: float,
           interval: tuple[float, float], base: FacetBaseline | None, drift: BiasDriftConfig) -> BiasMetricResult:
    n, labelled = group_sizes(counts)
    sizes = n if name in PREDICTION_ONLY_METRICS else labelled
    ref = base.metrics.get(name) if base is not None else None
    status: Status = "ok"
    allowed: tuple[float, float] | None = None
    if not _enough(name, counts, drift.min_group_count):
        status = "insufficient_data"
    elif ref is None:
        status = "no_baseline"
    elif not (np.isfinite(ref.value) and np.isfinite(value)):
        status = "undefined"
    else:
        allowed = allowed_range(name, ref.value, ref.interval, value, interval, drift)
    drifted = allowed is not None and (interval[1] < allowed[0] or interval[0] > allowed[1])
    return BiasMetricResult(
        facet=spec.name, value_or_threshold=spec.value_or_threshold, metric=name, value=value,
        baseline_value=ref.value if ref is not None else None,
        interval=interval if status != "insufficient_data" else None, allowed_range=allowed,
        drifted=drifted, n_a=int(sizes[GROUP_A]), n_d=int(sizes[GROUP_D]), status=status,
    )
