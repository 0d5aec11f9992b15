"""Bias facets and outcomes: which rows are the sensitive group d, which outcomes are positive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import (
    ConfigError,
)

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


