"""Metrics (SageMaker Model Monitor's names) and their standard errors, computed from a quality state.

Standard errors: proportions (accuracy, precision, recall / true_positive_rate, true_negative_rate,
false_positive_rate, false_negative_rate) analytic ``sqrt(p(1-p)/m)`` over their own denominator m, with p taken as
``(x+1)/(m+2)`` so a window at 0 or 1 still gets a positive error; F-scores and the multiclass weighted metrics by
a multinomial bootstrap of the confusion counts (``n_boot`` draws, fixed seed: deterministic); AUC by
Hanley-McNeil; log loss, MAE, MSE, MAPE from the sums of squares (CLT); RMSE and R2 by the delta method (R2 takes
the variance of y as known).

AUC comes from the fixed-bin score histograms: pairs (positive, negative) in different bins are ranked exactly,
pairs in one bin count one half (trapezoid over the binned ROC). The absolute error is therefore at most
``0.5 * sum_b pos_b * neg_b / (P * N)`` (:func:`auc_error_bound`).

R2: ``r2_convention="standard"`` is ``1 - SSE / sum (y - mean y)^2``. SageMaker's container divides by the
spread of the *prediction* instead (``1 - SSE / sum (p - mean p)^2``, as if label and prediction were swapped in
Spark's RegressionMetrics): ``r2_convention="sagemaker"`` reproduces its statistics.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from streamdrift.monitors.model_quality.state import (
    BinaryQualityState,
    MulticlassQualityState,
    QualityState,
    RegressionQualityState,
)

R2Convention = Literal["standard", "sagemaker"]
DEFAULT_BOOTSTRAP: Final[int] = 400
F_BETAS: Final[dict[str, float]] = {"f0_5": 0.5, "f1": 1.0, "f2": 2.0}


class ProblemType(StrEnum):
    REGRESSION = "regression"
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"


HIGHER_IS_BETTER: Final[frozenset[str]] = frozenset({
    "accuracy", "precision", "recall", "true_positive_rate", "true_negative_rate", "auc", "f0_5", "f1", "f2",
    "weighted_precision", "weighted_recall", "weighted_f0_5", "weighted_f1", "weighted_f2", "r2",
})
LOWER_IS_BETTER: Final[frozenset[str]] = frozenset({
    "false_positive_rate", "false_negative_rate", "log_loss", "mae", "mse", "rmse", "mape",
})


@dataclass(frozen=True, slots=True)
class MetricValue:
    value: float
    standard_error: float


@dataclass(frozen=True, slots=True)
class QualityMetrics:
    problem_type: ProblemType
    n: int
    metrics: Mapping[str, MetricValue]
    confusion_matrix: Mapping[str, Mapping[str, int]] | None = None

    def value(self, name: str) -> float:
        return self.metrics[name].value if name in self.metrics else float("nan")


def problem_type_of(state: QualityState) -> ProblemType:
    if isinstance(state, BinaryQualityState):
        return ProblemType.BINARY
    if isinstance(state, MulticlassQualityState):
        return ProblemType.MULTICLASS
    return ProblemType.REGRESSION


def compute_metrics(
    state: QualityState, *, r2_convention: R2Convention = "standard", n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> QualityMetrics:
    """All metrics of a window (or baseline) state with their standard errors."""
    if isinstance(state, BinaryQualityState):
        return _binary_metrics(state, n_boot, seed)
    if isinstance(state, MulticlassQualityState):
        return _multiclass_metrics(state, n_boot, seed)
    return _regression_metrics(state, r2_convention)


# ---------------------------------------------------------------- helpers


def _div(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """num / den with 0 where den == 0 (scikit-learn's zero_division=0)."""
    out: NDArray[np.float64] = np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)
    return out


def _fbeta(precision: NDArray[np.float64], recall: NDArray[np.float64], beta: float) -> NDArray[np.float64]:
    b2 = beta * beta
    return _div((1 + b2) * precision * recall, b2 * precision + recall)


def _proportion_se(x: float, m: float) -> float:
    if m <= 0:
        return float("nan")
    p = (x + 1.0) / (m + 2.0)
    return float(np.sqrt(p * (1.0 - p) / m))


def _mean_se(total: float, total_sq: float, n: int) -> float:
    if n < 2:
        return float("nan")
    mean = total / n
    return float(np.sqrt(max(total_sq / n - mean * mean, 0.0) / n))


# ---------------------------------------------------------------- binary


def _binary_table(c: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Metrics from counts ``c[..., (tp, fp, tn, fn)]`` (vectorized over bootstrap draws)."""
    tp, fp, tn, fn = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    n = tp + fp + tn + fn
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    out = {"accuracy": _div(tp + tn, n), "precision": precision, "recall": recall}
    for name, beta in F_BETAS.items():
        out[name] = _fbeta(precision, recall, beta)
    return out


def _binary_metrics(s: BinaryQualityState, n_boot: int, seed: int) -> QualityMetrics:
    counts = np.array([s.tp, s.fp, s.tn, s.fn], dtype=np.float64)
    n, pos, neg = s.n, s.tp + s.fn, s.tn + s.fp
    table = _binary_table(counts)
    boot = _binary_table(_multinomial(counts, n_boot, seed)) if n > 0 else None
    prop = {
        "accuracy": (s.tp + s.tn, n), "precision": (s.tp, s.tp + s.fp), "recall": (s.tp, pos),
        "true_positive_rate": (s.tp, pos), "true_negative_rate": (s.tn, neg),
        "false_positive_rate": (s.fp, neg), "false_negative_rate": (s.fn, pos),
    }
    metrics: dict[str, MetricValue] = {}
    for name, (x, m) in prop.items():
        metrics[name] = MetricValue(float(x / m) if m else 0.0, _proportion_se(x, m))
    for name in F_BETAS:
        se = float(np.std(boot[name], ddof=1)) if boot is not None else float("nan")
        metrics[name] = MetricValue(float(table[name]), se)
    metrics.update(_best_constant_binary(pos, n))
    if s.n_scored > 0:
        auc = binned_auc(s.pos_hist, s.neg_hist)
        metrics["auc"] = MetricValue(auc, _hanley_mcneil(auc, int(s.pos_hist.sum()), int(s.neg_hist.sum())))
        metrics["log_loss"] = MetricValue(s.log_loss_sum / s.n_scored,
                                          _mean_se(s.log_loss_sum, s.log_loss_sq_sum, s.n_scored))
    matrix = {"0": {"0": s.tn, "1": s.fp}, "1": {"0": s.fn, "1": s.tp}}
    return QualityMetrics(ProblemType.BINARY, n, metrics, matrix)


def _best_constant_binary(pos: int, n: int) -> dict[str, MetricValue]:
    """The classifier that always predicts the positive class (SageMaker's *_best_constant_classifier)."""
    nan = float("nan")
    prevalence = pos / n if n else 0.0
    recall = 1.0 if pos else 0.0
    out = {"recall_best_constant_classifier": MetricValue(recall, nan),
           "precision_best_constant_classifier": MetricValue(prevalence, nan),
           "accuracy_best_constant_classifier": MetricValue(prevalence, nan)}
    for name, beta in F_BETAS.items():
        f = _fbeta(np.asarray(prevalence), np.asarray(recall), beta)
        out[f"{name}_best_constant_classifier"] = MetricValue(float(f), nan)
    return out


def _multinomial(counts: NDArray[np.float64], n_boot: int, seed: int) -> NDArray[np.float64]:
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    draws: NDArray[np.float64] = rng.multinomial(n, counts.reshape(-1) / n, size=n_boot).astype(np.float64)
    return draws.reshape((n_boot, *counts.shape))


def binned_auc(pos_hist: NDArray[np.int64], neg_hist: NDArray[np.int64]) -> float:
    """AUC from the score histograms; ties within a bin count one half. NaN without both classes."""
    pos, neg = pos_hist.astype(np.float64), neg_hist.astype(np.float64)
    p_total, n_total = pos.sum(), neg.sum()
    if p_total == 0 or n_total == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float((pos * neg_below).sum() + 0.5 * (pos * neg).sum()) / float(p_total * n_total)


def auc_error_bound(pos_hist: NDArray[np.int64], neg_hist: NDArray[np.int64]) -> float:
    """Largest possible |binned AUC - exact AUC|: half the fraction of (pos, neg) pairs sharing a bin."""
    p_total, n_total = float(pos_hist.sum()), float(neg_hist.sum())
    if p_total == 0 or n_total == 0:
        return float("nan")
    return 0.5 * float((pos_hist.astype(np.float64) * neg_hist).sum()) / (p_total * n_total)


def _hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> float:
    if n_pos == 0 or n_neg == 0 or not np.isfinite(auc):
        return float("nan")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    # Floor at the variance of a proportion with AUC's effective size so a perfect window is not exact.
    floor = 0.25 / (n_pos * n_neg + 1.0) if var <= 0 else 0.0
    return float(np.sqrt(max(var, floor)))


# ---------------------------------------------------------------- multiclass


def _multiclass_table(m: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Accuracy and support-weighted precision/recall/F from matrices ``m[..., actual, predicted]``."""
    diag = np.diagonal(m, axis1=-2, axis2=-1)
    support, predicted = m.sum(axis=-1), m.sum(axis=-2)
    n = support.sum(axis=-1)
    weight = _div(support, n[..., None])
    precision, recall = _div(diag, predicted), _div(diag, support)
    out = {"accuracy": _div(diag.sum(axis=-1), n),
           "weighted_precision": (weight * precision).sum(axis=-1),
           "weighted_recall": (weight * recall).sum(axis=-1)}
    for name, beta in F_BETAS.items():
        out[f"weighted_{name}"] = (weight * _fbeta(precision, recall, beta)).sum(axis=-1)
    return out


def _multiclass_metrics(s: MulticlassQualityState, n_boot: int, seed: int) -> QualityMetrics:
    m = s.matrix.astype(np.float64)
    n = s.n
    table = _multiclass_table(m)
    boot = _multiclass_table(_multinomial(m, n_boot, seed)) if n > 0 else None
    metrics: dict[str, MetricValue] = {}
    for name, values in table.items():
        if name == "accuracy":
            se = _proportion_se(float(np.trace(m)), float(n))
        else:
            se = float(np.std(boot[name], ddof=1)) if boot is not None else float("nan")
        metrics[name] = MetricValue(float(values), se)
    metrics.update(_best_constant_multiclass(m.sum(axis=1), n))
    matrix = {a: {p: int(s.matrix[i, j]) for j, p in enumerate(s.classes)} for i, a in enumerate(s.classes)}
    return QualityMetrics(ProblemType.MULTICLASS, n, metrics, matrix)


def _best_constant_multiclass(support: NDArray[np.float64], n: int) -> dict[str, MetricValue]:
    """The classifier that always predicts the majority class."""
    nan = float("nan")
    share = float(support.max() / n) if n else 0.0
    out = {"accuracy_best_constant_classifier": MetricValue(share, nan),
           "weighted_recall_best_constant_classifier": MetricValue(share, nan),
           "weighted_precision_best_constant_classifier": MetricValue(share * share, nan)}
    for name, beta in F_BETAS.items():
        f = float(_fbeta(np.asarray(share), np.asarray(1.0), beta)) if n else 0.0
        out[f"weighted_{name}_best_constant_classifier"] = MetricValue(share * f, nan)
    return out


# ---------------------------------------------------------------- regression


def _regression_metrics(s: RegressionQualityState, r2_convention: R2Convention) -> QualityMetrics:
    n = s.n
    nan = float("nan")
    if n == 0:
        return QualityMetrics(ProblemType.REGRESSION, 0, {})
    mae, mse = s.sum_abs_err / n, s.sum_sq_err / n
    se_mae = _mean_se(s.sum_abs_err, s.sum_sq_err, n)
    se_mse = _mean_se(s.sum_sq_err, s.sum_err4, n)
    rmse = float(np.sqrt(mse))
    ss_tot = s.m2_y if r2_convention == "standard" else s.m2_pred
    metrics = {
        "mae": MetricValue(mae, se_mae),
        "mse": MetricValue(mse, se_mse),
        "rmse": MetricValue(rmse, se_mse / (2.0 * rmse) if rmse > 0 else nan),
        "r2": MetricValue(1.0 - s.sum_sq_err / ss_tot if ss_tot > 0 else nan,
                          se_mse * n / ss_tot if ss_tot > 0 else nan),
    }
    if s.n_ape > 0:
        metrics["mape"] = MetricValue(s.sum_ape / s.n_ape, _mean_se(s.sum_ape, s.sum_ape_sq, s.n_ape))
    return QualityMetrics(ProblemType.REGRESSION, n, metrics)
