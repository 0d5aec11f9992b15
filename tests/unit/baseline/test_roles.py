"""Column roles at baseline build: time and identifier-like columns detected, overridable, recorded and loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import orjson
import pyarrow as pa
import pytest
from houses import house_table

from streamdrift.baseline.baseline import Baseline, build_baseline, suggest_constraints
from streamdrift.baseline.roles import ColumnRole, RoleOptions
from streamdrift.columns.columns import Columns, columns_from_arrow
from streamdrift.errors import BaselineError, ConfigError

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "baseline.schema.json"


def _chunks(table: pa.Table, parts: int = 3) -> list[Columns]:
    step = -(-table.num_rows // parts)
    return [columns_from_arrow(table.slice(i * step, step)) for i in range(parts)]


@pytest.fixture(scope="module")
def houses() -> pa.Table:
    return house_table()


@pytest.fixture(scope="module")
def built(houses: pa.Table) -> Baseline:
    return build_baseline(_chunks(houses), "houses")


def test_time_column_detected_suggested_and_not_profiled(built: Baseline) -> None:
    role = built.column_roles["event_time"]
    assert role.role == "timestamp" and role.detected and "ISO-8601" in role.reason
    assert "event_time" not in built.profile.features and "event_time" not in built.constraints.features
    assert built.timestamp_column == "event_time"
    assert built.unprofiled_columns == frozenset({"event_time"})


def test_identifier_like_is_profiled_but_skips_drift_with_its_reason(built: Baseline) -> None:
    role = built.column_roles["id"]
    assert role.role == "id" and role.detected
    assert "id" in built.profile.features  # completeness and type are still checked
    reason = built.constraints.features["id"].skip_drift
    assert reason is not None and reason.startswith("identifier-like: UUIDs, ")
    assert "of 23,432 rows" in reason


def test_many_valued_categoricals_stay_tested_features(built: Baseline) -> None:
    for name in ("state", "county", "city", "product", "zipcode"):
        constraint = built.constraints.features[name]
        assert constraint.skip_drift is None, name
        assert name not in built.column_roles, name
    state = built.constraints.features["state"]
    assert state.domain is None and state.high_cardinality  # no domain constraint: a separate rule
    assert built.constraints.features["bedrooms"].skip_drift is None


def test_roles_round_trip_and_schema(built: Baseline) -> None:
    schema = json.loads(SCHEMA.read_text())
    doc = orjson.loads(built.to_json())
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["column_roles"]["event_time"]["role"] == "timestamp"
    assert doc["constraints"]["features"]["id"]["skip_drift"].startswith("identifier-like")
    back = Baseline.from_json(built.to_json())
    assert back.column_roles == built.column_roles and back.constraints == built.constraints
    bad = orjson.loads(built.to_json())
    bad["column_roles"]["event_time"]["role"] = "clock"
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
    with pytest.raises(BaselineError, match="event_time"):
        Baseline.from_dict(bad)


def test_old_baseline_without_roles_still_loads(built: Baseline) -> None:
    doc: dict[str, Any] = orjson.loads(built.to_json())
    del doc["column_roles"]
    for constraint in doc["constraints"]["features"].values():
        constraint.pop("skip_drift", None)
    old = Baseline.from_dict(doc)
    assert old.column_roles == {} and old.timestamp_column is None and old.unprofiled_columns == frozenset()
    assert old.constraints.features["id"].skip_drift is None
    assert orjson.loads(old.to_json())["features"] == doc["features"]


def test_overrides(houses: pa.Table) -> None:
    small = houses.slice(0, 3000)
    forced = build_baseline(_chunks(small), "m", roles=RoleOptions(features=("event_time", "id")))
    assert "event_time" in forced.profile.features and forced.constraints.features["id"].skip_drift is None
    assert forced.column_roles["id"] == ColumnRole("feature", "declared with --feature")
    declared = build_baseline(_chunks(small), "m", roles=RoleOptions(timestamp_column="event_time", id_column="id",
                                                                      exclude=("product",)))
    assert declared.column_roles["event_time"] == ColumnRole("timestamp", "declared with --timestamp-column")
    assert declared.column_roles["id"].role == "id" and not declared.column_roles["id"].detected
    assert declared.column_roles["product"].role == "excluded"
    assert not {"event_time", "id", "product"} & set(declared.profile.features)
    assert declared.unprofiled_columns == frozenset({"event_time", "id", "product"})
    off = build_baseline(_chunks(small), "m", roles=RoleOptions(detect=False))
    assert off.column_roles == {} and "event_time" in off.profile.features
    assert off.constraints.features["id"].skip_drift is None
    with pytest.raises(ConfigError, match="feature"):
        RoleOptions(exclude=("a",), features=("a",))
    with pytest.raises(ConfigError, match="both"):
        RoleOptions(timestamp_column="a", id_column="a")


def test_second_time_column_and_epoch_and_late_values() -> None:
    n = 600
    rng = np.random.default_rng(5)
    epoch_ms = 1_700_000_000_000 + rng.integers(0, 86_400_000, n)
    first = pa.table({"x": rng.normal(size=n // 2), "sent_ms": epoch_ms[: n // 2],
                      "seen": pa.nulls(n // 2, pa.string())})
    second = pa.table({"x": rng.normal(size=n // 2), "sent_ms": epoch_ms[n // 2:],
                       "seen": pa.array(["2024-02-01 10:00:00"] * (n // 2))})
    b = build_baseline([columns_from_arrow(first), columns_from_arrow(second)], "m")
    assert b.column_roles["sent_ms"].role == "timestamp" and "epoch milliseconds" in b.column_roles["sent_ms"].reason
    assert b.column_roles["seen"].role == "time"  # all missing in the first chunk: decided on the second
    assert set(b.profile.features) == {"x"}


def test_identifier_by_distinct_count_and_sequential_integers() -> None:
    n = 2000
    rng = np.random.default_rng(7)
    table = pa.table({"user": [f"u{i}" for i in rng.permutation(n)], "row": rng.permutation(n) + 1,
                      "count": rng.poisson(20, n), "grade": rng.choice(["a", "b", "c"], n)})
    b = build_baseline([columns_from_arrow(table)], "m")
    assert b.constraints.features["user"].skip_drift is not None
    assert "distinct of 2,000 rows" in str(b.constraints.features["user"].skip_drift)
    assert "distinct integers" in str(b.constraints.features["row"].skip_drift)
    assert b.constraints.features["count"].skip_drift is None and b.constraints.features["grade"].skip_drift is None
    # a profile without the build's roles (e.g. imported statistics): distinct count alone decides
    plain = suggest_constraints(b.profile)
    assert plain.features["user"].skip_drift is not None and plain.features["row"].skip_drift is None
