"""``streamdrift sources check --bootstrap``: the first messages of a source's topic on the real broker, read
through its mapping, without committing anything."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from servers import oip_request, oip_response, oip_tensor, produce_messages

from streamdrift.cli import main
from streamdrift.dev.localkafka import create_topics

pytestmark = pytest.mark.integration


def test_sources_check_reads_the_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"team-check-{time.time_ns()}"
    create_topics(kafka_bootstrap, {topic: 2})
    now = int(time.time() * 1000)
    messages = []
    for i in range(6):
        rid = f"r{i}"
        name = "input-0" if i != 4 else "wrong"
        messages += [(oip_request(rid, [oip_tensor(name, [[1.0, 2.0], [3.0, float(i)]])]), None, now, rid.encode()),
                     (oip_response(rid, "iris", [oip_tensor("out", [0, 1], "INT64")]), None, now + 1, rid.encode())]
    produce_messages(kafka_bootstrap, topic, messages)
    config = tmp_path / "worker.yaml"
    config.write_text(orjson.dumps({"sources": [{"name": "iris", "topic": topic, "preset": "oip-v2", "mapping": {
        "model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": ["a", "b"]},
        "prediction": "/outputs/out", "inference_id": "/id"}}]}).decode())  # JSON is YAML
    result = CliRunner().invoke(main, ["sources", "check", "--config", str(config), "--bootstrap", kafka_bootstrap,
                                       "--max-messages", "100"])
    assert result.exit_code == 0, result.output
    assert "source iris: 12 messages, 10 rows for 1 model(s), 1 would be dead-lettered" in result.output
    assert "6 paired, 0 waiting" in result.output
    assert "mapping_mismatch: /inputs/input-0: no 'input-0' in /inputs (it has: wrong)" in result.output
