"""The synthetic credit model's baseline with every monitor section (model quality, a ``gender`` bias facet,
attributions; with ``label_free``: estimated performance and multivariate drift too), shared by the worker's
integration tests."""

from __future__ import annotations

import numpy as np

from streamdrift.baseline.baseline import Baseline, MonitorOptions, build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.synthetic import generate
from streamdrift.monitors.bias import FacetSpec


def credit_baseline(model: str, rows: int = 6000, seed: int = 5, *, label_free: bool = False) -> Baseline:
    batch = generate(rows, np.random.default_rng(seed))
    records = batch.rows()
    for i, row in enumerate(records):
        row.update(label=int(batch.label[i]), prediction=int(batch.prediction[i]), score=float(batch.score[i]))
    attributions = [columns_from_rows([{k: float(v[i]) for k, v in batch.attributions.items()}
                                       for i in range(batch.n)])]
    baseline = build_baseline(
        [columns_from_rows(records)], model, target="label", prediction="prediction", score="score",
        monitors=MonitorOptions(facets=(FacetSpec("gender", values=("female",)),), estimated_performance=label_free,
                                multivariate=label_free),
        attributions=attributions,
    )
    assert baseline.model_quality and baseline.bias and baseline.attribution
    assert not label_free or (baseline.estimated_performance and baseline.multivariate)
    return baseline
