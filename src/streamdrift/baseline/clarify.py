"""SageMaker Clarify ``analysis.json``: bias metrics and global SHAP values, read and written.

Layout (as Clarify writes it)::

    {"version": "1.0",
     "pre_training_bias_metrics":  {"label": "...", "label_value_or_threshold": "1",
                                    "facets": {"<facet>": [{"value_or_threshold": "...",
                                                            "metrics": [{"name", "description", "value"}]}]}},
     "post_training_bias_metrics": {... same ...},
     "explanations": {"kernel_shap": {"label0": {"global_shap_values": {"<feature>": 0.1, ...},
                                                 "expected_value": 0.5}}}}

Infinite metric values are written as the strings "inf" / "-inf" (JSON has no infinity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streamdrift.errors import BaselineError, ConfigError
from streamdrift.monitors.attribution import AttributionBaseline
from streamdrift.monitors.bias import (
    METRIC_DESCRIPTIONS,
    PRE_TRAINING_METRICS,
    BiasBaseline,
    FacetBaseline,
    MetricBaseline,
    json_float,
    read_float,
)

_SECTIONS = ("pre_training_bias_metrics", "post_training_bias_metrics")


@dataclass(frozen=True, slots=True)
class ClarifyAnalysis:
    """What an analysis.json holds that streamdrift uses."""

    bias: BiasBaseline | None
    attribution: AttributionBaseline | None


def _section(baseline: BiasBaseline, pre: bool) -> dict[str, Any] | None:
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in baseline.facets:
        metrics = [
            {"name": name, "description": METRIC_DESCRIPTIONS.get(name, name), "value": json_float(m.value)}
            for name, m in facet.metrics.items() if (name in PRE_TRAINING_METRICS) == pre
        ]
        if metrics:
            facets.setdefault(facet.facet, []).append(
                {"value_or_threshold": facet.value_or_threshold, "metrics": metrics})
    if not facets:
        return None
    return {"label": baseline.label, "label_value_or_threshold": baseline.label_value_or_threshold,
            "facets": facets}


def analysis_to_dict(bias: BiasBaseline | None = None,
                     attribution: AttributionBaseline | None = None) -> dict[str, Any]:
    """The analysis.json document for bias metrics and/or global attributions."""
    doc: dict[str, Any] = {"version": "1.0"}
    if bias is not None:
        for key, pre in zip(_SECTIONS, (True, False), strict=True):
            section = _section(bias, pre)
            if section is not None:
                doc[key] = section
    if attribution is not None:
        label: dict[str, Any] = {"global_shap_values": attribution.as_mapping()}
        if attribution.expected_value is not None:
            label["expected_value"] = attribution.expected_value
        doc["explanations"] = {"kernel_shap": {attribution.label: label}}
    return doc


def write_analysis(bias: BiasBaseline | None = None, attribution: AttributionBaseline | None = None) -> bytes:
    return orjson.dumps(analysis_to_dict(bias, attribution), option=orjson.OPT_INDENT_2)


def _read_bias(doc: Mapping[str, Any]) -> BiasBaseline | None:
    merged: dict[tuple[str, str], dict[str, MetricBaseline]] = {}
    label: str | None = None
    label_value: str | None = None
    for key in _SECTIONS:
        section = doc.get(key)
        if section is None:
            continue
        label = section.get("label", label)
        raw_value = section.get("label_value_or_threshold")
        label_value = str(raw_value) if raw_value is not None else label_value
        for facet, entries in section["facets"].items():
            for entry in entries:
                metrics = merged.setdefault((str(facet), str(entry["value_or_threshold"])), {})
                for m in entry["metrics"]:
                    if m.get("value") is not None:
                        metrics[str(m["name"])] = MetricBaseline(read_float(m["value"]))
    if not merged:
        return None
    facets = tuple(FacetBaseline(f, v, metrics) for (f, v), metrics in merged.items())
    return BiasBaseline(facets, None, label, label_value)


def _read_attribution(doc: Mapping[str, Any], label: str | None) -> AttributionBaseline | None:
    explanations = doc.get("explanations")
    if not explanations:
        return None
    shap = explanations["kernel_shap"]
    name = label if label is not None else sorted(shap)[0]
    entry = shap[name]
    values = entry["global_shap_values"]
    expected = entry.get("expected_value")
    return AttributionBaseline(tuple(values), tuple(abs(float(v)) for v in values.values()), None, name,
                               float(expected) if expected is not None else None)


def parse_analysis(data: bytes | str | Mapping[str, Any], label: str | None = None) -> ClarifyAnalysis:
    """Read an analysis.json (bytes, text or parsed); ``label`` picks the kernel_shap label (default: first)."""
    try:
        doc = orjson.loads(data) if isinstance(data, bytes | str) else data
        if not isinstance(doc, Mapping):
            raise BaselineError("analysis.json: the document is not a JSON object")
        return ClarifyAnalysis(_read_bias(doc), _read_attribution(doc, label))
    except orjson.JSONDecodeError as exc:
        raise BaselineError(f"analysis.json is not valid JSON: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ConfigError) as exc:
        raise BaselineError(f"analysis.json is malformed: {exc!r}") from exc
