"""Every third-party package the library imports is declared in [project] dependencies."""

from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "trio_heartbeat"
# The test kit's pytest plugin needs pytest, which a test suite brings along.
OPTIONAL = {"pytest", "pytest_trio"}


def imported_roots() -> set[str]:
    roots: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots - set(sys.stdlib_module_names) - {"trio_heartbeat", "__future__"} - OPTIONAL


def test_every_imported_package_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # Optional features (SOCKS proxies, the test kit's plugin, metrics) may import what
    # their extra declares; the development extras (test, bench, docs) may not.
    extras = project["optional-dependencies"]
    specs = [*project["dependencies"], *extras["socks"], *extras["testing"], *extras["otel"]]
    declared = {
        re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower().replace("-", "_") for spec in specs
    }
    # An import name is declared when one of the distributions providing it is
    # (opentelemetry-api provides ``opentelemetry``).
    providers = importlib.metadata.packages_distributions()

    def is_declared(root: str) -> bool:
        names = {root, *(d.lower().replace("-", "_") for d in providers.get(root, ()))}
        return bool(names & declared)

    undeclared = {root for root in imported_roots() if not is_declared(root)}
    assert undeclared == set()
