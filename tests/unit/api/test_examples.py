"""The examples run: the notebook in a real Jupyter kernel (nbclient; any cell error fails), the script as a
process (and as a release gate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_notebook_runs_in_a_kernel(tmp_path: Path) -> None:
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any cell error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    html = [o["data"]["text/html"] for o in outputs if "data" in o and "text/html" in o["data"]]
    assert any("streamdrift baseline" in h for h in html)
    assert any("streamdrift check" in h and "<iframe" in h for h in html)
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "release blocked" in printed and "baseline_drift_check(income)" in printed
    assert (tmp_path / "loans-report.html").stat().st_size > 10_000


def test_the_script_runs_and_gates(tmp_path: Path) -> None:
    script = str(EXAMPLES / "quickstart.py")
    ok = subprocess.run([sys.executable, script, "--report", str(tmp_path / "r.html")], capture_output=True,
                        text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "passed=False" in ok.stdout and (tmp_path / "r.html").is_file()
    gate = subprocess.run([sys.executable, script, "--report", str(tmp_path / "g.html"), "--fail-on-drift"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert gate.returncode == 1
    assert "DriftDetected" in gate.stderr and "income" in gate.stderr
