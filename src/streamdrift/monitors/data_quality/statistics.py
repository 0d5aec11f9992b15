"""The drift statistics, in one table: the evaluation, settings validation and every CLI ``--statistic`` choice
read it.

A numeric feature's drift test is always the sketch-error-widened KS test (its p-value, corrected over the
window's features, decides significance); the *statistic* is the effect size that must also exceed its
threshold. A *calibrated* statistic's threshold is also raised to the test's own critical value (L-inf is the
KS statistic itself); the others are compared with their threshold alone.

Adding a statistic: its function in :mod:`streamdrift.monitors.data_quality.stattests` and one entry in
:data:`STATISTICS`; ``--statistic NAME`` and ``evaluation.statistic`` / ``evaluation.thresholds`` then accept it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from streamdrift.errors import EvaluationError
from streamdrift.monitors.data_quality import stattests
from streamdrift.monitors.data_quality.stattests import CdfSketch

NumericFunction = Callable[[CdfSketch, CdfSketch], float]  # (window, baseline) -> value
CategoricalFunction = Callable[[Mapping[str, float], Mapping[str, float]], float]


@dataclass(frozen=True)
class Statistic:
    name: str
    numeric: NumericFunction  # (window sketch, baseline sketch)
    default_threshold: float  # the effect size above which a significant difference is drift
    calibrated: bool  # threshold = max(threshold, the KS test's critical value)
    description: str
    categorical: CategoricalFunction | None = None  # reported beside the categorical test, when defined


#: Every drift statistic by name (the first one is the default).
STATISTICS: Final[Mapping[str, Statistic]] = MappingProxyType({
    "linf": Statistic("linf", stattests.ks_distance, 0.05, True,
                      "L-inf distance of the CDFs (the KS statistic)", stattests.categorical_linf),
    "psi": Statistic("psi", stattests.psi, 0.2, False, "population stability index over 10 baseline-quantile bins"),
    "js": Statistic("js", stattests.js_distance, 0.1, False, "Jensen-Shannon distance over 20 bins",
                    stattests.categorical_js),
    "wasserstein": Statistic("wasserstein", stattests.normalized_wasserstein, 0.1, False,
                             "Wasserstein-1 distance over the baseline's interquartile range"),
})
DEFAULT_STATISTIC: Final[str] = next(iter(STATISTICS))


def statistic(name: str) -> Statistic:
    found = STATISTICS.get(name)
    if found is None:
        raise EvaluationError(f"unknown drift statistic {name!r}: one of {', '.join(STATISTICS)}")
    return found


def check_thresholds(thresholds: Mapping[str, float]) -> None:
    """Per-statistic thresholds: known names, values >= 0."""
    for name, value in thresholds.items():
        statistic(name)
        if not value >= 0:
            raise EvaluationError(f"threshold of {name!r} must be >= 0, got {value}")
