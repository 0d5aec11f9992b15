"""The data plane's liveness for ``/health``: its state and the wall clock of its last loop iteration, kept in
shared memory so the control plane's web server (role ``all``: the data plane runs in a child process) reports
the data plane's real state, and the data plane's own web server (role ``dataplane``: ``/metrics`` and
``/health`` on its metrics port) too.

``/health`` answers 200 while the data plane runs and its loop turned within ``stale_after`` seconds, else 503
with the reason: a probe (Kubernetes liveness, a load balancer) sees a stuck or dead data plane."""

from __future__ import annotations

import faulthandler
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

STARTING, RUNNING, REBUILDING, STOPPED, FAILED = range(5)
_STATES: Final[tuple[str, ...]] = ("starting", "running", "rebuilding", "stopped", "failed")


class Heartbeat:
    """State and last loop time of one data plane (shared between processes of one ``spawn`` context)."""

    def __init__(self, context: Any = None) -> None:
        ctx = context if context is not None else multiprocessing.get_context("spawn")
        self._state = ctx.Value("i", STARTING, lock=False)
        self._last = ctx.Value("d", 0.0, lock=False)
        self._started = ctx.Value("d", time.time(), lock=False)
        self._dump_after: float | None = None  # see watch_stall (per process: not shared)
        self._armed = 0.0

    def beat(self, now: float | None = None) -> None:
        self._last.value = time.time() if now is None else now
        self._state.value = RUNNING
        if self._dump_after is not None and self._last.value - self._armed >= min(1.0, self._dump_after / 4):
            # re-armed at most once a second (each arming starts the watchdog thread anew)
            faulthandler.dump_traceback_later(self._dump_after, repeat=True)
            self._armed = self._last.value

    def watch_stall(self, seconds: float | None) -> None:
        """In the data plane's process: when its loop does not turn for ``seconds``, every thread's stack goes to
        stderr (Python's faulthandler), and again every ``seconds`` while it stays stuck: a hung worker says
        where it hangs (``/health`` says that it does). None stops the watch."""
        self._dump_after, self._armed = seconds, 0.0
        if seconds is None:
            faulthandler.cancel_dump_traceback_later()

    def set_state(self, state: int) -> None:
        self._state.value = state

    def report(self, stale_after: float, now: float | None = None, *, alive: bool = True) -> tuple[bool, dict[str, Any]]:
        """(healthy, JSON body). ``alive``: the data plane's process still exists (role all)."""
        now = time.time() if now is None else now
        state = _STATES[self._state.value] if alive else "dead"
        last = self._last.value
        age = now - last if last else None
        started = now - self._started.value
        if state == "running" and age is not None and age > stale_after:
            state = "stalled"
        healthy = state == "running" or (state == "starting" and started <= stale_after)
        body = {"status": "ok" if healthy else "unhealthy", "dataplane": state,
                "last_loop_seconds_ago": None if age is None else round(age, 3)}
        return healthy, body


def serve(port: int, host: str, registry: CollectorRegistry, heartbeat: Heartbeat,
          stale_after: float) -> ThreadingHTTPServer:
    """The data plane's own web server (role dataplane): ``/metrics`` and ``/health``, in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/health":
                healthy, body = heartbeat.report(stale_after)
                self._send(200 if healthy else 503, orjson.dumps(body), "application/json")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="streamdrift-dataplane-web", daemon=True).start()
    return server


class DataPlaneProbe:
    """The control plane's view of its data plane (role all): the heartbeat and whether the process lives."""

    def __init__(self, heartbeat: Heartbeat, alive: Any, stale_after: float) -> None:
        self._heartbeat = heartbeat
        self._alive = alive
        self._stale_after = stale_after

    def report(self) -> tuple[bool, dict[str, Any]]:
        return self._heartbeat.report(self._stale_after, alive=bool(self._alive()))
