"""Generated data for the estimated-performance and multivariate-drift tests: a calibrated binary classifier
(labels ~ Bernoulli(score)) whose accuracy moves with a covariate shift, and features whose correlation changes
while their marginals stay the same; and capture rows of them for the monitors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.baseline import Baseline, MonitorOptions, build_baseline
from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Column, Columns, classify_numbers
from streamdrift.monitors.base import MonitorResult, Rows
from streamdrift.monitors.registry import ModelMonitors

Array = NDArray[np.float64]
WEIGHTS = np.array([0.9, 0.7, 0.6, 0.5, 0.4, 0.3])
LOGIT_SCALE = 9.5 / float(np.sqrt(np.sum(WEIGHTS**2)))  # accuracy about 0.94
DROP_SCALE = 0.63  # every feature scaled by this: accuracy about 0.91


def numeric_columns(values: Mapping[str, Array]) -> Columns:
    n = len(next(iter(values.values())))
    return Columns(n, {k: Column(*classify_numbers(np.asarray(v, dtype=np.float64))) for k, v in values.items()})


def classifier_data(n: int, rng: np.random.Generator, scale: float = 1.0) -> tuple[dict[str, Array], Array, Array]:
    """Features, calibrated scores and labels of ``n`` records; ``scale``: every feature's spread (covariate
    shift: P(label | features) unchanged)."""
    x = rng.standard_normal((n, WEIGHTS.size)) * scale
    score = 1.0 / (1.0 + np.exp(-(0.5 + LOGIT_SCALE * (x @ WEIGHTS))))
    label = (rng.random(n) < score).astype(np.float64)
    return {f"x{j}": x[:, j] for j in range(WEIGHTS.size)}, score, label


def realised_accuracy(score: Array, label: Array, threshold: float = 0.5) -> float:
    return float(((score >= threshold) == (label == 1.0)).mean())


def correlated_data(n: int, rng: np.random.Generator, rho: float) -> dict[str, Array]:
    """Five standard-normal features; x0 and x1 with correlation ``rho`` (marginals N(0, 1) whatever rho)."""
    z = rng.standard_normal((n, 5))
    return {"x0": z[:, 0], "x1": rho * z[:, 0] + np.sqrt(1 - rho * rho) * z[:, 1],
            **{f"x{j}": z[:, j] for j in range(2, 5)}}


def capture_rows(features: Mapping[str, Array], score: Array | None = None, extra: Mapping[str, Column] | None = None
                 ) -> Rows:
    cols = numeric_columns(features)
    if extra:
        cols = Columns(cols.n_rows, {**cols.columns, **extra})
    n = cols.n_rows
    batch = CaptureBatch("m", None, np.arange(n, dtype=np.int64), np.full(n, None, dtype=object), cols, None, score,
                         None, np.arange(n, dtype=np.int64))
    return Rows(batch)


def judge(monitors: ModelMonitors, rows: Rows, *names: str) -> dict[str, MonitorResult]:
    """Each named data monitor's result of one window holding ``rows`` (state written and read back, as the
    partials carry it)."""
    out = {}
    for name in names:
        monitor = monitors.get(name)
        assert monitor is not None, name
        state = monitor.new_state()
        monitor.update(state, rows)
        out[name] = monitor.judge(monitor.read_state(monitor.write_state(state)))
    return out


def classifier_baseline(n: int, seed: int, **options: Any) -> Baseline:
    features, score, label = classifier_data(n, np.random.default_rng(seed))
    cols = numeric_columns({**features, "score": score, "label": label})
    return build_baseline([cols], "m", target="label", score="score",
                          monitors=MonitorOptions(estimated_performance=True, **options))


def correlated_baseline(n: int, seed: int, **options: Any) -> Baseline:
    cols = numeric_columns(correlated_data(n, np.random.default_rng(seed), 0.8))
    return build_baseline([cols], "m", monitors=MonitorOptions(multivariate=True, **options))


CLASSES = np.array(["ant", "bee", "cat"], dtype=object)
CLASS_WEIGHTS = np.array([[2.0, -1.0, 0.5, 0.0], [-1.0, 2.0, 0.0, 0.5], [0.0, 0.0, -1.5, -1.5]])


def multiclass_data(n: int, rng: np.random.Generator, scale: float = 1.0
                    ) -> tuple[dict[str, Array], NDArray[np.object_], Array, NDArray[np.object_]]:
    """Features, the predicted class (argmax), its softmax probability (the score) and labels drawn from the
    softmax: a calibrated three-class model; ``scale`` shrinks the features (covariate shift, lower accuracy)."""
    x = rng.standard_normal((n, 4)) * scale
    logits = 1.5 * x @ CLASS_WEIGHTS.T
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    label = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return ({f"x{j}": x[:, j] for j in range(4)}, CLASSES[predicted], probs[np.arange(n), predicted],
            CLASSES[label])
