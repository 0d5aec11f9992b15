"""build_baseline's monitor sections (model quality, bias, attribution) from labelled files, and their
SageMaker / Clarify round trips. Expected values are computed with numpy on the same generated data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from streamdrift.baseline.baseline import Baseline, MonitorOptions, build_baseline
from streamdrift.baseline.clarify import parse_analysis, write_analysis
from streamdrift.baseline.sagemaker import export_sagemaker, import_sagemaker
from streamdrift.columns.chunks import RoleColumns
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.dev.synthetic import NUMERIC, Batch, generate
from streamdrift.errors import InputFileError
from streamdrift.ingest.files import iter_chunks, iter_columns
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import BiasBaseline, FacetSpec
from streamdrift.monitors.model_quality import ModelQualityBaseline, ProblemType

N = 3000
ROLES = RoleColumns("label", "prediction", "score")
GENDER = FacetSpec("gender", values=("female",))


@dataclass(frozen=True)
class Files:
    batch: Batch
    csv: Path
    capture: Path
    attributions: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("monitors")
    batch = generate(N, np.random.default_rng(11))
    table = pa.table({**batch.features, "score": batch.score, "prediction": batch.prediction, "label": batch.label})
    pacsv.write_csv(table, root / "train.csv")
    pacsv.write_csv(pa.table({"row_id": [f"r{i}" for i in range(N)], **batch.attributions}), root / "shap.csv")
    with (root / "capture.jsonl").open("wb") as fh:
        for i, row in enumerate(batch.rows()):
            record = {"model_id": "m", "inference_id": f"i{i}", "timestamp": 1_700_000_000_000 + i,
                      "features": row, "label": int(batch.label[i]),
                      "prediction": {"label": int(batch.prediction[i]), "score": float(batch.score[i])},
                      "attributions": {k: float(v[i]) for k, v in batch.attributions.items()}}
            fh.write(orjson.dumps(record) + b"\n")
    return Files(batch, root / "train.csv", root / "capture.jsonl", root / "shap.csv")


def _dppl(predicted: np.ndarray, is_d: np.ndarray) -> float:
    return float(predicted[~is_d].mean() - predicted[is_d].mean())


def _mean_abs(batch: Batch) -> dict[str, float]:
    return {name: float(np.abs(batch.attributions[name]).mean()) for name in NUMERIC}


@pytest.fixture(scope="module")
def from_csv(files: Files) -> Baseline:
    return build_baseline(
        iter_chunks(files.csv, chunk_rows=700, roles=ROLES), "m", target="label", prediction="prediction",
        score="score", monitors=MonitorOptions(facets=(GENDER, FacetSpec("age", threshold=60.0))),
        attributions=iter_columns(files.attributions, chunk_rows=1000),
    )


@pytest.fixture(scope="module")
def from_capture(files: Files) -> Baseline:
    return build_baseline(iter_chunks(files.capture, chunk_rows=700, roles=RoleColumns(target="label")), "m",
                          target="label", monitors=MonitorOptions(facets=(GENDER,)))


def test_reader_splits_roles_and_attributions(files: Files) -> None:
    chunks = list(iter_chunks(files.capture, chunk_rows=1000, roles=RoleColumns(target="label")))
    assert [c.columns.n_rows for c in chunks] == [1000, 1000, 1000]
    first = chunks[0]
    assert first.targets is not None and first.predictions is not None and first.scores is not None
    np.testing.assert_array_equal(first.targets, files.batch.label[:1000])
    np.testing.assert_array_equal(first.predictions, files.batch.prediction[:1000])
    np.testing.assert_allclose(first.scores, files.batch.score[:1000])
    assert first.attributions is not None and set(first.attributions.columns) == set(NUMERIC)
    np.testing.assert_allclose(first.attributions.columns["income"].numbers, files.batch.attributions["income"][:1000])
    assert set(first.columns.columns) == set(files.batch.features)
    plain = next(iter_chunks(files.csv))  # without roles nothing changes: role columns stay features
    assert {"label", "prediction", "score"} <= set(plain.columns.columns) and plain.targets is None


def test_model_quality_matches_numpy(files: Files, from_csv: Baseline, from_capture: Baseline) -> None:
    b = files.batch
    tp = int(((b.prediction == 1) & (b.label == 1)).sum())
    for built in (from_csv, from_capture):
        assert built.model_quality is not None
        quality = ModelQualityBaseline.from_dict(built.model_quality)
        assert quality.problem_type is ProblemType.BINARY and quality.n == N
        assert quality.metrics["accuracy"].value == pytest.approx(float((b.prediction == b.label).mean()), abs=1e-12)
        assert quality.metrics["precision"].value == pytest.approx(tp / int((b.prediction == 1).sum()), abs=1e-12)
        assert quality.metrics["recall"].value == pytest.approx(tp / int((b.label == 1).sum()), abs=1e-12)
    assert set(from_csv.profile.features) == set(b.features)


def test_bias_matches_hand_computation(files: Files, from_csv: Baseline, from_capture: Baseline) -> None:
    b = files.batch
    female = b.features["gender"] == "female"
    old = np.asarray(b.features["age"]) >= 60
    for built in (from_csv, from_capture):
        assert built.bias is not None
        bias = BiasBaseline.from_dict(built.bias)
        gender = bias.find(GENDER)
        assert gender is not None
        assert gender.metrics["DPPL"].value == pytest.approx(_dppl(b.prediction, female), abs=1e-12)
        di = b.prediction[female].mean() / b.prediction[~female].mean()
        assert gender.metrics["DI"].value == pytest.approx(di, rel=1e-12)
        assert gender.metrics["DPL"].value == pytest.approx(_dppl(b.label, female), abs=1e-12)
        assert bias.label == "label"
    age = BiasBaseline.from_dict(from_csv.bias or {}).find(FacetSpec("age", threshold=60.0))
    assert age is not None and age.metrics["DPPL"].value == pytest.approx(_dppl(b.prediction, old), abs=1e-12)


def test_attribution_matches_numpy(files: Files, from_csv: Baseline, from_capture: Baseline) -> None:
    expected = _mean_abs(files.batch)
    for built in (from_csv, from_capture):
        assert built.attribution is not None
        got = AttributionBaseline.from_dict(built.attribution)
        assert set(got.features) == set(NUMERIC) and got.n_records == N  # the text row_id column is left out
        for name, value in got.as_mapping().items():
            assert value == pytest.approx(expected[name], rel=1e-12)


def test_score_threshold_drives_bias_and_quality(files: Files) -> None:
    b = files.batch
    built = build_baseline(iter_chunks(files.csv, roles=RoleColumns("label", None, "score")), "m", target="label",
                           score="score", monitors=MonitorOptions(facets=(GENDER,), score_threshold=0.7))
    predicted = (b.score >= 0.7).astype(np.int64)
    gender = BiasBaseline.from_dict(built.bias or {}).find(GENDER)
    assert gender is not None
    assert gender.metrics["DPPL"].value == pytest.approx(_dppl(predicted, b.features["gender"] == "female"))
    quality = ModelQualityBaseline.from_dict(built.model_quality or {})
    assert quality.threshold == 0.7
    assert quality.metrics["accuracy"].value == pytest.approx(float((predicted == b.label).mean()), abs=1e-12)


def test_problem_types_from_plain_columns() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    classes = np.asarray(["cat", "dog", "eel"], dtype=object)
    truth, guess = classes[rng.integers(0, 3, n)], classes[rng.integers(0, 3, n)]
    y = rng.normal(10, 2, n)
    p = y + rng.normal(0, 1, n)
    text_truth = np.where(rng.random(n) < 0.4, "yes", "no")
    text_pred = np.where(rng.random(n) < 0.5, text_truth, "yes")
    table = pa.table({"x": rng.random(n), "animal": truth, "animal_hat": guess, "y": y, "p": p,
                      "ok": text_truth, "ok_hat": text_pred})
    cols = [columns_from_arrow(table.slice(0, n // 2)), columns_from_arrow(table.slice(n // 2))]

    def quality(target: str, prediction: str, label: str = "1") -> ModelQualityBaseline:
        from streamdrift.cli.baseline import parse_scalar

        built = build_baseline(cols, "m", target=target, prediction=prediction,
                               monitors=MonitorOptions(positive_label=(parse_scalar(label),)))
        assert built.model_quality is not None and set(built.profile.features) >= {"x"}
        return ModelQualityBaseline.from_dict(built.model_quality)

    multi = quality("animal", "animal_hat")
    assert multi.problem_type is ProblemType.MULTICLASS
    assert multi.metrics["accuracy"].value == pytest.approx(float((truth == guess).mean()), abs=1e-12)
    reg = quality("y", "p")
    assert reg.problem_type is ProblemType.REGRESSION
    assert reg.metrics["mae"].value == pytest.approx(float(np.abs(p - y).mean()), rel=1e-9)
    binary = quality("ok", "ok_hat", "yes")
    assert binary.problem_type is ProblemType.BINARY
    tp = int(((text_truth == "yes") & (text_pred == "yes")).sum())
    assert binary.metrics["precision"].value == pytest.approx(tp / int((text_pred == "yes").sum()), abs=1e-12)


def test_sections_round_trip_through_json(from_capture: Baseline) -> None:
    again = Baseline.from_json(from_capture.to_json())
    assert again.model_quality == from_capture.model_quality
    assert again.bias == from_capture.bias and again.attribution == from_capture.attribution
    assert BiasBaseline.from_dict(again.bias or {}) is not None


def test_sagemaker_export_import_round_trip(from_capture: Baseline, tmp_path: Path) -> None:
    export_sagemaker(from_capture, tmp_path)
    assert (tmp_path / "model_quality" / "statistics.json").is_file() and (tmp_path / "analysis.json").is_file()
    imported = import_sagemaker(
        tmp_path / "statistics.json", tmp_path / "constraints.json", model_id="m",
        model_quality_statistics=tmp_path / "model_quality" / "statistics.json",
        model_quality_constraints=tmp_path / "model_quality" / "constraints.json",
        clarify_analysis=tmp_path / "analysis.json",
    )
    ours = ModelQualityBaseline.from_dict(from_capture.model_quality or {})
    theirs = ModelQualityBaseline.from_dict(imported.model_quality or {})
    assert theirs.problem_type is ours.problem_type and theirs.n == ours.n
    assert theirs.confusion_matrix == ours.confusion_matrix
    for name, value in ours.metrics.items():
        assert theirs.metrics[name].value == pytest.approx(value.value, nan_ok=True)
    constraints = (imported.model_quality or {})["sagemaker_constraints"]["binary_classification_constraints"]
    assert constraints["accuracy"] == {"threshold": ours.metrics["accuracy"].value,
                                       "comparison_operator": "LessThanThreshold"}
    bias_in, bias_out = BiasBaseline.from_dict(from_capture.bias or {}), BiasBaseline.from_dict(imported.bias or {})
    for facet in bias_in.facets:
        back = bias_out.find(GENDER)
        assert back is not None
        assert {k: v.value for k, v in back.metrics.items()} == pytest.approx(
            {k: v.value for k, v in facet.metrics.items()})
    assert imported.attribution is not None
    assert AttributionBaseline.from_dict(imported.attribution).as_mapping() == pytest.approx(
        AttributionBaseline.from_dict(from_capture.attribution or {}).as_mapping())
    # export again from the imported baseline: the kept constraints are written unchanged
    export_sagemaker(imported, tmp_path / "again")
    assert orjson.loads((tmp_path / "again" / "model_quality" / "constraints.json").read_bytes()) == orjson.loads(
        (tmp_path / "model_quality" / "constraints.json").read_bytes())


def test_clarify_analysis_replaces_computed_sections(files: Files, from_capture: Baseline) -> None:
    source = AttributionBaseline(("income", "age"), (0.5, 0.25))
    analysis = parse_analysis(write_analysis(BiasBaseline.from_dict(from_capture.bias or {}), source))
    built = build_baseline(iter_chunks(files.capture, roles=RoleColumns(target="label")), "m", target="label",
                           clarify=analysis)
    assert AttributionBaseline.from_dict(built.attribution or {}).as_mapping() == {"income": 0.5, "age": 0.25}
    gender = BiasBaseline.from_dict(built.bias or {}).find(GENDER)
    assert gender is not None and gender.metrics["DPPL"].interval is None  # Clarify values carry no interval


def test_errors(files: Files) -> None:
    with pytest.raises(InputFileError, match="facet"):
        build_baseline(iter_chunks(files.csv, roles=ROLES), "m", target="label", prediction="prediction",
                       monitors=MonitorOptions(facets=(FacetSpec("nope", values=("x",)),)))
    with pytest.raises(InputFileError, match="bias needs predictions"):
        build_baseline(iter_chunks(files.csv, roles=RoleColumns(target="label")), "m", target="label",
                       monitors=MonitorOptions(facets=(GENDER,)))
    with pytest.raises(InputFileError, match="numeric"):
        build_baseline(iter_chunks(files.csv, roles=RoleColumns("score", "region")), "m", target="score",
                       prediction="region", monitors=MonitorOptions(problem_type="regression"))
