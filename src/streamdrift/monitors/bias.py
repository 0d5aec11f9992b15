"""Bias drift: SageMaker Clarify bias metrics from mergeable per-window confusion counts.

Groups follow Clarify's convention: the *sensitive facet* selected by :class:`FacetSpec` (its value(s), or
``value >= threshold`` for a numeric facet) is group **d** (disfavoured), every other row is group **a**.
So ``DPPL = q_a - q_d`` is positive when the sensitive group receives fewer positive predictions.

Per facet and group the state keeps six counts (cells): TP, FP, TN, FN for rows whose label is known and
UP / UN (predicted positive / negative) for rows without a label. Every metric is a function of these
counts, so windows merge exactly (integer sums) and the bootstrap resamples the counts themselves
(multinomial per group), fully vectorized.

Metrics (post-training): DPPL, DI, DCA, DCR, DAR, DRR, AD, RD, SD, TE; (pre-training, need labels): CI, DPL.
CDDPL (needs a group variable) and FT (needs the feature matrix and a k-NN model) are out of scope.
Divisions follow Clarify: 0/0 = 0, x/0 = +-inf, and a difference of two equal infinities is 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import (
    ConfigError,
    CorruptBlobError,
    EvaluationError,
    MergeError,
    ParameterMismatchError,
    VersionMismatchError,
)
from streamdrift.profile.sketches import BlobKind, pack_envelope, unpack_envelope

TP, FP, TN, FN, UP, UN = range(6)
N_CELLS = 6
GROUP_A, GROUP_D = 0, 1

POST_TRAINING_METRICS: tuple[str, ...] = ("DPPL", "DI", "DCA", "DCR", "DAR", "DRR", "AD", "RD", "SD", "TE")
PRE_TRAINING_METRICS: tuple[str, ...] = ("CI", "DPL")
ALL_METRICS: tuple[str, ...] = POST_TRAINING_METRICS + PRE_TRAINING_METRICS
# The metrics judged for drift by default: demographic parity of the predictions (difference and ratio), which
# need no labels. Each judged metric adds about 1 - confidence of false alarms per window (the label-based
# ones are only loosely correlated with these), so judging all twelve flags about 9% of unchanged windows at
# 2,000 records; add the others through BiasDriftConfig.metrics where labels arrive and that rate is wanted.
DEFAULT_DRIFT_METRICS: tuple[str, ...] = ("DPPL", "DI")
PREDICTION_ONLY_METRICS: frozenset[str] = frozenset({"DPPL", "DI", "CI"})

METRIC_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
        "DI": "Disparate Impact (DI)",
        "DCA": "Difference in Conditional Acceptance (DCA)",
        "DCR": "Difference in Conditional Rejection (DCR)",
        "DAR": "Difference in Acceptance Rates (DAR)",
        "DRR": "Difference in Rejection Rates (DRR)",
        "AD": "Accuracy Difference (AD)",
        "RD": "Recall Difference (RD)",
        "SD": "Specificity Difference (SD)",
        "TE": "Treatment Equality (TE)",
        "CI": "Class Imbalance (CI)",
        "DPL": "Difference in Positive Proportions in Labels (DPL)",
    }
)
#: The value a metric takes when both groups are treated alike (DI is a ratio, the rest are differences).
FAIR_VALUE: Mapping[str, float] = MappingProxyType({name: (1.0 if name == "DI" else 0.0) for name in ALL_METRICS})

Scalar = str | int | float | bool


def _missing_object(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


_missing_ufunc = np.frompyfunc(_missing_object, 1, 1)


def _is_missing(values: NDArray[Any]) -> NDArray[np.bool_]:
    """NaN (float columns) or None / NaN (object columns: strings, mixed values)."""
    if values.dtype.kind == "f":
        return np.asarray(np.isnan(values), dtype=bool)
    if values.dtype.kind == "O":
        return np.asarray(_missing_ufunc(values), dtype=bool)
    return np.zeros(values.shape, dtype=bool)


def _select(values: NDArray[Any], chosen: tuple[Scalar, ...] | None, threshold: float | None) -> NDArray[np.bool_]:
    """Rows whose value is one of ``chosen`` or (numeric) ``>= threshold``; missing rows give False."""
    if threshold is not None:
        numbers = values.astype(np.float64) if values.dtype.kind in "biuf" else _to_float(values)
        with np.errstate(invalid="ignore"):
            return np.asarray(numbers >= threshold, dtype=bool)
    chosen = chosen or ()
    if values.dtype.kind in "biuf" and all(isinstance(c, int | float) for c in chosen):
        return np.isin(values, np.asarray(chosen, dtype=np.float64))
    return np.isin(values.astype(str), np.asarray([_as_text(c) for c in chosen], dtype=str))


def _as_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number_or_nan(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")


_number_ufunc = np.frompyfunc(_number_or_nan, 1, 1)


def _to_float(values: NDArray[Any]) -> NDArray[np.float64]:
    """Numbers of an object column (strings and None become NaN)."""
    return np.asarray(_number_ufunc(values), dtype=np.float64)


def _validate_choice(kind: str, values: tuple[Scalar, ...] | None, threshold: float | None) -> None:
    if (values is None) == (threshold is None):
        raise ConfigError(f"{kind}: give exactly one of values or threshold")
    if values is not None and len(values) == 0:
        raise ConfigError(f"{kind}: values must not be empty")
    if threshold is not None and not np.isfinite(threshold):
        raise ConfigError(f"{kind}: threshold must be finite, got {threshold}")


@dataclass(frozen=True, slots=True)
class FacetSpec:
    """The sensitive group (Clarify's facet d) of one feature: its value(s), or ``value >= threshold``."""

    name: str
    values: tuple[Scalar, ...] | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        _validate_choice(f"facet {self.name!r}", self.values, self.threshold)

    @property
    def value_or_threshold(self) -> str:
        """Clarify's ``value_or_threshold`` label: the values joined by commas, or the threshold."""
        if self.threshold is not None:
            return _as_text(self.threshold)
        return ",".join(_as_text(v) for v in self.values or ())

    def groups(self, column: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(is_d, present) per row: whether the row is in the sensitive group, and whether it has a value."""
        values = np.asarray(column)
        present = ~_is_missing(values)
        return _select(values, self.values, self.threshold) & present, present

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values) if self.values is not None else None,
                "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FacetSpec:
        values = data.get("values")
        return cls(str(data["name"]), tuple(values) if values is not None else None, data.get("threshold"))


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """The positive outcome: label value(s), or ``score >= threshold``."""

    values: tuple[Scalar, ...] | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        _validate_choice("outcome", self.values, self.threshold)

    @property
    def value_or_threshold(self) -> str:
        if self.threshold is not None:
            return _as_text(self.threshold)
        return ",".join(_as_text(v) for v in self.values or ())

    def positive(self, column: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(is_positive, present) per row."""
        values = np.asarray(column)
        present = ~_is_missing(values)
        return _select(values, self.values, self.threshold) & present, present

    def to_dict(self) -> dict[str, Any]:
        return {"values": list(self.values) if self.values is not None else None, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutcomeSpec:
        values = data.get("values")
        return cls(tuple(values) if values is not None else None, data.get("threshold"))


@dataclass(frozen=True, slots=True)
class BiasConfig:
    """What a :class:`BiasState` counts: the facets and the positive outcome of predictions and labels."""

    facets: tuple[FacetSpec, ...]
    predicted: OutcomeSpec
    label: OutcomeSpec

    def __post_init__(self) -> None:
        if not self.facets:
            raise ConfigError("bias: at least one facet is needed")
        names = [f"{f.name}={f.value_or_threshold}" for f in self.facets]
        if len(set(names)) != len(names):
            raise ConfigError(f"bias: duplicate facets {names}")

    def to_dict(self) -> dict[str, Any]:
        return {"facets": [f.to_dict() for f in self.facets], "predicted": self.predicted.to_dict(),
                "label": self.label.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BiasConfig:
        try:
            return cls(tuple(FacetSpec.from_dict(f) for f in data["facets"]),
                       OutcomeSpec.from_dict(data["predicted"]), OutcomeSpec.from_dict(data["label"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bias config is malformed: {exc!r}") from exc


@dataclass(slots=True)
class BiasState:
    """Mergeable per-window counts: ``counts[facet, group, cell]`` (group 0 = a, 1 = d) and excluded rows."""

    config: BiasConfig
    counts: NDArray[np.int64]
    excluded: NDArray[np.int64]

    @classmethod
    def empty(cls, config: BiasConfig) -> Self:
        n = len(config.facets)
        return cls(config, np.zeros((n, 2, N_CELLS), dtype=np.int64), np.zeros(n, dtype=np.int64))

    @property
    def n_records(self) -> NDArray[np.int64]:
        """Counted rows per facet (excluded rows not included)."""
        return np.asarray(self.counts.sum(axis=(1, 2)), dtype=np.int64)

    def update(self, facets: Mapping[str, ArrayLike], predicted: ArrayLike, labels: ArrayLike | None = None) -> None:
        """Count a batch: ``facets`` maps facet name -> column; ``labels`` may be None or have missing rows."""
        pred_pos, pred_present = self.config.predicted.positive(predicted)
        n = pred_pos.shape[0]
        if labels is None:
            label_pos = np.zeros(n, dtype=bool)
            labelled = np.zeros(n, dtype=bool)
        else:
            label_pos, labelled = self.config.label.positive(labels)
        if label_pos.shape[0] != n:
            raise EvaluationError(f"bias: {label_pos.shape[0]} labels for {n} predictions")
        cell = _cells(pred_pos, label_pos, labelled)
        for i, spec in enumerate(self.config.facets):
            if spec.name not in facets:
                raise EvaluationError(f"bias: facet column {spec.name!r} missing from the batch")
            is_d, present = spec.groups(facets[spec.name])
            if is_d.shape[0] != n:
                raise EvaluationError(f"bias: facet {spec.name!r} has {is_d.shape[0]} rows, predictions {n}")
            valid = present & pred_present
            flat = is_d[valid].astype(np.intp) * N_CELLS + cell[valid]
            self.counts[i] += np.bincount(flat, minlength=2 * N_CELLS).reshape(2, N_CELLS)
            self.excluded[i] += int(n - np.count_nonzero(valid))

    def merge(self, other: BiasState) -> Self:
        if not isinstance(other, BiasState):
            raise MergeError(f"bias: cannot merge {type(other).__name__} into a BiasState")
        if other.config != self.config:
            raise MergeError("bias: cannot merge states with different facet / outcome configurations")
        self.counts += other.counts
        self.excluded += other.excluded
        return self

    def reset(self) -> None:
        """Back to zero counts (same configuration)."""
        self.counts[...] = 0
        self.excluded[...] = 0

    def to_bytes(self) -> bytes:
        """Shared envelope (kind BIAS, slots: config JSON length, facet count); payload: JSON config, counts."""
        params = json.dumps(self.config.to_dict(), sort_keys=True).encode()
        payload = self.counts.astype("<i8").tobytes() + self.excluded.astype("<i8").tobytes()
        return pack_envelope(BlobKind.BIAS, (len(params), len(self.config.facets), 0), params + payload)

    @classmethod
    def from_bytes(cls, blob: bytes, expected: BiasConfig | None = None) -> Self:
        config, payload = _read_header(blob)
        if expected is not None and expected != config:
            raise ParameterMismatchError("bias: blob was written for a different facet / outcome configuration")
        n = len(config.facets)
        size = (n * 2 * N_CELLS + n) * 8
        if len(payload) != size:
            raise CorruptBlobError(f"bias: payload is {len(payload)} bytes, expected {size}")
        arr = np.frombuffer(payload, dtype="<i8").astype(np.int64)
        if (arr < 0).any():
            raise CorruptBlobError("bias: negative counts in blob")
        return cls(config, arr[: n * 2 * N_CELLS].reshape(n, 2, N_CELLS).copy(), arr[n * 2 * N_CELLS :].copy())


def _cells(pred_pos: NDArray[np.bool_], label_pos: NDArray[np.bool_], labelled: NDArray[np.bool_]) -> NDArray[np.intp]:
    labelled_cell = np.where(pred_pos, np.where(label_pos, TP, FP), np.where(label_pos, FN, TN))
    return np.where(labelled, labelled_cell, np.where(pred_pos, UP, UN)).astype(np.intp)


def _read_header(blob: bytes) -> tuple[BiasConfig, bytes]:
    env = unpack_envelope(blob, BlobKind.BIAS, n_params=2)
    params_len, n_facets, _ = env.params
    if len(env.payload) < params_len:
        raise CorruptBlobError("bias: blob truncated inside its parameters")
    try:
        config = BiasConfig.from_dict(json.loads(env.payload[:params_len]))
    except (ValueError, ConfigError) as exc:
        raise CorruptBlobError(f"bias: unreadable parameters: {exc}") from exc
    if len(config.facets) != n_facets:
        raise CorruptBlobError(f"bias: {len(config.facets)} facets in the parameters, envelope says {n_facets}")
    return config, env.payload[params_len:]


# --------------------------------------------------------------------------------------------- metrics


def _divide(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """Clarify's division: 0/0 = 0 and x/0 = +-inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / np.where(den == 0, 1.0, den)
    return np.where(den == 0, np.where(num == 0, 0.0, np.copysign(np.inf, num)), ratio)


def _diff(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """x - y, with 0 when both are the same infinity (Clarify)."""
    with np.errstate(invalid="ignore"):
        return np.where(x == y, 0.0, x - y)


def metrics_from_counts(counts: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Every metric from ``counts[..., group, cell]`` (leading axes broadcast: a window, or bootstrap reps)."""
    c = np.asarray(counts, dtype=np.float64)
    a, d = c[..., GROUP_A, :], c[..., GROUP_D, :]

    def rate(num_cells: Sequence[int], den_cells: Sequence[int], g: NDArray[np.float64]) -> NDArray[np.float64]:
        return _divide(g[..., list(num_cells)].sum(-1), g[..., list(den_cells)].sum(-1))

    everything, labelled = range(N_CELLS), (TP, FP, TN, FN)
    q = [rate((TP, FP, UP), everything, g) for g in (a, d)]
    n_a, n_d = a.sum(-1), d.sum(-1)
    out = {
        "DPPL": q[0] - q[1],
        "DI": _divide(q[1], q[0]),
        "DCA": _diff(rate((TP, FN), (TP, FP), a), rate((TP, FN), (TP, FP), d)),
        "DCR": _diff(rate((TN, FP), (TN, FN), d), rate((TN, FP), (TN, FN), a)),
        "DAR": _diff(rate((TP,), (TP, FP), a), rate((TP,), (TP, FP), d)),
        "DRR": _diff(rate((TN,), (TN, FN), d), rate((TN,), (TN, FN), a)),
        "AD": _diff(rate((TP, TN), labelled, a), rate((TP, TN), labelled, d)),
        "RD": _diff(rate((TP,), (TP, FN), a), rate((TP,), (TP, FN), d)),
        "SD": _diff(rate((TN,), (TN, FP), d), rate((TN,), (TN, FP), a)),
        "TE": _diff(rate((FN,), (FP,), d), rate((FN,), (FP,), a)),
        "CI": _divide(n_a - n_d, n_a + n_d),
        "DPL": rate((TP, FN), labelled, a) - rate((TP, FN), labelled, d),
    }
    return {name: np.asarray(value, dtype=np.float64) for name, value in out.items()}


def group_sizes(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(n per group, labelled n per group) from ``counts[..., group, cell]``."""
    return counts.sum(-1), counts[..., :UP].sum(-1)


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
