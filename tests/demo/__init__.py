"""Tests of ``python -m trio_heartbeat.demo``."""

from __future__ import annotations

import subprocess
import sys


def demo_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the demo with ``args`` in a fresh interpreter (bounded: 60 s)."""
    return subprocess.run(
        [sys.executable, "-m", "trio_heartbeat.demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
