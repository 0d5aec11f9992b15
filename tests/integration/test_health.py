"""/health reports the data plane's real state: a role-all worker answers 200 while both planes run, again after
its control plane was killed (the worker starts it again), and 503 naming the data plane once its process is
killed (a Kubernetes-style probe then restarts the pod)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import orjson
import psutil
import pytest
from harness import (
    create_all_topics,
    http_status,
    unique_settings,
    wait_until,
    worker_process,
)

from streamdrift.dev.localkafka import find_free_port

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _listens(pid: int, port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
               for c in psutil.Process(pid).net_connections(kind="tcp"))


def test_health_follows_the_data_plane(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, capture_partitions=1, web_host="127.0.0.1",
                               web_port=find_free_port(span=2), commit_interval=0.5)
    create_all_topics(settings)
    base = f"http://127.0.0.1:{settings.web_port}"
    with worker_process(settings, log_path=tmp_path / "worker.log") as proc:
        wait_until(lambda: http_status(f"{base}/health"),
                                lambda r: r[0] == 200 and orjson.loads(r[1]).get("dataplane") == "running",
                                timeout=90)
        # the data plane's own web server answers too (role all: web_port + 1)
        own = wait_until(lambda: http_status(f"http://127.0.0.1:{settings.web_port + 1}/health"),
                         lambda r: r[0] == 200, timeout=30)
        assert orjson.loads(own[1])["dataplane"] == "running"
        # role all: two spawned children (beside multiprocessing's resource tracker), the control plane serving
        # web_port and the data plane web_port + 1. A killed control plane is started again by the worker
        [control] = [p for p in _children(proc.pid) if _listens(p, settings.web_port)]
        os.kill(control, signal.SIGKILL)
        wait_until(lambda: [p for p in _children(proc.pid) if p != control and _listens(p, settings.web_port)],
                   lambda found: len(found) == 1, timeout=90)
        wait_until(lambda: http_status(f"{base}/health"),
                   lambda r: r[0] == 200 and orjson.loads(r[1]).get("dataplane") == "running", timeout=90)
        assert proc.poll() is None
        [child] = [p for p in _children(proc.pid) if _listens(p, settings.web_port + 1)]
        os.kill(child, signal.SIGKILL)
        _, body = wait_until(lambda: http_status(f"{base}/health"), lambda r: r[0] == 503, timeout=30)
        report = orjson.loads(body)
        assert (report["status"], report["dataplane"]) == ("unhealthy", "dead")
