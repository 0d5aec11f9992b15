"""Puts tests/support on ``sys.path``: the helpers the benchmarks share with the tests (``harness``: settings,
topics, a worker process, produce and read; ``clusterdrill``: the 3-broker drill) live with the tests, not in the
product package. A benchmark imports this module first."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = str(Path(__file__).resolve().parent.parent / "tests" / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
