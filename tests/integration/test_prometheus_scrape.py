"""A real Prometheus server on 127.0.0.1 scrapes a running worker; a drift metric is read back through
Prometheus's HTTP query API (issue 8)."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from harness import (
    capture_records,
    create_all_topics,
    produce,
    unique_settings,
    worker_process,
)

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.settings import Settings, WindowSettings
from streamdrift.worker.baselines import publish_baseline

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs Debian's prometheus (bin/system-deps)"),
]

SIZE_MS = 4000
PER_WINDOW = 600


@contextmanager
def _prometheus(targets: list[str], workdir: Path) -> Iterator[str]:
    port = find_free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "streamdrift", "static_configs": [{"targets": targets}]}],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = orjson.loads(response.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _wait_query(base: str, promql: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = _query(base, promql)
            if result:
                return result
        except OSError:
            pass
        time.sleep(1.0)
    raise AssertionError(f"Prometheus never returned a series for {promql}")


def test_prometheus_scrapes_drift_statistic_from_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    web_port = find_free_port(span=2)
    settings: Settings = unique_settings(
        kafka_bootstrap, capture_partitions=2,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=0.5, idle_timeout=3.0),
        commit_interval=0.5, merge_timeout=30.0, web_host="127.0.0.1", web_port=web_port,
    )
    create_all_topics(settings)
    rng = np.random.default_rng(3)
    rows = [orjson.loads(r)["features"] for r in capture_records("m1", [0] * 4000, rng)]
    publish_baseline(settings, build_baseline([columns_from_rows(rows)], "m1").to_json())
    first = (int(time.time() * 1000) // SIZE_MS - 4) * SIZE_MS
    values: list[bytes] = []
    for w in range(3):
        ts = np.sort(rng.integers(first + w * SIZE_MS, first + (w + 1) * SIZE_MS, PER_WINDOW))
        values += capture_records("m1", ts.tolist(), rng, shift=1.5)  # every window far from the baseline
    produce(settings, settings.topics.capture, values)

    with worker_process(settings, log_path=tmp_path / "worker.log"), \
            _prometheus([f"127.0.0.1:{web_port}", f"127.0.0.1:{web_port + 1}"], tmp_path) as prom:
        drift = _wait_query(prom, 'streamdrift_drift_statistic{model="m1",feature="f0"}', timeout=90)
        state = _wait_query(prom, 'streamdrift_drift_state{model="m1",feature="f0"} == 1', timeout=30)
        consumed = _wait_query(prom, 'sum(streamdrift_records_consumed_total{model="m1"})', timeout=30)
        up = _query(prom, "up")

    value = float(drift[0]["value"][1])
    assert value > 0.3, drift  # a 1.5 sd shift: KS distance about 0.55
    assert state[0]["metric"]["monitor"] == "data_quality"
    assert float(consumed[0]["value"][1]) > 0
    assert sorted(float(s["value"][1]) for s in up) == [1.0, 1.0]
