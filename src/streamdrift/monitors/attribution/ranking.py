"""Feature-attribution drift: mean |attribution| per feature and SageMaker's NDCG ranking check.

A window's state keeps, per feature, the sum of |attribution| and the number of records that carried one
(mergeable: plain sums). The global attribution of a feature is its mean |attribution| (Clarify's global SHAP
value). Drift follows SageMaker Model Monitor: with the baseline's global attributions ``a`` and the window's
ranking ``F'`` (features by window mean |attribution|, descending)::

    DCG  = sum_i a(F'_i) / log2(i + 1)        (i = 1..n)
    iDCG = sum_i a(F_i)  / log2(i + 1)        (F = the baseline's own ranking)
    NDCG = DCG / iDCG                         drift when NDCG < threshold (default 0.9)

Ties are broken by the baseline's feature order (stable sort), so equal values never produce a false swap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
    out = tuple(str(n) for n in names)
    if not out:
        raise ConfigError("attribution: at least one feature is needed")
    if len(set(out)) != len(out):
        raise ConfigError("attribution: duplicate feature names")
    return out


@dataclass(slots=True)
class AttributionState:
    """Mergeable per-window sums of |attribution| and record counts per feature (NaN = no attribution)."""

    features: tuple[str, ...]
    abs_sums: NDArray[np.float64]
    counts: NDArray[np.int64]

    @classmethod
    def empty(cls, features: Sequence[str]) -> Self:
        names = _check_names(features)
        return cls(names, np.zeros(len(names)), np.zeros(len(names), dtype=np.int64))

    @property
    def n_records(self) -> int:
        """Records seen: the largest per-feature count (a record counts when it carries any attribution)."""
        return int(self.counts.max(initial=0))

    def update(self, values: ArrayLike) -> None:
        """Add a batch: a 2-D array (records x features, in ``features`` order); NaN marks a missing value."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.features):
            raise EvaluationError(f"attribution: expected (n, {len(self.features)}) values, got {arr.shape}")
        present = ~np.isnan(arr)
        self.abs_sums += np.abs(np.where(present, arr, 0.0)).sum(axis=0)
        self.counts += present.sum(axis=0)

    def update_columns(self, columns: Mapping[str, ArrayLike]) -> None:
        """Add a batch given as feature name -> 1-D column (a feature absent from the mapping is missing)."""
        lengths = {np.asarray(c).shape[0] for c in columns.values()}
        if len(lengths) > 1:
            raise EvaluationError(f"attribution: columns of different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        matrix = np.full((n, len(self.features)), np.nan)
        for j, name in enumerate(self.features):
            if name in columns:
                matrix[:, j] = np.asarray(columns[name], dtype=np.float64)
        self.update(matrix)

    def merge(self, other: AttributionState) -> Self:
        if not isinstance(other, AttributionState):
            raise MergeError(f"attribution: cannot merge {type(other).__name__} into an AttributionState")
        if other.features != self.features:
            raise MergeError("attribution: cannot merge states over different feature lists")
        self.abs_sums += other.abs_sums
        self.counts += other.counts
        return self

    def mean_abs(self) -> NDArray[np.float64]:
        """Mean |attribution| per feature (0 where a feature never had one)."""
        return np.divide(self.abs_sums, self.counts, out=np.zeros_like(self.abs_sums), where=self.counts > 0)

    def reset(self) -> None:
        """Back to zero sums and counts (same features)."""
        self.abs_sums = np.zeros(len(self.features))
        self.counts = np.zeros(len(self.features), dtype=np.int64)

    def to_bytes(self) -> bytes:
        """Shared envelope (kind ATTRIBUTION, slots: feature-list JSON length, feature count); payload: the
        JSON feature list, the sums, the counts."""
        params = json.dumps({"features": list(self.features)}).encode()
        payload = self.abs_sums.astype("<f8").tobytes() + self.counts.astype("<i8").tobytes()
        return pack_envelope(BlobKind.ATTRIBUTION, (len(params), len(self.features), 0), params + payload)

    @classmethod
    def from_bytes(cls, blob: bytes, expected: Sequence[str] | None = None) -> Self:
        names, payload = _read_header(blob)
        if expected is not None and tuple(expected) != names:
            raise ParameterMismatchError("attribution: blob was written for a different feature list")
        n = len(names)
        if len(payload) != 16 * n:
            raise CorruptBlobError(f"attribution: payload is {len(payload)} bytes, expected {16 * n}")
        sums = np.frombuffer(payload[: 8 * n], dtype="<f8").astype(np.float64)
        counts = np.frombuffer(payload[8 * n :], dtype="<i8").astype(np.int64)
        if (counts < 0).any() or not np.isfinite(sums).all() or (sums < 0).any():
            raise CorruptBlobError("attribution: negative or non-finite values in blob")
        return cls(names, sums, counts)


def _read_header(blob: bytes) -> tuple[tuple[str, ...], bytes]:
    env = unpack_envelope(blob, BlobKind.ATTRIBUTION, n_params=2)
    params_len, n_features, _ = env.params
    if len(env.payload) < params_len:
        raise CorruptBlobError("attribution: blob truncated inside its parameters")
    try:
        names = _check_names(json.loads(env.payload[:params_len])["features"])
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise CorruptBlobError(f"attribution: unreadable parameters: {exc!r}") from exc
    if len(names) != n_features:
        raise CorruptBlobError(f"attribution: {len(names)} features in the parameters, envelope says {n_features}")
    return names, env.payload[params_len:]


# --------------------------------------------------------------------------------------------- NDCG


def ranking(values: ArrayLike) -> NDArray[np.intp]:
    """Indices of features by value, descending; ties keep the original order."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


def ndcg(baseline: ArrayLike, window: ArrayLike) -> float:
    """SageMaker's NDCG of the window's ranking, scored with the baseline's attributions (1 = same order)."""
    base = np.abs(np.asarray(baseline, dtype=np.float64))
    win = np.asarray(window, dtype=np.float64)
    if base.shape != win.shape or base.ndim != 1:
        raise EvaluationError(f"attribution: shapes differ: baseline {base.shape}, window {win.shape}")
    discount = 1.0 / np.log2(np.arange(2, base.size + 2))
    ideal = float(base[ranking(base)] @ discount)
    if ideal == 0.0:
        return 1.0
    return float(base[ranking(win)] @ discount) / ideal


# --------------------------------------------------------------------------------------------- baseline


@dataclass(frozen=True, slots=True)
class AttributionBaseline:
    """What ``Baseline.attribution`` holds: the global (mean |attribution|) value per feature."""

    features: tuple[str, ...]
    values: tuple[float, ...]
    n_records: int | None = None
    label: str = "label0"
    expected_value: float | None = None

    def __post_init__(self) -> None:
        _check_names(self.features)
        if len(self.values) != len(self.features):
            raise ConfigError("attribution baseline: one value per feature is needed")
        if not all(np.isfinite(v) and v >= 0 for v in self.values):
            raise ConfigError("attribution baseline: values must be finite and >= 0 (mean |attribution|)")

    @classmethod
    def from_state(cls, state: AttributionState) -> AttributionBaseline:
        return cls(state.features, tuple(float(v) for v in state.mean_abs()), state.n_records)

    @classmethod
    def from_array(cls, values: ArrayLike, features: Sequence[str]) -> AttributionBaseline:
        """From per-record attributions (records x features), e.g. a CSV / JSON Lines file already loaded."""
        state = AttributionState.empty(features)
        state.update(values)
        return cls.from_state(state)

    @classmethod
    def from_columns(cls, columns: Mapping[str, ArrayLike]) -> AttributionBaseline:
        state = AttributionState.empty(list(columns))
        state.update_columns(columns)
        return cls.from_state(state)

    def as_mapping(self) -> dict[str, float]:
        return dict(zip(self.features, self.values, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "global_values": self.as_mapping(), "n_records": self.n_records,
                "label": self.label, "expected_value": self.expected_value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttributionBaseline:
        if data.get("version") != 1:
            raise VersionMismatchError(f"attribution baseline version {data.get('version')!r}, this build reads 1")
        try:
            values = data["global_values"]
            return cls(tuple(values), tuple(float(v) for v in values.values()), data.get("n_records"),
                       str(data.get("label", "label0")), data.get("expected_value"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"attribution baseline is malformed: {exc!r}") from exc


# --------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class AttributionDriftConfig:
    threshold: float = 0.9
    min_records: int = 100

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"attribution: NDCG threshold must be in (0, 1], got {self.threshold}")
        if self.min_records < 1:
            raise ConfigError("attribution: min_records must be >= 1")


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """A window's attribution check (monitor="attribution", check="feature_attribution_drift_check")."""

    ndcg: float | None
    threshold: float
    drifted: bool
    n_records: int
    window_values: Mapping[str, float]
    baseline_values: Mapping[str, float]
    window_ranking: tuple[str, ...]
    baseline_ranking: tuple[str, ...]
    status: Literal["ok", "insufficient_data"]


def evaluate_attribution(window: AttributionState, baseline: AttributionBaseline,
                         config: AttributionDriftConfig = AttributionDriftConfig()) -> AttributionResult:
    """NDCG of the window's ranking against the baseline's, over the baseline's features."""
    index = {name: j for j, name in enumerate(window.features)}
    missing = [f for f in baseline.features if f not in index]
    if missing:
        raise EvaluationError(f"attribution: window has no attributions for baseline features {missing}")
    cols = np.asarray([index[f] for f in baseline.features], dtype=np.intp)
    win = window.mean_abs()[cols]
    base = np.asarray(baseline.values, dtype=np.float64)
    names = np.asarray(baseline.features, dtype=object)
    n = int(window.counts[cols].max(initial=0))
    enough = n >= config.min_records
    score = ndcg(base, win) if enough else None
    return AttributionResult(
        ndcg=score, threshold=config.threshold, drifted=score is not None and score < config.threshold,
        n_records=n, window_values=dict(zip(baseline.features, win.tolist(), strict=True)),
        baseline_values=baseline.as_mapping(), window_ranking=tuple(names[ranking(win)].tolist()),
        baseline_ranking=tuple(names[ranking(base)].tolist()), status="ok" if enough else "insufficient_data",
    )
