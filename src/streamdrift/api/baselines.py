"""``streamdrift.Baseline``: build a baseline from a DataFrame, a table or a file, load / save it, convert it to
and from SageMaker Model Monitor files. A thin face over `streamdrift.baseline` (the document and
`streamdrift.baseline.build.build_baseline`, what ``streamdrift baseline build`` runs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from streamdrift.api.data import Data, as_path, chunk_source
from streamdrift.api.errors import NotSupportedError
from streamdrift.api.html import baseline_html
from streamdrift.baseline.build import MonitorOptions, build_baseline
from streamdrift.baseline.clarify import ClarifyAnalysis, parse_analysis
from streamdrift.baseline.document import DEFAULT_BASELINE_KLL_K, feature_summary
from streamdrift.baseline.document import Baseline as BaselineDocument
from streamdrift.baseline.roles import RoleOptions
from streamdrift.baseline.sagemaker import export_monitor_sections, export_sagemaker, import_sagemaker
from streamdrift.columns.chunks import BadLine, RoleColumns
from streamdrift.errors import BaselineError, ConfigError
from streamdrift.ingest.files import ReadOptions
from streamdrift.monitors.bias import FacetSpec, Scalar
from streamdrift.profile.profiles import ProfileParams

__all__ = ["Baseline", "Facets", "ProblemType"]

ProblemType = Literal["auto", "regression", "binary_classification", "multiclass_classification"]
#: Bias facets: ``{"gender": "female"}`` / ``{"region": ["north", "east"]}`` (the sensitive group's values), or
#: `streamdrift.monitors.bias.FacetSpec` objects (``FacetSpec("age", threshold=60)``).
Facets = Mapping[str, "Scalar | Sequence[Scalar]"] | Iterable[FacetSpec]


def _facets(facets: Facets | None) -> tuple[FacetSpec, ...]:
    if facets is None:
        return ()
    if isinstance(facets, Mapping):
        out = []
        for name, value in facets.items():
            values = tuple(value) if isinstance(value, list | tuple | set | frozenset) else (value,)
            out.append(FacetSpec(str(name), values=values))
        return tuple(out)
    specs = tuple(facets)
    if not all(isinstance(f, FacetSpec) for f in specs):
        raise ConfigError("facets: give a mapping {column: value(s)} or FacetSpec objects")
    return specs


def _clarify(path: str | Path | None) -> ClarifyAnalysis | None:
    if path is None:
        return None
    try:
        return parse_analysis(Path(path).read_bytes())
    except OSError as exc:
        raise BaselineError(f"cannot read {path}: {exc}") from exc


class Baseline:
    """A model's baseline: the reference profile (sketches per feature), the suggested constraints and the
    monitor sections (model quality, bias, attribution) that `streamdrift.check` compares windows with.

    The same JSON document as ``streamdrift baseline build`` writes (`document` is the core object)."""

    def __init__(self, document: BaselineDocument) -> None:
        self.document = document
        #: rows skipped while building (bad rows of a file), with their reason; empty for loaded baselines
        self.bad_rows: list[BadLine] = []

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        data: Data,
        *,
        model_id: str,
        target: str | None = None,
        prediction: str | None = None,
        score: str | None = None,
        segment_by: str | Sequence[str] | None = None,
        facets: Facets | None = None,
        timestamp_column: str | None = None,
        id_column: str | None = None,
        exclude: Sequence[str] = (),
        features: Sequence[str] = (),
        problem_type: ProblemType = "auto",
        positive_label: Scalar | None = None,
        score_threshold: float | None = None,
        kll_k: int = DEFAULT_BASELINE_KLL_K,
        fmt: str | None = None,
        chunk_rows: int = 100_000,
        created_at: datetime | None = None,
        attributions: Data | None = None,
        clarify_analysis: str | Path | None = None,
    ) -> Baseline:
        """Profile ``data`` (a pandas / polars DataFrame, a pyarrow Table or RecordBatchReader, a file path, or
        an iterable of those, read one at a time) into a baseline, like ``streamdrift baseline build``.

        ``target`` / ``prediction`` / ``score`` are recorded, not profiled; with a target and a prediction or
        score the baseline gets a model-quality section, with ``facets`` a bias section. ``timestamp_column`` /
        ``id_column`` / ``exclude`` / ``features`` declare column roles (time and identifier-like columns are
        detected otherwise). ``attributions``: per-record feature attributions (one column per feature, any kind
        of data) for the attribution section; ``clarify_analysis``: a SageMaker Clarify ``analysis.json`` whose
        bias / attribution baselines are used (``baseline build --attributions / --clarify-analysis``).
        ``segment_by`` is not supported yet (streamdrift has no per-segment baselines):
        giving it raises `streamdrift.api.errors.NotSupportedError`.
        """
        if segment_by is not None:
            raise NotSupportedError("segment_by: per-segment baselines do not exist in streamdrift yet; build one "
                                    "baseline per segment (filter the data) instead")
        if not 8 <= kll_k <= 65535:
            raise ConfigError(f"kll_k must be in 8..65535, got {kll_k}")
        bad: list[BadLine] = []
        path = as_path(data)
        read = ReadOptions(chunk_rows=chunk_rows, exclude=frozenset(exclude), timestamp_column=timestamp_column,
                           id_column=id_column, prediction_column=prediction or "prediction",
                           on_bad_line=bad.append, roles=RoleColumns(target, prediction, score))
        source = chunk_source(data, fmt if path is not None else None)
        monitors = MonitorOptions(
            problem_type=problem_type, facets=_facets(facets),
            positive_label=(positive_label,) if positive_label is not None else (1, True),
            score_threshold=score_threshold)
        roles = RoleOptions(timestamp_column=timestamp_column, id_column=id_column, exclude=tuple(exclude),
                            features=tuple(features))
        attribution_columns = None
        if attributions is not None:
            attribution_chunks = chunk_source(attributions)(ReadOptions(chunk_rows=chunk_rows))
            attribution_columns = (chunk.columns for chunk in attribution_chunks)
        document = build_baseline(source(read), model_id, target=target, prediction=prediction, score=score,
                                  params=ProfileParams(kll_k=kll_k), created_at=created_at, monitors=monitors,
                                  roles=roles, attributions=attribution_columns,
                                  clarify=_clarify(clarify_analysis))
        built = cls(document)
        built.bad_rows = bad
        return built

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """A baseline JSON file (``streamdrift baseline build`` / `save` / ``sagemaker import``)."""
        return cls(BaselineDocument.load(path))

    def save(self, path: str | Path) -> Path:
        """Write the baseline JSON document; returns its path."""
        return self.document.save(path)

    @classmethod
    def from_sagemaker(
        cls,
        statistics: str | Path | Mapping[str, Any],
        constraints: str | Path | Mapping[str, Any] | None = None,
        *,
        model_id: str,
        kll_k: int = 200,
        model_quality_statistics: str | Path | Mapping[str, Any] | None = None,
        model_quality_constraints: str | Path | Mapping[str, Any] | None = None,
        clarify_analysis: str | Path | Mapping[str, Any] | None = None,
    ) -> Baseline:
        """A baseline from SageMaker Model Monitor ``statistics.json`` (+ ``constraints.json``), and optionally
        the model-quality files and a Clarify ``analysis.json`` (like ``streamdrift sagemaker import``)."""
        return cls(import_sagemaker(statistics, constraints, model_id=model_id, params=ProfileParams(kll_k=kll_k),
                                    model_quality_statistics=model_quality_statistics,
                                    model_quality_constraints=model_quality_constraints,
                                    clarify_analysis=clarify_analysis))

    def to_sagemaker(self, output_dir: str | Path) -> list[Path]:
        """Write SageMaker ``statistics.json`` / ``constraints.json`` (and the monitor sections' files) to
        ``output_dir``, like ``streamdrift sagemaker export``; returns the paths written."""
        stats, constraints = export_sagemaker(self.document, output_dir, sections=False)
        return [stats, constraints, *export_monitor_sections(self.document, output_dir)]

    # ------------------------------------------------------------------ reading

    @property
    def model_id(self) -> str:
        """The model the baseline belongs to."""
        return self.document.model_id

    @property
    def baseline_id(self) -> str:
        """The baseline's id (model, creation time and a hash of the profile); drift events carry it."""
        return self.document.baseline_id

    @property
    def n_records(self) -> int:
        """Rows profiled."""
        return int(self.document.profile.n_records)

    @property
    def features(self) -> list[str]:
        """The profiled features, sorted."""
        return sorted(self.document.profile.features)

    @property
    def statistics(self) -> pa.Table:
        """One row per feature: type, count, missing, mean, std, min, max, distinct count, whether drift-tested."""
        rows: list[dict[str, Any]] = []
        for name in self.features:
            summary = feature_summary(self.document.profile.features[name])
            numeric = summary.get("numeric") or {}
            categorical = summary.get("categorical") or {}
            constraint = self.document.constraints.features.get(name)
            rows.append({
                "feature": name, "type": summary["inferred_type"], "count": summary["count"],
                "missing": summary["missing"], "mean": numeric.get("mean"), "std": numeric.get("std_dev"),
                "min": numeric.get("min"), "max": numeric.get("max"),
                "distinct": categorical.get("distinct_count"),
                "drift_tested": constraint is None or constraint.skip_drift is None,
            })
        return pa.Table.from_pylist(rows, schema=_STATISTICS_SCHEMA)

    def to_dict(self) -> dict[str, Any]:
        """The baseline JSON document as a dict."""
        return self.document.to_dict()

    def __repr__(self) -> str:
        return (f"Baseline(model_id={self.model_id!r}, baseline_id={self.baseline_id!r}, "
                f"records={self.n_records}, features={len(self.features)})")

    def _repr_html_(self) -> str:
        return baseline_html(self.document, self.statistics)


_STATISTICS_SCHEMA = pa.schema([
    ("feature", pa.string()), ("type", pa.string()), ("count", pa.int64()), ("missing", pa.int64()),
    ("mean", pa.float64()), ("std", pa.float64()), ("min", pa.float64()), ("max", pa.float64()),
    ("distinct", pa.float64()), ("drift_tested", pa.bool_()),
])
