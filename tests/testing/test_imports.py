"""The test kit's modules import on their own and depend on each other without cycles."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import trio_heartbeat.testing as kit

PACKAGE = pathlib.Path(kit.__file__).parent
MODULES = sorted(f"trio_heartbeat.testing.{p.stem}" for p in PACKAGE.glob("*.py"))
MODULES[MODULES.index("trio_heartbeat.testing.__init__")] = "trio_heartbeat.testing"


def kit_imports(module: str) -> list[tuple[str, list[str]]]:
    """(imported kit module, names) for every kit import, TYPE_CHECKING ones included."""
    name = "__init__" if module == "trio_heartbeat.testing" else module.rsplit(".", 1)[1]
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    return [
        (node.module, [a.name for a in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module is not None
        and node.module.startswith("trio_heartbeat.testing.")
    ]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_kit_modules_form_no_import_cycle() -> None:
    graph = {m: {dep for dep, _ in kit_imports(m)} for m in MODULES}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join([*visiting, module])}"
        if module in done:
            return
        visiting.append(module)
        for dep in sorted(graph.get(module, ())):
            visit(dep)
        visiting.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


@pytest.mark.parametrize("module", MODULES)
def test_no_private_name_crosses_modules(module: str) -> None:
    crossing = [
        f"{dep}.{name}"
        for dep, names in kit_imports(module)
        for name in names
        if name.startswith("_")
    ]
    assert crossing == []
