"""The mergeable per-window bias counts and the Clarify metrics computed from them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamdrift.errors import (
    ConfigError,
    CorruptBlobError,
    EvaluationError,
    MergeError,
    ParameterMismatchError,
)
from streamdrift.monitors.bias.spec import FN, FP, GROUP_A, GROUP_D, N_CELLS, TN, TP, UN, UP, BiasConfig
from streamdrift.profile.sketches import BlobKind, pack_envelope, unpack_envelope


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


