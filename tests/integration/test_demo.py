"""The README's main command, shortened: `streamdrift demo` runs end to end, shows drift events of each
incident it injects (the last one without labels, raised by the estimated performance), and stops everything it
started (its broker and its worker)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from streamdrift.dev.localkafka import find_free_port

pytestmark = pytest.mark.integration


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_raises_drift_and_stops_what_it_started() -> None:
    web_port = find_free_port(span=2)
    # 3 s windows of 1,200 records (400 a second), 2 windows a phase: the 11 phases take 66 s, the last incident
    # (unlabelled, phase 10) is raised about 58 s in; 78 s leave 20 s to a loaded machine
    result = subprocess.run(
        [sys.executable, "-m", "streamdrift", "demo", "--duration", "78", "--window", "3", "--phase-windows", "2",
         "--rate", "400", "--web-port", str(web_port), "--no-live"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    out = result.stdout
    assert result.returncode == 0, (out[-3000:], result.stderr[-3000:])
    broker = re.search(r"broker 127\.0\.0\.1:(\d+): topics ready", out)
    assert broker is not None, out[-3000:]
    # the incidents come in order: incomes jumping in one region (raised for that region's segment), then a new
    # category, then an accuracy drop
    assert re.search(r"RAISED\s+data_quality/baseline_drift_check income \[segment west\]", out), out[-3000:]
    assert re.search(r"RAISED\s+data_quality/(categorical_values_check|baseline_drift_check) region", out), out[-3000:]
    # the last incident sends no label at all: only the performance estimated from the scores raises it (the bias
    # incident moves the estimated recall and F1 too, but only the borderline one lowers the estimated accuracy)
    assert re.search(r"RAISED\s+model_quality/estimated_performance_check accuracy", out), out[-3000:]
    assert "demo finished:" in out
    # everything it started is gone: the local broker's port and the worker's web port are closed
    assert not _accepts(int(broker.group(1)))
    assert not _accepts(web_port)
