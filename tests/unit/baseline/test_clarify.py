"""Clarify analysis.json: read what Clarify writes, write what Clarify reads, round trip."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from streamdrift.baseline.clarify import analysis_to_dict, parse_analysis, write_analysis
from streamdrift.errors import BaselineError
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import BiasBaseline, BiasConfig, BiasState, FacetSpec, OutcomeSpec

CLARIFY_DOC = {
    "version": "1.0",
    "explanations": {
        "kernel_shap": {
            "label0": {
                "global_shap_values": {"feature_0": 0.0225, "feature_1": 0.0074, "feature_2": 0.0068},
                "expected_value": 0.508,
            }
        }
    },
    "post_training_bias_metrics": {
        "label": "target",
        "label_value_or_threshold": "1",
        "facets": {
            "feature_2": [
                {
                    "value_or_threshold": "1",
                    "metrics": [
                        {"name": "DI", "description": "Disparate Impact (DI)", "value": 0.7113},
                        {"name": "DCR", "description": "Difference in Conditional Rejection (DCR)", "value": -0.35},
                        {"name": "TE", "description": "Treatment Equality (TE)", "value": "inf"},
                    ],
                }
            ]
        },
    },
    "pre_training_bias_metrics": {
        "label": "target",
        "label_value_or_threshold": "1",
        "facets": {"feature_2": [{"value_or_threshold": "1", "metrics": [
            {"name": "CI", "description": "Class Imbalance (CI)", "value": 0.1}]}]},
    },
}


def test_reads_a_clarify_document() -> None:
    analysis = parse_analysis(orjson.dumps(CLARIFY_DOC))
    assert analysis.attribution is not None and analysis.bias is not None
    assert analysis.attribution.as_mapping() == {"feature_0": 0.0225, "feature_1": 0.0074, "feature_2": 0.0068}
    assert analysis.attribution.expected_value == 0.508
    (facet,) = analysis.bias.facets
    assert (facet.facet, facet.value_or_threshold) == ("feature_2", "1")
    assert {k: v.value for k, v in facet.metrics.items()} == {"DI": 0.7113, "DCR": -0.35, "TE": math.inf, "CI": 0.1}
    assert analysis.bias.label == "target" and analysis.bias.label_value_or_threshold == "1"
    assert analysis.bias.find(FacetSpec("feature_2", values=(1,))) is facet


def test_write_then_read_round_trip() -> None:
    cfg = BiasConfig((FacetSpec("sex", values=("F",)),), OutcomeSpec(threshold=0.5), OutcomeSpec(values=(1,)))
    state = BiasState.empty(cfg)
    rng = np.random.default_rng(0)
    n = 4000
    score = rng.random(n)
    state.update({"sex": np.where(rng.random(n) < 0.4, "F", "M")}, score, (rng.random(n) < score).astype(float))
    bias = BiasBaseline.from_state(state, label="y")
    attribution = AttributionBaseline(("x", "z"), (0.3, 0.1), expected_value=0.2)
    doc = orjson.loads(write_analysis(bias, attribution))
    assert set(doc) == {"version", "pre_training_bias_metrics", "post_training_bias_metrics", "explanations"}
    post = doc["post_training_bias_metrics"]["facets"]["sex"][0]
    assert post["value_or_threshold"] == "F"
    assert {m["name"] for m in post["metrics"]} == {"DPPL", "DI", "DCA", "DCR", "DAR", "DRR", "AD", "RD", "SD", "TE"}
    back = parse_analysis(doc)
    assert back.bias is not None and back.attribution is not None
    assert {k: v.value for k, v in back.bias.facets[0].metrics.items()} == {
        k: v.value for k, v in bias.facets[0].metrics.items()}
    assert back.attribution.as_mapping() == attribution.as_mapping()
    assert analysis_to_dict() == {"version": "1.0"}


def test_malformed_documents_raise_baseline_error() -> None:
    for bad in (b"{", b"[1]", orjson.dumps({"explanations": {"kernel_shap": {}}}),
                orjson.dumps({"post_training_bias_metrics": {"facets": {"f": [{"metrics": []}]}}})):
        with pytest.raises(BaselineError):
            parse_analysis(bad)
