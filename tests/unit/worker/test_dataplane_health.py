"""The data plane's /health: its state and loop heartbeat, shared across processes, served by its own web
server (role dataplane) and the control plane's (role all)."""

from __future__ import annotations

import multiprocessing
import urllib.error
import urllib.request

import orjson
from prometheus_client import CollectorRegistry, Counter

from streamdrift.dev.localkafka import find_free_port
from streamdrift.worker.health import FAILED, REBUILDING, DataPlaneProbe, Heartbeat, serve


def test_states_and_staleness() -> None:
    beat = Heartbeat()
    healthy, body = beat.report(30.0)
    assert healthy and body["dataplane"] == "starting"  # starting, within the grace period
    healthy, body = beat.report(30.0, now=beat._started.value + 31)
    assert not healthy and body["status"] == "unhealthy"  # never looped after its start
    beat.beat(1000.0)
    assert beat.report(30.0, now=1010.0) == (True, {"status": "ok", "dataplane": "running",
                                                    "last_loop_seconds_ago": 10.0})
    healthy, body = beat.report(30.0, now=1031.0)
    assert not healthy and body["dataplane"] == "stalled"
    beat.set_state(REBUILDING)
    assert beat.report(30.0, now=1001.0)[1]["dataplane"] == "rebuilding"
    beat.set_state(FAILED)
    assert not beat.report(30.0, now=1001.0)[0]
    beat.beat(2000.0)
    assert not DataPlaneProbe(beat, lambda: False, 30.0).report()[0]  # the process is gone
    assert DataPlaneProbe(beat, lambda: True, 1e10).report()[0]


def _heartbeat_in_child(beat: Heartbeat) -> None:
    beat.beat(12345.0)


def test_a_beat_in_another_process_is_seen_here() -> None:
    beat = Heartbeat()
    child = multiprocessing.get_context("spawn").Process(target=_heartbeat_in_child, args=(beat,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert beat.report(30.0, now=12346.0)[1] == {"status": "ok", "dataplane": "running",
                                                 "last_loop_seconds_ago": 1.0}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_data_planes_web_server_serves_metrics_and_health() -> None:
    registry = CollectorRegistry()
    Counter("probe_total", "a counter", registry=registry).inc()
    beat = Heartbeat()
    port = find_free_port()
    server = serve(port, "127.0.0.1", registry, beat, stale_after=0.5)
    try:
        base = f"http://127.0.0.1:{port}"
        assert b"probe_total 1.0" in _get(f"{base}/metrics")[1]
        beat.beat()
        code, body = _get(f"{base}/health")
        assert code == 200 and orjson.loads(body)["dataplane"] == "running"
        beat.beat(1.0)  # long ago: stalled
        code, body = _get(f"{base}/health")
        assert code == 503 and orjson.loads(body)["dataplane"] == "stalled"
        assert _get(f"{base}/status")[0] == 404
    finally:
        server.shutdown()


def test_a_stuck_loop_dumps_every_threads_stack_and_a_turning_one_does_not() -> None:
    """watch_stall: a data-plane loop that stops turning writes its threads' stacks to stderr (where it hangs),
    one that keeps beating writes nothing."""
    import subprocess
    import sys

    program = (
        "import time\n"
        "from streamdrift.worker.health import Heartbeat\n"
        "beat = Heartbeat()\n"
        "beat.watch_stall(0.5)\n"
        "end = time.time() + 1.5\n"
        "while time.time() < end:\n"
        "    beat.beat()\n"
        "    time.sleep(0.05)\n"
        "print('turning done', flush=True)\n"
        "def stuck_here():\n"
        "    time.sleep(1.2)\n"
        "stuck_here()\n"
        "beat.watch_stall(None)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "turning done" in done.stdout
    dumps = done.stderr.count("most recent call first")
    assert dumps >= 1  # dumped while stuck (every 0.5 s) ...
    assert done.stderr.count("stuck_here") == dumps  # ... and only then: each dump shows where it is stuck
