"""The ``sources`` settings: read from the settings file, and every bad key named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdrift.errors import ConfigError
from streamdrift.settings import load_settings

GOOD = """
sources:
  - name: fraud
    topic: fraud-predictions
    mapping:
      model_id: {field: /model}
      features: {object: /request/features}
      prediction: /response/label
      inference_id: {header: x-request-id}
      event_time: {field: /ts, unit: ms}
  - name: iris
    topic: kserve-logs
    preset: oip-v2
    pairing: {ttl_seconds: 30}
    mapping:
      model_id: /model_name
      features: {tensor: /inputs/input-0, names: [a, b, c, d]}
      prediction: /outputs/output-0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "worker.yaml"
    path.write_text(text)
    return path


def test_sources_are_read_from_the_settings_file(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert [src.name for src in s.sources] == ["fraud", "iris"]
    assert s.sources[1].preset == "oip-v2" and s.sources[1].pairing.ttl_seconds == 30
    assert s.sources[0].mapping.inference_id is not None and s.sources[0].mapping.inference_id.header == "x-request-id"
    assert s.sources[1].mapping.features is not None and s.sources[1].mapping.features.names == ["a", "b", "c", "d"]


@pytest.mark.parametrize(("old", "new", "named"), [
    ("model_id: {field: /model}", "model_id: {field: model}", "sources.0.mapping.model_id"),
    ("{tensor: /inputs/input-0, names: [a, b, c, d]}", "{tensor: /inputs/input-0}", "sources.1.mapping.features"),
    ("event_time: {field: /ts, unit: ms}", "event_time: {field: /ts}", "sources.0.mapping.event_time"),
    ("event_time: {field: /ts, unit: ms}", "event_time: {field: /ts, unit: ns}", "sources.0.mapping.event_time.unit"),
    ("preset: oip-v2", "preset: triton-grpc", "sources.1.preset"),
    ("prediction: /response/label", "predicton: /response/label", "sources.0.mapping.predicton"),
    ("name: iris", "name: fraud", "sources.1.name"),
    ("topic: kserve-logs", "topic: fraud-predictions", "sources.1.topic"),
    ("topic: kserve-logs", "topic: streamdrift.capture", "sources.1.topic"),
    ("inference_id: {header: x-request-id}", "inference_id: {const: x}", "sources.0.mapping.inference_id"),
])
def test_a_bad_key_is_named(tmp_path: Path, old: str, new: str, named: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, GOOD.replace(old, new)))
    assert named in str(err.value), str(err.value)
