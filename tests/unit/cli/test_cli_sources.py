"""``streamdrift sources check`` on sample files: what the mapping found per model, what would be
dead-lettered and why, pairs, envelopes with headers (KServe CloudEvents), and usage errors."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner
from servers import ce_headers, kserve_v1_request, kserve_v1_response, oip_request, oip_response, oip_tensor

from streamdrift.cli import main

CONFIG = """
sources:
  - name: iris
    topic: kserve-logs
    preset: oip-v2
    mapping:
      model_id: /model_name
      features: {tensor: /inputs/input-0, names: [sl, sw, pl, pw]}
      prediction: /outputs/output-0
      inference_id: /id
  - name: ce
    topic: ce-logs
    preset: kserve-cloudevents
    mapping:
      model_id: {header: ce_inferenceservicename}
      features: {tensor: /instances, names: [sl, sw, pl, pw]}
      prediction: /predictions
"""


def run(tmp_path: Path, lines: list[bytes], *args: str) -> tuple[int, str]:
    (tmp_path / "worker.yaml").write_text(CONFIG)
    (tmp_path / "sample.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(main, ["sources", "check", "--config", str(tmp_path / "worker.yaml"),
                                       "--sample", str(tmp_path / "sample.jsonl"), *args])
    return result.exit_code, result.output


def test_oip_sample_prints_models_features_and_dead_letters(tmp_path: Path) -> None:
    lines = [oip_request("42", [oip_tensor("input-0", [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]])]),
             oip_response("42", "sklearn-iris", [oip_tensor("output-0", [1, 2], "INT32")]),
             oip_request("43", [oip_tensor("predict", [[6.8, 2.8, 4.8, 1.4]])]),
             oip_response("43", "sklearn-iris", [oip_tensor("output-0", [1], "INT32")]),
             oip_request("44", [oip_tensor("input-0", [[5.1, 3.5, 1.4, 0.2]])])]
    code, out = run(tmp_path, lines, "--source", "iris")
    assert code == 0, out
    assert "source iris: 5 messages, 2 rows for 1 model(s), 1 would be dead-lettered" in out
    assert "2 paired, 1 waiting" in out
    assert "model sklearn-iris (version None): 2 rows" in out
    assert "inference id '42:0', '42:1'" in out
    assert "pl" in out and "range 4.5 .. 4.8" in out
    assert "4: mapping_mismatch: /inputs/input-0: no 'input-0' in /inputs (it has: predict)" in out


def test_envelopes_carry_cloudevents_headers(tmp_path: Path) -> None:
    def envelope(value: bytes, headers: list[tuple[str, bytes]]) -> bytes:
        return orjson.dumps({"value": orjson.loads(value), "headers": {k: v.decode() for k, v in headers}})

    lines = [envelope(kserve_v1_request([[1.0, 2.0, 3.0, 4.0]]), ce_headers("e1", "request", "sk")),
             envelope(kserve_v1_response([0]), ce_headers("e1", "response", "sk")),
             envelope(kserve_v1_request([[1.0, 2.0, 3.0, 4.0]]), [])]
    code, out = run(tmp_path, lines, "--source", "ce", "--envelope")
    assert code == 0, out
    assert "model sk (version None): 1 rows" in out
    assert "3: mapping_mismatch: header ce_id: absent" in out


def test_usage_errors(tmp_path: Path) -> None:
    code, out = run(tmp_path, [b"{}"])
    assert code != 0 and "several sources (iris, ce): choose one with --source" in out
    code, out = run(tmp_path, [b"{}"], "--source", "nope")
    assert code != 0 and "no source named 'nope'" in out
    code, out = run(tmp_path, [b"not an envelope"], "--source", "ce", "--envelope")
    assert code != 0 and "line 1" in out
