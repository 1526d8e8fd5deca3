"""Without Node: locally a notice and clean skips with a reason; under CI a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import INTEROP_DIR, REPO_ROOT

pytestmark = pytest.mark.interop

NODE_TESTS = [
    "tests/interop/test_harness.py::test_fixtures_yield_running_servers",  # several fixtures
    "tests/interop/test_harness.py::test_ws_terminates_a_client_that_does_not_pong",
]


@pytest.fixture
def path_without_node(tmp_path: Path) -> str:
    """A PATH holding only the tools install.sh uses, not node or npm."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "tr", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def environment(path: str, ci: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = path
    if ci is not None:
        env["CI"] = ci
    return env


def run(argv: list[str], path: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the repository with ``PATH=path`` and ``CI`` as given (unset: None)."""
    env = environment(path, ci)
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def run_install(path: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    return run([str(Path(path) / "bash"), str(INTEROP_DIR / "install.sh")], path, ci)


def test_install_without_node_is_a_notice_locally(path_without_node: str) -> None:
    done = run_install(path_without_node, ci=None)
    assert done.returncode == 0
    assert "node is not installed; skipping the interop servers" in done.stderr


@pytest.mark.parametrize("ci", ["true", "1"])
def test_install_without_node_fails_under_ci(path_without_node: str, ci: str) -> None:
    done = run_install(path_without_node, ci=ci)
    assert done.returncode == 1
    assert "node is not installed (CI is set" in done.stderr


def run_node_tests(path: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    pytest_argv = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    return run([*pytest_argv, *NODE_TESTS], path, ci)


def test_node_tests_skip_with_the_reason_locally(path_without_node: str) -> None:
    done = run_node_tests(path_without_node, ci=None)
    assert done.returncode == 0, done.stdout
    assert "SKIPPED [2] tests/interop/conftest.py" in done.stdout
    assert done.stdout.count("node is not installed") == 1
    assert "Exceptions from Trio nursery" not in done.stdout


def test_node_tests_fail_under_ci(path_without_node: str) -> None:
    done = run_node_tests(path_without_node, ci="true")
    assert done.returncode == 1, done.stdout
    assert "2 failed" in done.stdout and "CI=true is set" in done.stdout
