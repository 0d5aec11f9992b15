"""``streamdrift.Baseline``: build from a DataFrame, files, SageMaker, the statistics table and the notebook view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from frames import credit_table

import streamdrift as sd
from streamdrift.errors import ConfigError, StreamdriftError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    table = credit_table(3000, seed=5)
    out: pd.DataFrame = table.to_pandas()
    out.loc[out.index[::10], "income"] = np.nan  # 300 missing incomes
    return out


@pytest.fixture(scope="module")
def baseline(frame: pd.DataFrame) -> sd.Baseline:
    return sd.Baseline.build(frame, model_id="credit", target="label", prediction="prediction", score="score",
                             facets={"gender": "female", "region": ["north", "south"]})


def test_roles_sections_and_features(baseline: sd.Baseline) -> None:
    doc = baseline.document
    assert (doc.target, doc.prediction, doc.score) == ("label", "prediction", "score")
    assert doc.model_quality is not None and doc.model_quality["problem_type"] == "binary_classification"
    assert doc.bias is not None
    facets = {f["name"]: f["values"] for f in doc.bias["config"]["facets"]}
    assert facets == {"gender": ["female"], "region": ["north", "south"]}
    assert "label" not in baseline.features and "ts" not in baseline.features  # a role, a detected time column
    assert doc.timestamp_column == "ts"
    assert baseline.n_records == 3000


def test_statistics_are_the_data_s(baseline: sd.Baseline, frame: pd.DataFrame) -> None:
    rows = {r["feature"]: r for r in baseline.statistics.to_pylist()}
    income = rows["income"]
    assert (income["count"], income["missing"]) == (2700, 300)
    assert income["mean"] == pytest.approx(frame["income"].mean(), rel=1e-9)
    assert income["min"] == frame["income"].min() and income["max"] == frame["income"].max()
    assert rows["region"]["distinct"] == pytest.approx(frame["region"].nunique(), abs=0.5)
    assert rows["id"]["drift_tested"] is False  # identifier-like: profiled, never drift-tested
    assert rows["age"]["drift_tested"] is True


def test_save_and_load_round_trip(baseline: sd.Baseline, tmp_path: Path) -> None:
    loaded = sd.Baseline.load(baseline.save(tmp_path / "b.json"))
    assert loaded.baseline_id == baseline.baseline_id
    kept = ("columns", "n_records", "features", "constraints", "model_quality", "bias", "column_roles")
    assert {k: loaded.to_dict()[k] for k in kept} == {k: baseline.to_dict()[k] for k in kept}
    assert loaded.statistics.equals(baseline.statistics)


def test_sagemaker_export_and_import(baseline: sd.Baseline, tmp_path: Path) -> None:
    written = baseline.to_sagemaker(tmp_path / "sm")
    names = sorted(p.relative_to(tmp_path / "sm").as_posix() for p in written)
    assert names == ["analysis.json", "constraints.json", "model_quality/constraints.json",
                     "model_quality/statistics.json", "statistics.json"]
    back = sd.Baseline.from_sagemaker(tmp_path / "sm" / "statistics.json", tmp_path / "sm" / "constraints.json",
                                      model_id="credit",
                                      model_quality_statistics=tmp_path / "sm" / "model_quality/statistics.json")
    assert back.features == baseline.features
    assert back.n_records == baseline.n_records
    assert back.document.model_quality is not None


def test_segment_by_is_not_supported_yet(frame: pd.DataFrame) -> None:
    with pytest.raises(sd.NotSupportedError, match="segment_by") as caught:
        sd.Baseline.build(frame, model_id="credit", segment_by="region")
    assert isinstance(caught.value, StreamdriftError)


def test_bad_options_are_config_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="kll_k"):
        sd.Baseline.build(frame, model_id="credit", kll_k=4)
    with pytest.raises(ConfigError, match="facets"):
        sd.Baseline.build(frame, model_id="credit", facets=["gender"])  # type: ignore[list-item]
    with pytest.raises(StreamdriftError, match="not in the input"):
        sd.Baseline.build(frame, model_id="credit", target="no_such_column")


def test_bad_rows_of_a_file_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    path.write_text("x,y\n1,a\n2,b\n3\n4,c\n")
    built = sd.Baseline.build(path, model_id="m")
    assert built.n_records == 3
    assert [b.line_number for b in built.bad_rows] == [4]


def test_the_notebook_view_is_self_contained(baseline: sd.Baseline) -> None:
    html = baseline._repr_html_()
    assert baseline.baseline_id in html
    for name in baseline.features:
        assert f">{name}<" in html
    assert "<script" not in html and "http" not in html


def test_attributions_and_a_clarify_analysis(tmp_path: Path) -> None:
    from streamdrift.dev.synthetic import NUMERIC, generate
    from streamdrift.monitors.attribution import AttributionBaseline

    batch = generate(2000, np.random.default_rng(21))
    frame = pd.DataFrame({**batch.features, "score": batch.score, "prediction": batch.prediction,
                          "label": batch.label})
    built = sd.Baseline.build(frame, model_id="credit", target="label", prediction="prediction", score="score",
                              facets=[sd.FacetSpec("age", threshold=60)],
                              attributions=pd.DataFrame(batch.attributions))
    attribution = AttributionBaseline.from_dict(built.document.attribution or {}).as_mapping()
    assert attribution == pytest.approx({k: float(np.abs(batch.attributions[k]).mean()) for k in NUMERIC})
    built.to_sagemaker(tmp_path / "sm")
    from_clarify = sd.Baseline.build(frame, model_id="credit", target="label", prediction="prediction",
                                     clarify_analysis=tmp_path / "sm" / "analysis.json")
    from_file = AttributionBaseline.from_dict(from_clarify.document.attribution or {}).as_mapping()
    assert from_file == pytest.approx(attribution)  # analysis.json carries the means, not the record count
    assert from_clarify.document.bias is not None
    with pytest.raises(StreamdriftError, match="cannot read"):
        sd.Baseline.build(frame, model_id="credit", clarify_analysis=tmp_path / "missing.json")
