"""`python -m trio_heartbeat.demo` end to end: a real process, real loopback sockets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.demo import demo_process

pytestmark = pytest.mark.loopback


def run_demo(*args: str) -> tuple[int, list[dict[str, object]]]:
    proc = demo_process("--json", *args)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, events


def test_demo_detects_half_open_reconnects_and_delivers_buffered_messages() -> None:
    code, events = run_demo("--duration", "8")
    assert code == 0
    kinds = [e["event"] for e in events]
    fault = kinds.index("FAULT")
    lost = next(e for e in events[fault:] if e["event"] == "disconnected")
    assert lost["cause"] == "PeerUnresponsive"
    assert kinds.count("connected") >= 2
    assert kinds.count("on_connect") >= 2  # the on-connect step ran again
    summary = events[-1]
    assert summary["event"] == "summary"
    assert summary["missing"] == []
    assert summary["delivered"] == summary["sent"]
    detect = summary["detect_seconds"]
    assert isinstance(detect, float) and detect <= 1.0 + 1.0 + 0.5  # interval + timeout + slack


def test_demo_help_lists_options() -> None:
    proc = demo_process("--help")
    assert proc.returncode == 0
    for option in ("--style", "--interval", "--timeout", "--fault", "--duration", "--json"):
        assert option in proc.stdout


@pytest.mark.parametrize("fault", ["close", "abort"])
def test_demo_other_faults(fault: str) -> None:
    code, events = run_demo("--duration", "4", "--fault", fault, "--fault-at", "1.5")
    assert code == 0
    assert any(e["event"] == "disconnected" for e in events)
    assert events[-1]["missing"] == []


def test_ctrl_c_exits_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_heartbeat.demo", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in range(50):  # bounded: the connect comes within a few lines
            line = proc.stdout.readline()
            if '"connected"' in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_demo_without_a_fault_says_so() -> None:
    proc = demo_process("--fault", "none", "--duration", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = next(line for line in proc.stdout.splitlines() if "summary" in line)
    assert "no fault injected" in summary and "nan" not in summary
    assert "FAULT" not in proc.stdout and "FAILED" not in proc.stdout


def test_demo_failure_says_why() -> None:
    # A heartbeat bound far beyond the run: the half-open link is never detected.
    code, events = run_demo(
        "--duration", "3", "--fault-at", "1", "--interval", "30", "--timeout", "30"
    )
    assert code == 1
    failed = events[-1]
    assert failed["event"] == "FAILED"
    assert "the fault was not detected (no disconnect after it)" in failed["failures"]
    summary = events[-2]
    assert summary["event"] == "summary" and summary["detect_seconds"] is None
