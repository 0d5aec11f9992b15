"""The package's shape: the data flow's layers, no import cycle, small modules, Kafka only on top.

The import graph is read from the source (every ``import`` / ``from ... import`` of a module, at any depth,
except those under ``if TYPE_CHECKING:``), so a lazy import inside a function counts like one at the top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "streamdrift"
MAX_LINES = 500
KAFKA = ("confluent_kafka", "faust", "aiokafka", "mode")
# the layers of the data flow, bottom first; a layer may import only layers below it (and itself)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("streamdrift.errors", "streamdrift._native", "streamdrift.redaction"),
    ("streamdrift.columns",),
    ("streamdrift.ingest",),
    ("streamdrift.profile",),
    # a monitor owns its baseline section (model quality, bias, attribution; data quality's constraints) and
    # the baseline document composes them: one layer, kept free of cycles by test_no_import_cycle
    ("streamdrift.baseline", "streamdrift.monitors"),
    ("streamdrift.window",),
    ("streamdrift.events", "streamdrift.report", "streamdrift.metrics"),
    ("streamdrift.settings", "streamdrift.settings.history"),  # the worker's typed settings, validated against the monitors' tables
    ("streamdrift.batch",),
    ("streamdrift.api",),  # the Python API (notebooks, pipelines): a face over batch/ and baseline/
    ("streamdrift.sdk", "streamdrift.capture", "streamdrift.worker"),
    ("streamdrift.dev",),
    ("streamdrift.cli", "streamdrift.__main__", "streamdrift"),
)
KAFKA_FREE = ("streamdrift.columns", "streamdrift.ingest", "streamdrift.profile", "streamdrift.baseline",
              "streamdrift.monitors", "streamdrift.window", "streamdrift.events", "streamdrift.report",
              "streamdrift.batch", "streamdrift.api")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # a submodule imported by name
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@cache
def graph() -> dict[str, set[str]]:
    """Module -> the project modules (and third-party top-level names) it imports."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        raw = _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py")
        deps = {d for d in raw if d in modules} | {d.split(".")[0] for d in raw if d.split(".")[0] in KAFKA}
        deps.discard(name)
        deps.discard("streamdrift")  # ``from streamdrift import _native``: the root package itself is inert
        out[name] = deps
    return out


def _layer(module: str) -> int:
    best, index = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    if index < 0:
        raise AssertionError(f"{module} is in no layer of tests/unit/test_layout.py")
    return index


def test_no_module_is_over_500_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_no_import_cycle() -> None:
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(g.get(node, ())):
            if dep not in g:
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for module in sorted(g):
        if module not in state:
            visit(module)
    assert not cycles, cycles


def test_layers_import_only_downwards() -> None:
    g = graph()
    upward = sorted((m, d) for m, deps in g.items() for d in deps
                    if d in g and _layer(d) > _layer(m))
    assert not upward, upward


@pytest.mark.parametrize("layer", KAFKA_FREE)
def test_the_data_flow_below_the_worker_imports_no_kafka(layer: str) -> None:
    g = graph()
    for module in (m for m in g if m == layer or m.startswith(layer + ".")):
        seen, todo = set(), [module]
        while todo:
            current = todo.pop()
            for dep in g.get(current, ()):
                assert dep not in KAFKA, f"{module} reaches {dep} through {current}"
                if dep in g and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)


def test_batch_check_runs_without_kafka_loaded() -> None:
    """Importing the batch path (and everything it imports) loads no Kafka client library."""
    code = ("import sys, streamdrift.batch.check, streamdrift.cli.check; "
            f"print([m for m in sys.modules if m.split('.')[0] in {KAFKA!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
