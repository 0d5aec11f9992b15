"""``baseline build`` through a source mapping: a JSON Lines file of OIP requests and responses profiled as the
worker would read them from the topic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from servers import oip_request, oip_response, oip_tensor

from streamdrift.baseline.baseline import Baseline
from streamdrift.cli import main
from streamdrift.columns.chunks import BadLine
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser
from streamdrift.ingest.sources.files import mapped_chunks

CONFIG = """
sources:
  - name: iris
    topic: kserve-logs
    preset: oip-v2
    mapping:
      model_id: /model_name
      features: {tensor: /inputs/input-0, names: [a, b]}
      prediction: /outputs/output-0
      inference_id: /id
"""


def _file(tmp_path: Path, n: int) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(n, 2)).round(4)
    lines: list[bytes] = []
    for i in range(0, n, 2):
        lines.append(oip_request(f"r{i}", [oip_tensor("input-0", rows[i:i + 2].tolist())]))
        lines.append(oip_response(f"r{i}", "iris" if i % 4 == 0 else "other",
                                  [oip_tensor("output-0", [0, 1], "INT64")]))
    lines.insert(3, b"")
    lines.insert(5, oip_request("bad", [oip_tensor("input-0", [[1.0, 2.0, 3.0]])]))
    lines.insert(6, oip_response("bad", "iris", [oip_tensor("output-0", [1], "INT64")]))
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, rows


def test_mapped_chunks_pair_across_chunks_and_report_bad_lines(tmp_path: Path) -> None:
    path, rows = _file(tmp_path, 40)
    source = SourceSettings.model_validate({"name": "iris", "topic": "t", "preset": "oip-v2", "mapping": {
        "model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": ["a", "b"]},
        "prediction": "/outputs/output-0"}})
    bad: list[BadLine] = []
    chunks = list(mapped_chunks(path, MappedParser(source), "iris", chunk_rows=3, on_bad_line=bad.append))
    a = np.concatenate([c.columns.columns["a"].numbers for c in chunks])
    expected = np.concatenate([rows[i:i + 2, 0] for i in range(0, 40, 4)])
    assert a.tolist() == expected.tolist()  # iris's rows only, every pair though chunks cut most of them
    assert [(b.line_number, b.reason) for b in bad] == [(7, "mapping_mismatch")]  # the line completing the pair
    preds = np.concatenate([c.predictions for c in chunks if c.predictions is not None])
    assert preds.tolist() == [0.0, 1.0] * 10


def test_baseline_build_with_a_source(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 400)
    (tmp_path / "worker.yaml").write_text(CONFIG)
    out = tmp_path / "baseline.json"
    result = CliRunner().invoke(main, ["baseline", "build", "--input", str(path), "--model-id", "iris",
                                       "--output", str(out), "--config", str(tmp_path / "worker.yaml"),
                                       "--source", "iris"])
    assert result.exit_code == 0, result.output
    loaded = Baseline.load(out)
    assert loaded.profile.n_records == 200 and sorted(loaded.profile.features) == ["a", "b"]
    assert loaded.prediction == "prediction"
    assert "skipped 1 bad row(s); first at line 7: mapping_mismatch" in result.output
    missing = CliRunner().invoke(main, ["baseline", "build", "--input", str(path), "--model-id", "iris",
                                        "--output", str(out), "--source", "iris"])
    assert missing.exit_code != 0 and "--source needs --config" in missing.output
