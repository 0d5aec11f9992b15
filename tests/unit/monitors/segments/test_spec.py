from __future__ import annotations

import numpy as np
import pytest

from streamdrift.columns.columns import Columns, column_from_values
from streamdrift.errors import ConfigError
from streamdrift.monitors.segments.spec import MISSING, SegmentSpec, groups, segment_of_rows


def _columns(**values: list[object]) -> Columns:
    n = len(next(iter(values.values())))
    return Columns(n, {k: column_from_values(v) for k, v in values.items()})


def test_one_categorical_field() -> None:
    cols = _columns(region=["eu", "us", "eu", None, "apac"], x=[1.0, 2.0, 3.0, 4.0, 5.0])
    names, inverse = segment_of_rows(SegmentSpec.parse("region"), cols)
    assert names == [MISSING, "apac", "eu", "us"]
    assert [names[i] for i in inverse] == ["eu", "us", "eu", MISSING, "apac"]


def test_two_fields_and_numbers_as_values() -> None:
    cols = _columns(region=["eu", "us", "eu", "eu"], tier=[1, 2, 1, 2])
    names, inverse = segment_of_rows(SegmentSpec.parse("region,tier"), cols)
    assert [names[i] for i in inverse] == ["eu,1", "us,2", "eu,1", "eu,2"]


def test_numeric_buckets() -> None:
    cols = _columns(age=[-1.0, 0.0, 29.9, 30.0, 50.0, 99.0, None])
    spec = SegmentSpec.parse(["age"], {"age": [0, 30, 50]})
    names, inverse = segment_of_rows(spec, cols)
    assert [names[i] for i in inverse] == ["<0", "[0,30)", "[0,30)", "[30,50)", ">=50", ">=50", MISSING]


def test_model_version_is_a_metadata_field() -> None:
    cols = _columns(region=["eu", "us"])
    names, inverse = segment_of_rows(SegmentSpec.parse("model_version,region"), cols, "v2")
    assert [names[i] for i in inverse] == ["v2,eu", "v2,us"]
    names, _ = segment_of_rows(SegmentSpec.parse("model_version"), cols, None)
    assert names == [MISSING]


def test_an_absent_field_is_missing() -> None:
    names, inverse = segment_of_rows(SegmentSpec.parse("tier"), _columns(region=["eu", "us"]))
    assert names == [MISSING] and inverse.tolist() == [0, 0]


def test_groups_are_the_rows_of_each_segment() -> None:
    inverse = np.array([2, 0, 2, 1, 0], dtype=np.intp)
    assert [g.tolist() for g in groups(inverse, 3)] == [[1, 4], [3], [0, 2]]


@pytest.mark.parametrize(("by", "buckets"), [("", {}), ("a,a", {}), ("a", {"b": [1.0]}), ("a", {"a": [2.0, 1.0]}),
                                             ("a", {"a": []})])
def test_bad_definitions_are_config_errors(by: str, buckets: dict[str, list[float]]) -> None:
    with pytest.raises(ConfigError):
        SegmentSpec.parse(by, buckets)


def test_definition_round_trip() -> None:
    spec = SegmentSpec.parse("region,age", {"age": [0, 30]})
    assert SegmentSpec.from_dict(spec.to_dict()) == spec
