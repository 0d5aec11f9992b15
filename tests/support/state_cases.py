"""State factories for the mergeable-state contract suite (tests/unit/test_state_contract.py).

To put another mergeable state under the contract, append a :class:`StateCase` to ``STATE_CASES`` (from your
own test module's import of this list, or here). Each case says how to build an empty state, one with other
parameters, a random update batch, and how to read a blob back with and without expected parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from streamdrift.columns.columns import Columns, column_from_values, columns_from_rows
from streamdrift.monitors.attribution import AttributionState
from streamdrift.monitors.bias import BiasConfig, BiasState, FacetSpec, OutcomeSpec
from streamdrift.monitors.estimated_performance.state import EstimatedPerformanceState
from streamdrift.monitors.model_quality.state import (
    DEFAULT_BINS,
    DEFAULT_THRESHOLD,
    BinaryQualityState,
    MulticlassQualityState,
    RegressionQualityState,
)
from streamdrift.monitors.multivariate.state import MultivariateState
from streamdrift.profile.profiles import (
    CategoricalProfile,
    DatasetProfile,
    FeatureProfile,
    NumericProfile,
    ProfileParams,
)
from streamdrift.profile.sketches import DistinctCountSketch, FrequentItemsSketch, KllSketch


@dataclass(frozen=True)
class StateCase:
    """How the contract suite drives one kind of mergeable state."""

    name: str
    empty: Callable[[], Any]
    empty_other_params: Callable[[], Any]
    batch: Callable[[np.random.Generator], Any]
    load: Callable[[bytes], Any]
    load_expecting_default: Callable[[bytes], Any]
    summary: Callable[[Any], object]
    is_empty: Callable[[Any], bool]

    def update(self, state: Any, batch: Any) -> None:
        state.update(batch)

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------------------------- batches


def float_batch(rng: np.random.Generator, n: int = 80) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = rng.normal(10.0, 3.0, size=n)
    values[rng.random(n) < 0.05] = np.nan
    values[rng.random(n) < 0.02] = np.inf
    return values


def string_batch(rng: np.random.Generator, n: int = 400, with_none: bool = False) -> np.ndarray[Any, Any]:
    out = np.array([f"c{i}" for i in rng.zipf(1.5, size=n) % 60], dtype=object)
    if with_none:
        out[rng.random(n) < 0.1] = None
    return out


def mixed_values(rng: np.random.Generator, n: int = 90) -> list[object]:
    pool: list[object] = [None, True, "red", "blue", 1, 2.5, float("inf")]
    picks = rng.integers(0, len(pool) + 3, size=n)
    normals = rng.normal(size=n)
    return [pool[p] if p < len(pool) else float(normals[i]) for i, p in enumerate(picks)]


def rows_batch(rng: np.random.Generator, n: int = 90) -> Columns:
    rows: list[dict[str, object]] = []
    for i in range(n):
        row: dict[str, object] = {"x": float(rng.normal()), "k": int(rng.integers(0, 5))}
        if rng.random() < 0.7:
            row["color"] = ["red", "green", "blue"][i % 3]
        if rng.random() < 0.1:
            row[f"rare{int(rng.integers(0, 3))}"] = float(rng.random())
        rows.append(row)
    return columns_from_rows(rows)


# --------------------------------------------------------------------------------------------- summaries


def kll_summary(s: KllSketch) -> object:
    q = tuple(s.quantiles([0.05, 0.5, 0.95]).round(12)) if not s.is_empty else ()
    return (s.k, s.n, s.min if s.n else None, s.max if s.n else None, q)


def frequent_summary(s: FrequentItemsSketch) -> object:
    return (s.lg_max_k, s.total_weight, tuple(sorted(s.frequencies().items())))


def distinct_summary(s: DistinctCountSketch) -> object:
    return (s.lg_k, round(s.estimate, 6))


def numeric_summary(p: NumericProfile) -> object:
    moments = tuple(round(v, 9) for v in (p.sum, p.mean, p.m2)) if p.count else ()
    return (p.count, p.missing, p.non_finite, p.wrong_type, moments, kll_summary(p.kll))


def categorical_summary(p: CategoricalProfile) -> object:
    return (p.count, p.missing, p.out_of_domain, frequent_summary(p.frequent), distinct_summary(p.distinct))


def feature_summary(p: FeatureProfile) -> object:
    return (tuple(int(c) for c in p.type_counts), numeric_summary(p.numeric), categorical_summary(p.categorical))


def dataset_summary(p: DatasetProfile) -> object:
    return (p.n_records, tuple((n, feature_summary(f)) for n, f in sorted(p.features.items())))


OTHER_PARAMS = ProfileParams(kll_k=100, frequent_lg_max_k=8, hll_lg_k=10)

STATE_CASES: list[StateCase] = [
    StateCase("KllSketch", lambda: KllSketch(200), lambda: KllSketch(100), float_batch,
              KllSketch.from_bytes, lambda b: KllSketch.from_bytes(b, k=200), kll_summary,
              lambda s: s.is_empty),
    StateCase("FrequentItemsSketch", lambda: FrequentItemsSketch(10), lambda: FrequentItemsSketch(8),
              string_batch, FrequentItemsSketch.from_bytes, lambda b: FrequentItemsSketch.from_bytes(b, lg_max_k=10),
              frequent_summary, lambda s: s.is_empty),
    StateCase("DistinctCountSketch", lambda: DistinctCountSketch(12), lambda: DistinctCountSketch(10),
              string_batch, DistinctCountSketch.from_bytes, lambda b: DistinctCountSketch.from_bytes(b, lg_k=12),
              distinct_summary, lambda s: s.is_empty),
    StateCase("NumericProfile", lambda: NumericProfile(200), lambda: NumericProfile(100), float_batch,
              NumericProfile.from_bytes, lambda b: NumericProfile.from_bytes(b, kll_k=200), numeric_summary,
              lambda s: s.is_empty),
    StateCase("CategoricalProfile", lambda: CategoricalProfile(10, 12), lambda: CategoricalProfile(8, 10),
              lambda rng: string_batch(rng, with_none=True), CategoricalProfile.from_bytes,
              lambda b: CategoricalProfile.from_bytes(b, lg_max_k=10, hll_lg_k=12), categorical_summary,
              lambda s: s.is_empty),
    StateCase("FeatureProfile", lambda: FeatureProfile(ProfileParams()), lambda: FeatureProfile(OTHER_PARAMS),
              lambda rng: column_from_values(mixed_values(rng)), FeatureProfile.from_bytes,
              lambda b: FeatureProfile.from_bytes(b, params=ProfileParams()), feature_summary,
              lambda s: s.is_empty),
    StateCase("DatasetProfile", lambda: DatasetProfile.empty(), lambda: DatasetProfile.empty(OTHER_PARAMS),
              rows_batch, DatasetProfile.from_bytes, lambda b: DatasetProfile.from_bytes(b, params=ProfileParams()),
              dataset_summary, lambda s: s.is_empty),
]


# --------------------------------------------------------------------------------------------- monitor states
# Model-quality, bias and attribution states take several update arguments: their batch is (args, kwargs).


@dataclass(frozen=True)
class CallStateCase(StateCase):
    """A case whose ``update`` takes several arguments; ``batch`` returns ``(args, kwargs)``."""

    def update(self, state: Any, batch: Any) -> None:
        args, kwargs = batch
        state.update(*args, **kwargs)


def no_other_params(reason: str) -> Callable[[], Any]:
    """For states without parameters: the 'other parameters' contract cannot apply, so it is skipped (with why)."""

    def skip() -> Any:
        pytest.skip(reason)

    return skip


def sig(value: float) -> float:
    """Ten significant digits: Chan's mean merge (mean * n / n) may differ from the mean in the last bits."""
    return float(f"{value:.10g}")


def binary_batch(rng: np.random.Generator, n: int = 120) -> tuple[tuple[Any, ...], dict[str, Any]]:
    y = (rng.random(n) < 0.4).astype(np.float64)
    y[rng.random(n) < 0.05] = np.nan
    score = np.clip(0.3 * y + rng.random(n) * 0.7, 0.0, 1.0)
    score[rng.random(n) < 0.05] = np.nan
    return (y,), {"score": score}


def multiclass_batch(rng: np.random.Generator, n: int = 120) -> tuple[tuple[Any, ...], dict[str, Any]]:
    classes = np.array(["cat", "dog", "eel", "fox", "gnu"], dtype=object)
    return (classes[rng.integers(0, 5, n)], classes[rng.integers(0, 5, n)]), {}


def regression_batch(rng: np.random.Generator, n: int = 120) -> tuple[tuple[Any, ...], dict[str, Any]]:
    y = rng.normal(5.0, 2.0, n)
    y[rng.random(n) < 0.05] = 0.0
    pred = y + rng.normal(0.0, 0.5, n)
    pred[rng.random(n) < 0.05] = np.nan
    return (y, pred), {}


BIAS_CONFIG = BiasConfig(
    facets=(FacetSpec("sex", values=("F",)), FacetSpec("age", threshold=40.0)),
    predicted=OutcomeSpec(threshold=0.5),
    label=OutcomeSpec(values=(1,)),
)
BIAS_OTHER_CONFIG = BiasConfig(BIAS_CONFIG.facets[:1], OutcomeSpec(threshold=0.7), BIAS_CONFIG.label)


def bias_batch(rng: np.random.Generator, n: int = 120) -> tuple[tuple[Any, ...], dict[str, Any]]:
    sex = np.where(rng.random(n) < 0.4, "F", "M").astype(object)
    sex[rng.random(n) < 0.05] = None
    age = rng.uniform(18, 80, n)
    age[rng.random(n) < 0.05] = np.nan
    score = rng.random(n)
    labels = (rng.random(n) < score).astype(np.float64)
    labels[rng.random(n) < 0.2] = np.nan
    return ({"sex": sex, "age": age}, score, labels), {}


ATTRIBUTION_FEATURES = ("f0", "f1", "f2")


def attribution_batch(rng: np.random.Generator, n: int = 60) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = rng.normal(0.0, [1.0, 0.5, 0.2], size=(n, len(ATTRIBUTION_FEATURES)))
    values[rng.random(values.shape) < 0.05] = np.nan
    return values


def binary_summary(s: BinaryQualityState) -> object:
    return (s.threshold, s.n_bins, s.tp, s.fp, s.tn, s.fn, s.n_scored, sig(s.log_loss_sum),
            sig(s.log_loss_sq_sum), tuple(s.pos_hist.tolist()), tuple(s.neg_hist.tolist()))


def multiclass_summary(s: MulticlassQualityState) -> object:
    """Order-free: the cells by (actual, predicted) class name (merges may order new classes differently)."""
    cells = {(a, p): int(s.matrix[i, j]) for i, a in enumerate(s.classes) for j, p in enumerate(s.classes)}
    return (tuple(sorted(s.classes)), tuple(sorted((k, v) for k, v in cells.items() if v)))


def regression_summary(s: RegressionQualityState) -> object:
    return (s.n, s.n_ape, *(sig(getattr(s, f)) for f in ("sum_err", "sum_abs_err", "sum_sq_err", "sum_err4",
                                                            "mean_y", "m2_y", "mean_pred", "m2_pred", "sum_ape",
                                                            "sum_ape_sq")))


def bias_summary(s: BiasState) -> object:
    return (s.config, tuple(s.counts.reshape(-1).tolist()), tuple(s.excluded.tolist()))


def attribution_summary(s: AttributionState) -> object:
    return (s.features, tuple(s.counts.tolist()), tuple(round(float(v), 12) for v in s.abs_sums))


STATE_CASES += [
    CallStateCase("BinaryQualityState", BinaryQualityState.empty, lambda: BinaryQualityState.empty(0.3, 64),
                  binary_batch, BinaryQualityState.from_bytes,
                  lambda b: BinaryQualityState.from_bytes(b, threshold=DEFAULT_THRESHOLD, n_bins=DEFAULT_BINS),
                  binary_summary, lambda s: s.n == 0 and s.n_scored == 0 and not s.pos_hist.any()),
    # A multiclass state has no parameters (its class list grows with the data), so no blob can carry other ones.
    CallStateCase("MulticlassQualityState", MulticlassQualityState.empty,
                  no_other_params("MulticlassQualityState has no parameters: its classes grow as labels appear"),
                  multiclass_batch, MulticlassQualityState.from_bytes, MulticlassQualityState.from_bytes,
                  multiclass_summary, lambda s: s.n == 0 and not s.classes),
    # A regression state is plain sums without parameters.
    CallStateCase("RegressionQualityState", RegressionQualityState.empty,
                  no_other_params("RegressionQualityState has no parameters (plain sums)"),
                  regression_batch, RegressionQualityState.from_bytes, RegressionQualityState.from_bytes,
                  regression_summary, lambda s: s.n == 0),
    CallStateCase("BiasState", lambda: BiasState.empty(BIAS_CONFIG), lambda: BiasState.empty(BIAS_OTHER_CONFIG),
                  bias_batch, BiasState.from_bytes, lambda b: BiasState.from_bytes(b, expected=BIAS_CONFIG),
                  bias_summary, lambda s: not s.counts.any() and not s.excluded.any()),
    StateCase("AttributionState", lambda: AttributionState.empty(ATTRIBUTION_FEATURES),
              lambda: AttributionState.empty(("g0", "g1", "g2")), attribution_batch, AttributionState.from_bytes,
              lambda b: AttributionState.from_bytes(b, expected=ATTRIBUTION_FEATURES), attribution_summary,
              lambda s: not s.counts.any() and not s.abs_sums.any()),
]


# --------------------------------------------------------------------------------------------- label-free monitors


def estimated_batch(rng: np.random.Generator, n: int = 120) -> tuple[tuple[Any, ...], dict[str, Any]]:
    score = rng.random(n)
    score[rng.random(n) < 0.05] = np.nan
    return (score, np.clip(score + rng.normal(0.0, 0.05, n), 0.0, 1.0)), {}


def estimated_summary(s: EstimatedPerformanceState) -> object:
    return (s.threshold, s.n_bins, tuple(s.counts.tolist()), tuple(s.psum.tolist()), tuple(s.p2sum.tolist()),
            s.n_skipped, tuple(s.hist_count.tolist()), tuple(s.hist_psum.tolist()))


def multivariate_summary(s: MultivariateState) -> object:
    return (s.fingerprint, sig(s.total), sig(s.total_sq), kll_summary(s.sketch))


STATE_CASES += [
    CallStateCase("EstimatedPerformanceState", EstimatedPerformanceState.empty,
                  lambda: EstimatedPerformanceState.empty(0.3, 64), estimated_batch,
                  EstimatedPerformanceState.from_bytes,
                  lambda b: EstimatedPerformanceState.from_bytes(b, threshold=0.5, n_bins=1024),
                  estimated_summary, lambda s: s.is_empty),
    StateCase("MultivariateState", lambda: MultivariateState.empty(200, 77), lambda: MultivariateState.empty(200, 78),
              lambda rng: np.abs(float_batch(rng)), MultivariateState.from_bytes,
              lambda b: MultivariateState.from_bytes(b, k=200, fingerprint=77), multivariate_summary,
              lambda s: s.is_empty),
]
