"""Tests of streamdrift.baseline / constraints: building, suggested constraints, JSON layout and schema."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import orjson
import pyarrow as pa
import pytest

from streamdrift.baseline.baseline import FORMAT_VERSION, Baseline, build_baseline
from streamdrift.baseline.constraints import MAX_DOMAIN_SIZE, Constraints, FeatureConstraint, MonitoringConfig
from streamdrift.columns.columns import Columns, columns_from_arrow
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BaselineError, InputFileError
from streamdrift.profile.profiles import ProfileParams

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "baseline.schema.json"
KLL_EPS = 0.0133
N = 20_000


def _chunks(n: int = N, seed: int = 3, parts: int = 4) -> list[Columns]:
    rng = np.random.default_rng(seed)
    income = rng.gamma(2.0, 1000.0, n)
    delta = rng.normal(0.0, 1.0, n)
    delta[rng.random(n) < 0.1] = np.nan
    table = pa.table({
        "income": income,
        "delta": pa.array(delta, from_pandas=True),
        "segment": pa.array(np.asarray(["gold", "silver", "bronze"])[rng.integers(0, 3, n)]),
        "user_id": pa.array([f"u{i}" for i in range(n)]),
        "active": pa.array(rng.random(n) < 0.3),
        "label": pa.array(rng.integers(0, 2, n)),
        "pred": pa.array(rng.random(n)),
    })
    step = n // parts
    return [columns_from_arrow(table.slice(i * step, step)) for i in range(parts)]


@pytest.fixture(scope="module")
def built() -> Baseline:
    return build_baseline(_chunks(), "credit", target="label", prediction="pred",
                          created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    data = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    return data  # type: ignore[no-any-return]


def test_roles_are_recorded_not_profiled(built: Baseline) -> None:
    assert built.target == "label" and built.prediction == "pred" and built.score is None
    assert set(built.profile.features) == {"income", "delta", "segment", "user_id", "active"}
    assert built.profile.n_records == N
    assert built.baseline_id.startswith("credit-20240501T120000Z-")
    assert built.created_at == "2024-05-01T12:00:00Z"


def test_suggested_constraints(built: Baseline) -> None:
    c = built.constraints
    assert c.source == "streamdrift"
    assert c.monitoring == MonitoringConfig()
    assert c.monitoring.comparison_threshold == 0.1 and c.monitoring.comparison_method == "Robust"
    income, delta = c.features["income"], c.features["delta"]
    assert income.inferred_type is FeatureType.FRACTIONAL and income.is_non_negative is True
    assert delta.is_non_negative is False
    observed = float(np.mean(~np.isnan(np.concatenate([ch.columns["delta"].numbers for ch in _chunks()]))))
    assert delta.completeness == pytest.approx(observed)
    segment = c.features["segment"]
    assert segment.domain == ("bronze", "gold", "silver") and not segment.high_cardinality
    user = c.features["user_id"]
    assert user.domain is None and user.high_cardinality
    active = c.features["active"]
    assert active.inferred_type is FeatureType.BOOLEAN and active.domain is not None and len(active.domain) == 2
    assert income.domain is None and segment.is_non_negative is None


def test_domain_needs_low_share_of_rows() -> None:
    """60 distinct values in 3000 rows is over MAX_DOMAIN_SIZE; 40 in 2000 rows is over 1% of rows."""
    for distinct, n, expect_domain in ((40, 10_000, True), (MAX_DOMAIN_SIZE + 10, 30_000, False), (40, 2_000, False)):
        values = np.asarray([f"v{i % distinct}" for i in range(n)])
        b = build_baseline([columns_from_arrow(pa.table({"c": pa.array(values)}))], "m")
        fc = b.constraints.features["c"]
        assert (fc.domain is not None) is expect_domain, (distinct, n)
        assert fc.high_cardinality is not expect_domain


def test_summary_statistics(built: Baseline) -> None:
    doc = orjson.loads(built.to_json())
    income = np.concatenate([ch.columns["income"].numbers for ch in _chunks()])
    summary = doc["features"]["income"]["numeric"]
    assert summary["count"] == N
    assert summary["mean"] == pytest.approx(income.mean(), rel=1e-9)
    assert summary["std_dev"] == pytest.approx(income.std(), rel=1e-9)
    assert summary["min"] == income.min() and summary["max"] == income.max()
    for q, v in summary["quantiles"].items():
        rank = float(np.mean(income <= v))
        assert abs(rank - float(q)) <= KLL_EPS + 1.0 / N, q
    top = doc["features"]["segment"]["categorical"]["top"]
    assert sum(t["count"] for t in top) == N
    delta = np.concatenate([ch.columns["delta"].numbers for ch in _chunks()])
    assert doc["features"]["delta"]["missing"] == int(np.isnan(delta).sum())
    assert doc["features"]["delta"]["count"] + doc["features"]["delta"]["missing"] == N


def test_json_round_trip_and_schema(built: Baseline, schema: dict[str, Any], tmp_path: Path) -> None:
    with_sections = built.with_sections(model_quality={"problem": "binary", "metrics": {"auc": 0.81}},
                                        bias={"facets": ["x"]})
    data = with_sections.to_json()
    doc = orjson.loads(data)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["columns"] == {"target": "label", "prediction": "pred", "score": None}
    back = Baseline.from_json(data)
    assert back.to_json() == data
    assert back.model_quality == {"problem": "binary", "metrics": {"auc": 0.81}} and back.attribution is None
    assert back.constraints == built.constraints
    assert back.profile.to_bytes() == built.profile.to_bytes()
    path = with_sections.save(tmp_path / "sub" / "b.json")
    assert Baseline.load(path).to_json() == data


def test_schema_rejects_bad_documents(built: Baseline, schema: dict[str, Any]) -> None:
    doc = orjson.loads(built.to_json())
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(doc)
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d.pop("profile"),
        lambda d: d.update(format_version=2),
        lambda d: d["constraints"].update(source="other"),
        lambda d: d["constraints"]["features"]["income"].update(inferred_type="Number"),
        lambda d: d.update(model_quality=[1]),
    ]
    for mutate in mutations:
        bad = orjson.loads(built.to_json())
        mutate(bad)
        assert not validator.is_valid(bad)


def test_load_errors(built: Baseline, tmp_path: Path) -> None:
    doc = orjson.loads(built.to_json())
    with pytest.raises(BaselineError, match="format_version"):
        Baseline.from_dict({**doc, "format_version": 99})
    with pytest.raises(BaselineError, match="profile"):
        Baseline.from_dict({**doc, "profile": base64.b64encode(b"garbage").decode()})
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.from_json(b"{")
    with pytest.raises(BaselineError, match="model_id"):
        Baseline.from_dict({k: v for k, v in doc.items() if k != "model_id"})
    with pytest.raises(BaselineError, match="cannot read"):
        Baseline.load(tmp_path / "none.json")
    with pytest.raises(BaselineError, match="section"):
        Baseline.from_dict({**doc, "bias": "text"})


def test_build_errors() -> None:
    with pytest.raises(InputFileError, match="no rows"):
        build_baseline([], "m")
    with pytest.raises(InputFileError, match="nope"):
        build_baseline(_chunks(n=400), "m", target="nope")
    with pytest.raises(BaselineError, match="model_id"):
        build_baseline(_chunks(n=400), "")


def test_exclude_progress_and_params() -> None:
    seen: list[int] = []
    b = build_baseline(_chunks(n=800), "m", exclude=("user_id",), progress=seen.append,
                       params=ProfileParams(kll_k=64))
    assert "user_id" not in b.profile.features and "label" in b.profile.features
    assert seen == [200] * 4
    assert b.profile.params.kll_k == 64


def test_constraints_dict_round_trip_and_overrides() -> None:
    c = Constraints(
        features={"a": FeatureConstraint("a", FeatureType.STRING, 0.5, None, ("x", "y")),
                  "b": FeatureConstraint("b", FeatureType.INTEGRAL, 1.0, True)},
        monitoring=MonitoringConfig(comparison_method="Simple", comparison_threshold=0.2),
        source="sagemaker",
    )
    assert Constraints.from_dict(c.to_dict()) == c
    tuned = c.with_drift_threshold("b", 0.05)
    assert tuned.features["b"].drift_threshold == 0.05 and c.features["b"].drift_threshold is None
    assert Constraints.from_dict(tuned.to_dict()) == tuned
    with pytest.raises(BaselineError):
        c.with_drift_threshold("zz", 0.1)
    with pytest.raises(BaselineError, match="comparison_method"):
        MonitoringConfig.from_dict({"comparison_method": "Fancy"})
    with pytest.raises(BaselineError, match="source"):
        Constraints.from_dict({"source": "x"})
