"""Baselines: the reference profile and constraints a model's live windows are compared with.

The public names of the baseline, by concept:

- :mod:`streamdrift.baseline.document`: :class:`Baseline` (the JSON document, its load / save) and the readable
  per-feature summary;
- :mod:`streamdrift.baseline.build`: :func:`build_baseline` (profile chunks, suggest constraints, stream the
  monitor sections of :mod:`streamdrift.baseline.sections`);
- :mod:`streamdrift.baseline.constraints`: the constraints.

They are re-exported here, so ``from streamdrift.baseline.baseline import Baseline, build_baseline`` keeps working.
"""

from __future__ import annotations

from streamdrift.baseline.build import (
    NUMERIC_TYPES,
    MonitorOptions,
    build_baseline,
    suggest_constraint,
    suggest_constraints,
)
from streamdrift.baseline.constraints import Constraints, FeatureConstraint, MonitoringConfig
from streamdrift.baseline.document import (
    DEFAULT_BASELINE_KLL_K,
    DEFAULT_WINDOW_KLL_K,
    FORMAT_VERSION,
    SUMMARY_QUANTILES,
    TOP_CATEGORIES,
    Baseline,
    feature_summary,
    make_baseline_id,
    population_std,
)

__all__ = [
    "DEFAULT_BASELINE_KLL_K",
    "DEFAULT_WINDOW_KLL_K",
    "FORMAT_VERSION",
    "NUMERIC_TYPES",
    "SUMMARY_QUANTILES",
    "TOP_CATEGORIES",
    "Baseline",
    "Constraints",
    "FeatureConstraint",
    "MonitorOptions",
    "MonitoringConfig",
    "build_baseline",
    "feature_summary",
    "make_baseline_id",
    "population_std",
    "suggest_constraint",
    "suggest_constraints",
]
