"""SageMaker Model Monitor conformance: our statistics / constraints vs the prebuilt container's own files.

Tolerances: sums, means, std_dev, min and max are exact computations on both sides (equal up to float rounding,
rel 1e-9). Bucket counts and CDFs come from KLL sketches: a k=200 sketch's normalized rank error is at most
eps = 0.0133 (single-sided, 99%), so a bucket count (difference of two ranks) is within n * 2 * eps, plus one
item of slack for the boundary rounding of the bucket edges.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.baseline.sagemaker import (
    Statistics,
    Violation,
    constraints_from_dict,
    constraints_to_dict,
    equal_width_buckets,
    export_sagemaker,
    feed_levels,
    import_sagemaker,
    kll_levels,
    level_weight_total,
    read_constraint_violations,
    statistics_from_profile,
    violation_description,
    write_constraint_violations,
)
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.errors import BaselineError
from streamdrift.ingest.files import iter_columns
from streamdrift.profile.sketches import KllSketch

DQ = Path(__file__).resolve().parents[2] / "fixtures" / "sagemaker" / "data_quality"
KLL_EPS = 0.0133


def _load(path: Path) -> dict[str, Any]:
    data = orjson.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def sm_stats() -> dict[str, Any]:
    return _load(DQ / "statistics.json")


@pytest.fixture(scope="module")
def sm_constraints() -> dict[str, Any]:
    return _load(DQ / "constraints.json")


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    baseline = build_baseline(iter_columns(DQ / "baseline_dataset.csv"), "conformance")
    out = tmp_path_factory.mktemp("export")
    stats_path, constraints_path = export_sagemaker(baseline, out)
    return _load(stats_path), _load(constraints_path)


def _numeric(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f["numerical_statistics"] for f in doc["features"]}


def test_statistics_counts_and_moments_match_sagemaker(ours: tuple[dict[str, Any], dict[str, Any]],
                                                       sm_stats: dict[str, Any]) -> None:
    stats, _ = ours
    assert stats["dataset"] == sm_stats["dataset"]
    assert [(f["name"], f["inferred_type"]) for f in stats["features"]] == [
        (f["name"], f["inferred_type"]) for f in sm_stats["features"]]
    mine, theirs = _numeric(stats), _numeric(sm_stats)
    for name, expected in theirs.items():
        got = mine[name]
        assert got["common"] == expected["common"]
        for key in ("sum", "mean", "std_dev", "min", "max"):
            assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), (name, key)


def test_kll_buckets_within_rank_error(ours: tuple[dict[str, Any], dict[str, Any]],
                                       sm_stats: dict[str, Any]) -> None:
    stats, _ = ours
    n = sm_stats["dataset"]["item_count"]
    tolerance = n * 2 * KLL_EPS + 1
    mine, theirs = _numeric(stats), _numeric(sm_stats)
    for name, expected in theirs.items():
        got_b = mine[name]["distribution"]["kll"]["buckets"]
        exp_b = expected["distribution"]["kll"]["buckets"]
        assert len(got_b) == len(exp_b) == 10
        for g, e in zip(got_b, exp_b, strict=True):
            assert g["lower_bound"] == pytest.approx(e["lower_bound"])
            assert g["upper_bound"] == pytest.approx(e["upper_bound"])
            assert abs(g["count"] - e["count"]) <= tolerance, name
        assert sum(b["count"] for b in got_b) == n
        sketch = mine[name]["distribution"]["kll"]["sketch"]
        assert sum(len(level) * 2**i for i, level in enumerate(sketch["data"])) == n


def test_sagemaker_bucket_rule_reproduces_their_counts_exactly(sm_stats: dict[str, Any]) -> None:
    """Their sketches hold all 100 items at level 0, so their buckets are the exact histogram of the data."""
    for name, ns in _numeric(sm_stats).items():
        kll = ns["distribution"]["kll"]
        items = np.asarray(kll["sketch"]["data"][0], dtype=np.float64)
        buckets = equal_width_buckets(items, np.ones_like(items), ns["min"], ns["max"])
        assert [b["count"] for b in buckets] == [b["count"] for b in kll["buckets"]], name
        assert [b["lower_bound"] for b in buckets] == [b["lower_bound"] for b in kll["buckets"]], name


def test_constraints_match_sagemaker(ours: tuple[dict[str, Any], dict[str, Any]],
                                     sm_constraints: dict[str, Any]) -> None:
    _, constraints = ours
    assert constraints == sm_constraints


def test_constraints_document_round_trip(sm_constraints: dict[str, Any]) -> None:
    parsed = constraints_from_dict(sm_constraints)
    assert parsed.source == "sagemaker"
    assert parsed.monitoring.comparison_threshold == 0.1 and parsed.monitoring.comparison_method == "Robust"
    assert constraints_to_dict(parsed) == sm_constraints
    with pytest.raises(BaselineError, match="Enabled"):
        constraints_from_dict({**sm_constraints, "monitoring_config": {"emit_metrics": "yes"}})


def test_import_gives_cdfs_within_kll_bound_of_ours(sm_stats: dict[str, Any]) -> None:
    imported = import_sagemaker(DQ / "statistics.json", DQ / "constraints.json", model_id="m")
    built = build_baseline(iter_columns(DQ / "baseline_dataset.csv"), "m")
    assert imported.constraints.source == "sagemaker"
    assert imported.profile.n_records == built.profile.n_records == 100
    for name, fp in built.profile.features.items():
        other = imported.profile.features[name]
        assert other.inferred_type == fp.inferred_type
        assert other.n_present == fp.n_present and other.n_missing == fp.n_missing
        points = np.unique(np.asarray(sm_stats["features"][int(name[2:])]["numerical_statistics"]
                                      ["distribution"]["kll"]["sketch"]["data"][0]))
        diff = np.abs(np.asarray(other.numeric.kll.cdf(points)) - np.asarray(fp.numeric.kll.cdf(points)))
        assert float(diff.max()) <= 2 * KLL_EPS, name
        assert other.numeric.mean == pytest.approx(fp.numeric.mean)
        assert other.numeric.min == fp.numeric.min and other.numeric.max == fp.numeric.max


def test_export_import_export_is_stable(tmp_path: Path, sm_stats: dict[str, Any],
                                        sm_constraints: dict[str, Any]) -> None:
    imported = import_sagemaker(DQ / "statistics.json", DQ / "constraints.json", model_id="m")
    stats_path, constraints_path = export_sagemaker(imported, tmp_path)
    again = _load(stats_path)
    assert _load(constraints_path) == sm_constraints
    for got, exp in zip(again["features"], sm_stats["features"], strict=True):
        g, e = got["numerical_statistics"], exp["numerical_statistics"]
        assert g["common"] == e["common"]
        for key in ("sum", "mean", "std_dev", "min", "max"):
            assert g[key] == pytest.approx(e[key], rel=1e-12)
        assert [b["count"] for b in g["distribution"]["kll"]["buckets"]] == [
            b["count"] for b in e["distribution"]["kll"]["buckets"]]


def _mixed_baseline(n: int, seed: int) -> Baseline:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(0.0, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan
    table = pa.table({
        "x": pa.array(x, from_pandas=True),
        "k": pa.array(rng.integers(-5, 50, n)),
        "c": pa.array(np.asarray(["a", "b", "c", "d"])[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])]),
    })
    half = n // 2
    return build_baseline([columns_from_arrow(table.slice(0, half)), columns_from_arrow(table.slice(half))], "m")


def test_large_round_trip_with_strings_and_compacted_sketch(tmp_path: Path) -> None:
    n = 60_000
    baseline = _mixed_baseline(n, seed=11)
    first = statistics_from_profile(baseline.profile).to_dict()
    stats_path, constraints_path = export_sagemaker(baseline, tmp_path / "a")
    imported = import_sagemaker(stats_path, constraints_path, model_id="m")
    second = statistics_from_profile(imported.profile).to_dict()
    tolerance = n * 2 * KLL_EPS + 1
    for a, b in zip(first["features"], second["features"], strict=True):
        assert (a["name"], a["inferred_type"]) == (b["name"], b["inferred_type"])
        if "numerical_statistics" in a:
            na, nb = a["numerical_statistics"], b["numerical_statistics"]
            assert na["common"] == nb["common"]
            for key in ("sum", "mean", "std_dev", "min", "max"):
                assert nb[key] == pytest.approx(na[key], rel=1e-12)
            levels = na["distribution"]["kll"]["sketch"]["data"]
            assert len(levels) > 1
            counts_a = [x["count"] for x in na["distribution"]["kll"]["buckets"]]
            counts_b = [x["count"] for x in nb["distribution"]["kll"]["buckets"]]
            assert max(abs(p - q) for p, q in zip(counts_a, counts_b, strict=True)) <= tolerance
        else:
            sa, sb = a["string_statistics"], b["string_statistics"]
            assert sa["common"] == sb["common"]
            assert sa["distribution"] == sb["distribution"]
    assert first["features"][2]["string_statistics"]["common"]["num_present"] == n
    assert imported.constraints.features["c"].domain == ("a", "b", "c", "d")
    assert imported.constraints.features["k"].is_non_negative is False


def test_feed_levels_expands_weights_in_blocks() -> None:
    data = [[5.0, 1.0], [2.0], [7.0, 9.0]]
    assert level_weight_total(data) == 2 + 2 + 8
    exact = KllSketch(200)
    feed_levels(exact, data, block=3)
    assert exact.n == 12
    items, weights = exact.retained()
    values, index = np.unique(items, return_inverse=True)
    totals = np.bincount(index, weights=weights)
    assert dict(zip(values.tolist(), totals.tolist(), strict=True)) == {1.0: 1, 2.0: 2, 5.0: 1, 7.0: 4, 9.0: 4}
    big = [[float(i) for i in range(10)], *([] for _ in range(19)), [100.0, 200.0]]
    sketch = KllSketch(200)
    feed_levels(sketch, big, block=1 << 16)
    assert sketch.n == level_weight_total(big) == 10 + 2 * (1 << 20)
    assert sketch.cdf([150.0])[0] == pytest.approx(0.5, abs=KLL_EPS)


def test_levels_group_retained_items_by_weight() -> None:
    items = np.asarray([5.0, 1.0, 2.0, 7.0, 9.0])
    weights = np.asarray([1.0, 1.0, 2.0, 8.0, 8.0])
    assert kll_levels(items, weights) == [[5.0, 1.0], [2.0], [], [7.0, 9.0]]
    assert kll_levels(np.empty(0), np.empty(0)) == [[]]


def test_constraint_violations_write_and_read(tmp_path: Path) -> None:
    conformance = read_constraint_violations(DQ / "constraint_violations.json")
    assert conformance[0] == Violation("store_and_fwd_flag", "categorical_values_check",
                                       violation_description(0.009009009009009009))
    assert conformance[3].description == violation_description(0.0)
    path = write_constraint_violations(tmp_path, [("x", "completeness_check", violation_description(0.5)),
                                                  conformance[1]])
    assert path.name == "constraint_violations.json"
    assert read_constraint_violations(path) == [Violation("x", "completeness_check",
                                                          "Value: 0.5 does not meet the constraint requirement! "),
                                                conformance[1]]
    assert _load(DQ / "constraint_violations.json") == {"violations": [v.to_dict() for v in conformance]}


@pytest.mark.parametrize(("value", "text"), [(0.0, "0.0"), (1.0, "1.0"), (1e-05, "1.0E-5"),
                                             (12345678.0, "1.2345678E7"), (-2.5e-4, "-2.5E-4"),
                                             (math.nan, "NaN")])
def test_violation_numbers_print_like_java(value: float, text: str) -> None:
    assert violation_description(value) == f"Value: {text} does not meet the constraint requirement! "


def test_invalid_documents_raise_baseline_error(tmp_path: Path) -> None:
    with pytest.raises(BaselineError):
        Statistics.from_dict({"features": []})
    bad = tmp_path / "s.json"
    bad.write_text("[1]")
    with pytest.raises(BaselineError):
        import_sagemaker(bad, None, model_id="m")
    with pytest.raises(BaselineError, match="inferred_type"):
        Statistics.from_dict({"dataset": {"item_count": 1}, "features": [{"name": "a", "inferred_type": "Blob"}]})
