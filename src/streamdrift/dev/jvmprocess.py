"""The broker JVM as a child process: its own process group, its log, stopping it (shared by
:mod:`.localkafka` and :mod:`.kafkacluster`)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streamdrift.errors import BrokerError

_PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 40
POLL_S = 0.1


def read_log_from(path: Path, offset: int, limit: int = 1 << 20) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM the broker when the process that started it dies."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def terminate_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    # The JVM is the group leader; reap anything it left behind in its group.
    signal_group(process.pid, signal.SIGKILL)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise BrokerError(f"cannot signal Kafka process group {pgid}: {exc}") from exc


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(POLL_S)
    return False
