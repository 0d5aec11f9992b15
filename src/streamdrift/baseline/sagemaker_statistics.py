"""SageMaker's data-quality statistics.json: its document model, the KLL helpers and profile <-> statistics.

Export: per numeric feature the common counts, mean, sum, **population** std_dev (that is what SageMaker writes:
checked against its own statistics.json), min, max, 10 equal-width KLL buckets between min and max (left-closed,
the last one closed; counts from our sketch's retained items and weights) and the sketch itself as compactor
levels (``data[i]`` holds the retained items of weight 2^i; ``parameters.k`` is our k, ``c`` SageMaker's 0.64);
per string feature the counts, the distinct count and the categorical buckets.

Import: each numeric feature's KLL sketch is fed every level-i item 2^i times (vectorized ``np.repeat``, expanded
in blocks of at most :data:`EXPAND_BLOCK` values so memory stays bounded; time is linear in ``num_present``,
about 20M values/s). The weights must sum to ``num_present``. Counts, mean, sum, std_dev, min and max come from
the file, not from the rebuilt sketch. Categorical buckets become weighted frequent-items updates (the distinct
count is re-estimated from the bucket values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.baseline.jsonfiles import read_json_object
from streamdrift.columns.columns import Kind
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BaselineError
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile, NumericProfile, ProfileParams
from streamdrift.profile.sketches import KllSketch

N_BUCKETS: Final[int] = 10
SAGEMAKER_KLL_C: Final[float] = 0.64
EXPAND_BLOCK: Final[int] = 1 << 20


# ---------------------------------------------------------------- numeric distribution helpers


def equal_width_buckets(
    items: NDArray[np.float64], weights: NDArray[Any], lo: float, hi: float, n_buckets: int = N_BUCKETS
) -> list[dict[str, float]]:
    """SageMaker's histogram: ``n_buckets`` equal-width buckets on [lo, hi], weighted counts of ``items``.

    Bucket i is [lo + (hi-lo)*i/n, lo + (hi-lo)*(i+1)/n); the last one includes ``hi``. When lo == hi every
    item falls in the first bucket.
    """
    edges = np.asarray([lo + (hi - lo) * i / n_buckets for i in range(n_buckets + 1)], dtype=np.float64)
    edges[-1] = hi
    index = np.clip(np.searchsorted(edges[1:-1], items, side="right"), 0, n_buckets - 1)
    counts = np.bincount(index, weights=weights, minlength=n_buckets)
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(n_buckets)
    ]


def kll_levels(items: NDArray[np.float64], weights: NDArray[Any]) -> list[list[float]]:
    """Retained KLL items grouped by weight: level i holds the items of weight 2^i (level 0 first)."""
    if items.size == 0:
        return [[]]
    levels = np.rint(np.log2(np.maximum(weights, 1.0))).astype(np.int64)
    return [items[levels == lvl].tolist() for lvl in range(int(levels.max()) + 1)]


def level_weight_total(data: Sequence[Sequence[float]]) -> int:
    """The number of values a KLL ``data`` block stands for (level-i items weigh 2^i)."""
    return sum(len(level) << i for i, level in enumerate(data))


def feed_levels(kll: KllSketch, data: Sequence[Sequence[float]], block: int = EXPAND_BLOCK) -> None:
    """Update ``kll`` with every level-i item repeated 2^i times, expanding at most ``block`` values at a time."""
    for i, level in enumerate(data):
        items = np.asarray(level, dtype=np.float64)
        items = items[np.isfinite(items)]
        weight = 1 << i
        step = max(1, block // weight)
        for start in range(0, items.size, step):
            kll.update(np.repeat(items[start:start + step], weight))


# ---------------------------------------------------------------- SageMaker document model


@dataclass(frozen=True)
class NumericStatistics:
    """A numeric feature of statistics.json."""

    num_present: int
    num_missing: int
    mean: float
    sum: float
    std_dev: float
    min: float
    max: float
    buckets: tuple[tuple[float, float, float], ...]   # (lower_bound, upper_bound, count)
    kll_k: int
    kll_data: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class StringStatistics:
    """A string feature of statistics.json."""

    num_present: int
    num_missing: int
    distinct_count: float
    buckets: tuple[tuple[str, float], ...]            # (value, count)


@dataclass(frozen=True)
class FeatureStatistics:
    name: str
    inferred_type: FeatureType
    numeric: NumericStatistics | None = None
    string: StringStatistics | None = None

    @property
    def num_present(self) -> int:
        stats = self.numeric or self.string
        return stats.num_present if stats is not None else 0

    @property
    def num_missing(self) -> int:
        stats = self.numeric or self.string
        return stats.num_missing if stats is not None else 0


@dataclass(frozen=True)
class Statistics:
    """A parsed statistics.json (data-quality statistics)."""

    item_count: int
    features: tuple[FeatureStatistics, ...]
    version: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "dataset": {"item_count": self.item_count},
            "features": [_feature_statistics_dict(f) for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Statistics:
        try:
            features = tuple(_parse_feature_statistics(f) for f in data["features"])
            return cls(int(data["dataset"]["item_count"]), features, float(data.get("version", 0.0)))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BaselineError(f"not a SageMaker statistics.json document: {exc!r}") from exc


def _common(present: int, missing: int) -> dict[str, int]:
    return {"num_present": present, "num_missing": missing}


def _feature_statistics_dict(f: FeatureStatistics) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "inferred_type": f.inferred_type.value}
    if f.numeric is not None:
        n = f.numeric
        out["numerical_statistics"] = {
            "common": _common(n.num_present, n.num_missing),
            "mean": _json_num(n.mean), "sum": _json_num(n.sum), "std_dev": _json_num(n.std_dev),
            "min": _json_num(n.min), "max": _json_num(n.max),
            "distribution": {"kll": {
                "buckets": [{"lower_bound": lo, "upper_bound": hi, "count": c} for lo, hi, c in n.buckets],
                "sketch": {"parameters": {"c": SAGEMAKER_KLL_C, "k": float(n.kll_k)},
                           "data": [list(level) for level in n.kll_data]},
            }},
        }
    if f.string is not None:
        s = f.string
        out["string_statistics"] = {
            "common": _common(s.num_present, s.num_missing),
            "distinct_count": s.distinct_count,
            "distribution": {"categorical": {"buckets": [{"value": v, "count": c} for v, c in s.buckets]}},
        }
    return out


def _json_num(value: float) -> float | str:
    """SageMaker writes non-finite statistics as the string "NaN"."""
    return value if math.isfinite(value) else "NaN"


def _parse_feature_statistics(data: Mapping[str, Any]) -> FeatureStatistics:
    name = str(data["name"])
    inferred = parse_feature_type(data.get("inferred_type", "Unknown"), name)
    numeric = string = None
    if "numerical_statistics" in data:
        ns = data["numerical_statistics"]
        kll = ns.get("distribution", {}).get("kll", {})
        sketch = kll.get("sketch", {})
        numeric = NumericStatistics(
            num_present=int(ns["common"]["num_present"]), num_missing=int(ns["common"]["num_missing"]),
            mean=_num(ns.get("mean")), sum=_num(ns.get("sum")), std_dev=_num(ns.get("std_dev")),
            min=_num(ns.get("min")), max=_num(ns.get("max")),
            buckets=tuple((float(b["lower_bound"]), float(b["upper_bound"]), float(b["count"]))
                          for b in kll.get("buckets", [])),
            kll_k=int(sketch.get("parameters", {}).get("k", 200)),
            kll_data=tuple(tuple(float(v) for v in level) for level in sketch.get("data", [])),
        )
    if "string_statistics" in data:
        ss = data["string_statistics"]
        buckets = ss.get("distribution", {}).get("categorical", {}).get("buckets", [])
        string = StringStatistics(
            num_present=int(ss["common"]["num_present"]), num_missing=int(ss["common"]["num_missing"]),
            distinct_count=float(ss.get("distinct_count", len(buckets))),
            buckets=tuple((str(b["value"]), float(b["count"])) for b in buckets),
        )
    return FeatureStatistics(name, inferred, numeric, string)


def _num(value: object) -> float:
    """A JSON number, or SageMaker's "NaN" / missing as NaN."""
    if value is None:
        return math.nan
    if isinstance(value, int | float | str):
        return float(value)
    raise ValueError(f"expected a number, got {value!r}")


def parse_feature_type(value: object, name: str) -> FeatureType:
    try:
        return FeatureType(str(value))
    except ValueError as exc:
        raise BaselineError(f"feature {name!r}: unknown inferred_type {value!r}") from exc


def read_statistics(path: str | Path) -> Statistics:
    return Statistics.from_dict(read_json_object(Path(path)))



# ---------------------------------------------------------------- profile <-> statistics


def _numeric_statistics(fp: FeatureProfile) -> NumericStatistics:
    num = fp.numeric
    items, weights = num.kll.retained()
    buckets = equal_width_buckets(items, weights, num.min, num.max) if num.count else []
    return NumericStatistics(
        num_present=fp.n_present, num_missing=fp.n_missing, mean=num.mean if num.count else math.nan,
        sum=num.sum, std_dev=num.std_dev, min=num.min, max=num.max,
        buckets=tuple((b["lower_bound"], b["upper_bound"], b["count"]) for b in buckets),
        kll_k=num.kll.k, kll_data=tuple(tuple(level) for level in kll_levels(items, weights)),
    )


def _string_statistics(fp: FeatureProfile) -> StringStatistics:
    freqs = sorted(fp.categorical.frequencies().items(), key=lambda kv: (-kv[1], kv[0]))
    return StringStatistics(
        num_present=fp.n_present, num_missing=fp.n_missing,
        distinct_count=float(round(fp.categorical.distinct.estimate)),
        buckets=tuple((value, float(count)) for value, count in freqs),
    )


def statistics_from_profile(profile: DatasetProfile) -> Statistics:
    """SageMaker statistics of a profile (features in the profile's order)."""
    features: list[FeatureStatistics] = []
    for name, fp in profile.features.items():
        inferred = fp.inferred_type
        if inferred.is_numeric:
            features.append(FeatureStatistics(name, inferred, numeric=_numeric_statistics(fp)))
        elif inferred.is_categorical:
            features.append(FeatureStatistics(name, inferred, string=_string_statistics(fp)))
        else:
            features.append(FeatureStatistics(name, inferred))
    return Statistics(item_count=profile.n_records, features=tuple(features))


def _numeric_profile(stats: NumericStatistics, name: str, k: int) -> NumericProfile:
    num = NumericProfile(k)
    total = level_weight_total(stats.kll_data)
    if total != stats.num_present:
        raise BaselineError(f"feature {name!r}: KLL data weighs {total} values but num_present is "
                            f"{stats.num_present}")
    feed_levels(num.kll, stats.kll_data)
    num.missing = stats.num_missing
    if num.kll.n:
        m2 = stats.std_dev * stats.std_dev * num.kll.n if math.isfinite(stats.std_dev) else 0.0
        num._combine(num.kll.n, stats.min, stats.max, stats.sum, stats.mean, m2)
    return num


def _feature_profile(fs: FeatureStatistics, params: ProfileParams) -> FeatureProfile:
    fp = FeatureProfile(params)
    kind = {FeatureType.INTEGRAL: Kind.INTEGRAL, FeatureType.FRACTIONAL: Kind.FRACTIONAL,
            FeatureType.STRING: Kind.STRING, FeatureType.BOOLEAN: Kind.BOOLEAN}.get(fs.inferred_type)
    if kind is not None:
        fp.type_counts[kind] = fs.num_present
    fp.type_counts[Kind.MISSING] = fs.num_missing
    fp.categorical.missing = fs.num_missing
    if fs.numeric is not None and fs.inferred_type.is_numeric:
        fp.numeric = _numeric_profile(fs.numeric, fs.name, params.kll_k)
    else:
        fp.numeric.missing = fs.num_missing
        fp.numeric.wrong_type = fs.num_present
    if fs.string is not None and fs.string.buckets:
        values = [v for v, _ in fs.string.buckets]
        counts = np.rint([c for _, c in fs.string.buckets]).astype(np.int64)
        fp.categorical.update_counts(values, counts)
    return fp


def profile_from_statistics(stats: Statistics, params: ProfileParams = ProfileParams()) -> DatasetProfile:  # noqa: B008
    """Rebuild a mergeable profile from SageMaker statistics (see the module docs for the sketch rebuild)."""
    profile = DatasetProfile(params)
    for fs in stats.features:
        if fs.num_present + fs.num_missing != stats.item_count and (fs.numeric or fs.string):
            raise BaselineError(f"feature {fs.name!r}: num_present + num_missing = "
                                f"{fs.num_present + fs.num_missing}, item_count is {stats.item_count}")
        fp = _feature_profile(fs, params)
        if not (fs.numeric or fs.string):
            fp.type_counts[Kind.MISSING] = stats.item_count
            fp.numeric.missing = fp.categorical.missing = stats.item_count
        profile.features[fs.name] = fp
    profile.n_records = stats.item_count
    return profile
