"""SageMaker's data-quality checks of a window against the baseline's constraints (completeness, data type,
categorical domain, non-negative, missing and extra columns), calibrated or as SageMaker does them (see
docs/evaluation.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streamdrift.monitors.data_quality import stattests
from streamdrift.monitors.violations import CheckKey, Violation

if TYPE_CHECKING:
    from streamdrift.baseline.baseline import Baseline
    from streamdrift.baseline.constraints import FeatureConstraint, MonitoringConfig
    from streamdrift.profile.profiles import DatasetProfile, FeatureProfile

# columns.Kind values, by number so this pure module does not need the records layer
_INTEGRAL, _FRACTIONAL, _STRING, _BOOLEAN, _NONFINITE = 1, 2, 3, 4, 5
_CONFORMING_KINDS: Mapping[str, tuple[int, ...]] = {
    "Integral": (_INTEGRAL,),
    "Fractional": (_INTEGRAL, _FRACTIONAL, _NONFINITE),
    "String": (_INTEGRAL, _FRACTIONAL, _STRING, _BOOLEAN, _NONFINITE),
    "Boolean": (_BOOLEAN,),
}


@dataclass(frozen=True, slots=True)
class _ShareCheck:
    """A 'share of conforming rows below threshold' check of one feature, with the baseline's own counts.

    ``multiplier`` is SageMaker's threshold (1.0 = no worse than the baseline); ``threshold`` the share it
    implies (``multiplier x`` the baseline's conforming share, or the constraint's completeness).
    """

    check: str
    feature: str
    conforming: int
    total: int
    threshold: float
    multiplier: float
    base_conforming: int
    base_total: int
    what: str

    def p_value(self) -> float:
        """Calibrated evidence of a shortfall: vs the baseline's rate (exact conditional binomial split) when the
        threshold is the baseline's own share, else a one-sided binomial test against the threshold share."""
        from scipy.stats import binom
        if self.multiplier >= 1.0 and self.base_total > 0:
            return stattests.split_pvalue(self.total - self.conforming, self.base_total - self.base_conforming,
                                          self.total, self.base_total)
        return float(binom.cdf(self.conforming, self.total, min(1.0, self.threshold)))


def _type_share(fp: FeatureProfile, inferred: str) -> tuple[int, int]:
    kinds = _CONFORMING_KINDS.get(inferred)
    present = int(fp.n_present)
    if kinds is None or present == 0:
        return 0, 0
    counts = fp.type_counts
    conforming = sum(int(counts[k]) for k in kinds)
    return min(conforming, present), present


def _completeness_check(name: str, fp: FeatureProfile, window: DatasetProfile, constraint: FeatureConstraint,
                        n_base: int) -> _ShareCheck:
    base_present = round(constraint.completeness * n_base)
    return _ShareCheck("completeness_check", name, int(fp.n_present), int(window.n_records),
                       constraint.completeness, 1.0, base_present, n_base, "completeness")


def _type_check(name: str, fp: FeatureProfile, base_fp: FeatureProfile | None, constraint: FeatureConstraint,
                monitoring: MonitoringConfig) -> _ShareCheck | None:
    inferred = constraint.inferred_type.value
    conforming, present = _type_share(fp, inferred)
    if present == 0:
        return None
    bc, bp = _type_share(base_fp, inferred) if base_fp is not None else (0, 0)
    base_share = bc / bp if bp else 1.0
    multiplier = monitoring.datatype_check_threshold
    return _ShareCheck("data_type_check", name, conforming, present, multiplier * base_share, multiplier, bc, bp,
                       f"share of {inferred} values")


def _domain_check(name: str, fp: FeatureProfile, base_fp: FeatureProfile | None, domain: tuple[str, ...],
                  monitoring: MonitoringConfig) -> _ShareCheck | None:
    total = int(fp.categorical.count)
    if total == 0:
        return None
    freqs = fp.categorical.frequencies()
    in_domain = min(total, int(sum(freqs.get(v, 0) for v in domain)))
    base_total = int(base_fp.categorical.count) if base_fp is not None else 0
    multiplier = monitoring.domain_content_threshold
    # the domain is what the baseline showed: all its values conform
    return _ShareCheck("categorical_values_check", name, in_domain, total, multiplier, multiplier, base_total,
                       base_total, "share of values in the baseline domain")


def _share_checks(window: DatasetProfile, baseline: Baseline, monitoring: MonitoringConfig) -> list[_ShareCheck]:
    checks: list[_ShareCheck | None] = []
    n_base = int(baseline.profile.n_records)
    for name, constraint in sorted(baseline.constraints.features.items()):
        fp = window.features.get(name)
        if fp is None or fp.n_present == 0:
            continue
        base_fp = baseline.profile.features.get(name)
        checks.append(_completeness_check(name, fp, window, constraint, n_base))
        checks.append(_type_check(name, fp, base_fp, constraint, monitoring))
        if constraint.domain is not None:
            checks.append(_domain_check(name, fp, base_fp, constraint.domain, monitoring))
    return [c for c in checks if c is not None]


def _share_violations(checks: list[_ShareCheck], calibrated: bool, alpha: float) -> list[Violation]:
    per_kind: dict[str, int] = {}
    for c in checks:
        per_kind[c.check] = per_kind.get(c.check, 0) + 1
    out = []
    for c in checks:
        share = c.conforming / c.total
        if share >= c.threshold:
            continue
        p = c.p_value()
        if calibrated and p > alpha / per_kind[c.check]:
            continue
        out.append(Violation(
            check=c.check, feature=c.feature, statistic=c.check.removesuffix("_check"), value=share,
            threshold=c.threshold, p_value=p, n_window=c.total, n_baseline=c.base_total,
            description=f"{c.what} of {c.feature!r} is {share:.4f} < {c.threshold:.4f} "
                        f"({c.conforming} of {c.total}, p={p:.3g})",
        ))
    return out


def _column_violations(window: DatasetProfile, baseline: Baseline) -> tuple[list[Violation], set[CheckKey]]:
    checked: set[CheckKey] = set()
    out: list[Violation] = []
    n = int(window.n_records)
    for name, constraint in sorted(baseline.constraints.features.items()):
        checked.add(("data_quality", "missing_column_check", name))
        fp = window.features.get(name)
        if n > 0 and constraint.completeness > 0 and (fp is None or fp.n_present == 0):
            out.append(Violation(check="missing_column_check", feature=name, statistic="completeness", value=0.0,
                                 threshold=constraint.completeness, n_window=n,
                                 n_baseline=int(baseline.profile.n_records),
                                 description=f"column {name!r} of the baseline has no value in the window"))
    left_out = baseline.unprofiled_columns  # time, id and excluded columns the baseline kept out on purpose
    for name, fp in sorted(window.features.items()):
        if name in baseline.constraints.features or name in left_out or fp.n_present == 0:
            continue
        checked.add(("data_quality", "extra_column_check", name))
        out.append(Violation(check="extra_column_check", feature=name, n_window=n,
                             description=f"column {name!r} is not in the baseline"))
    return out, checked


def _negative_count_lower_bound(fp: FeatureProfile) -> int:
    """A conservative count of negative values: the KLL rank of 0 less its rank error (>= 1 as min < 0)."""
    kll = fp.numeric.kll
    share = float(np.asarray(kll.cdf(np.array([0.0]), inclusive=False), dtype=np.float64)[0])
    eps = stattests.effective_rank_error(kll)
    return max(1, int(np.floor((share - eps) * fp.numeric.count)))


def _non_negative_violations(window: DatasetProfile, baseline: Baseline, calibrated: bool,
                             alpha: float) -> tuple[list[Violation], set[CheckKey]]:
    """SageMaker: a non-negative baseline feature with a negative value. Calibrated: the window's negatives
    (a lower bound from the KLL) must also be significantly more frequent than the baseline's (none)."""
    checked: set[CheckKey] = set()
    candidates: list[tuple[str, FeatureProfile]] = []
    for name, constraint in sorted(baseline.constraints.features.items()):
        fp = window.features.get(name)
        if not constraint.is_non_negative or fp is None or fp.numeric.count == 0:
            continue
        checked.add(("data_quality", "non_negative_check", name))
        if fp.numeric.min < 0:
            candidates.append((name, fp))
    out: list[Violation] = []
    n_base = int(baseline.profile.n_records)
    for name, fp in candidates:
        negatives = _negative_count_lower_bound(fp)
        p = stattests.split_pvalue(negatives, 0, int(fp.numeric.count), n_base)
        if calibrated and p > alpha / max(1, len(checked)):
            continue
        out.append(Violation(check="non_negative_check", feature=name, statistic="min",
                             value=float(fp.numeric.min), threshold=0.0, p_value=p, n_window=int(fp.numeric.count),
                             n_baseline=n_base,
                             description=f"{name!r} was non-negative in the baseline; window min is "
                                         f"{float(fp.numeric.min):g} (at least {negatives} negative values, p={p:.3g})"))
    return out, checked


def data_quality(window: DatasetProfile, baseline: Baseline, calibrated: bool,
                  alpha: float) -> tuple[list[Violation], set[CheckKey]]:
    columns, checked = _column_violations(window, baseline)
    non_negative, checked_nn = _non_negative_violations(window, baseline, calibrated, alpha)
    shares = _share_checks(window, baseline, baseline.constraints.monitoring)
    checked |= checked_nn | {("data_quality", c.check, c.feature) for c in shares}
    return [*columns, *non_negative, *_share_violations(shares, calibrated, alpha)], checked


