"""Shared helpers for the benchmark scenarios: server processes, statistics, results.

Nothing here is imported by ``trio_heartbeat`` or its test suite. Every process started
through :class:`ServerProcess` is killed by PID in :meth:`ServerProcess.stop` (callers use
``with`` / ``try``/``finally``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_FILE = RESULTS_DIR / "results.jsonl"
HOST = "127.0.0.1"
#: Seconds a server process may take to print its READY line.
SERVER_START_TIMEOUT = 20.0


def median(values: Sequence[float]) -> float:
    """The median of ``values``; NaN for an empty sequence."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` by linear interpolation; NaN if empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError("q must be within [0, 100]")
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = math.ceil(pos)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to at least ``wanted`` (capped by the hard limit).

    Returns the soft limit in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def quiet_logs() -> None:
    """Silence the libraries' own warnings (expected here: we cut links on purpose)."""
    import logging

    for name in ("websockets", "trio_heartbeat", "trio-websocket", "aiohttp"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def load_managed() -> Any | None:
    """Import ``trio_heartbeat`` lazily; None when it or its client API is not there yet."""
    try:
        th = importlib.import_module("trio_heartbeat")
    except Exception:
        return None
    for name in ("open_managed_websocket", "Heartbeat", "ReconnectPolicy"):
        if not hasattr(th, name):
            return None
    return th


def has_websockets_trio() -> bool:
    """True when the installed ``websockets`` has the trio API (``websockets.trio``)."""
    try:
        importlib.import_module("websockets.trio.client")
    except Exception:
        return False
    return True


class ServerProcess:
    """A benchmark server (``bench._server``) in a separate OS process.

    ``procs`` > 1 starts that many processes sharing the port with SO_REUSEPORT, so the
    kernel spreads connections over them. ``start`` blocks until every process printed
    its READY line; ``stop`` kills every process by PID and waits for it.
    """

    def __init__(self, *, port: int = 0, procs: int = 1, log_name: str = "server.log") -> None:
        if procs < 1:
            raise ValueError("procs must be >= 1")
        self.port = port
        self.procs = procs
        self.ready_at = math.nan  # time.monotonic() when the last process was listening
        self._popen: list[subprocess.Popen[str]] = []
        self._log_path = RESULTS_DIR / log_name
        self._log: IO[str] | None = None

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/`` (the echo endpoint)."""
        return f"ws://{HOST}:{self.port}/"

    @property
    def pids(self) -> list[int]:
        """PIDs of the running server processes."""
        return [p.pid for p in self._popen]

    def start(self) -> ServerProcess:
        """Start the processes; raise RuntimeError if one does not become ready in time."""
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self._log = self._log_path.open("a", encoding="utf-8")
        try:
            for _ in range(self.procs):
                args = [sys.executable, "-m", "bench._server", "--port", str(self.port)]
                if self.procs > 1:
                    args.append("--reuse-port")
                popen = subprocess.Popen(
                    args,
                    cwd=BENCH_DIR.parent,
                    stdout=subprocess.PIPE,
                    stderr=self._log,
                    stdin=subprocess.DEVNULL,
                    text=True,
                )
                self._popen.append(popen)
                self.port, self.ready_at = _wait_ready(popen)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL every process (an abrupt crash: the kernel closes their sockets)."""
        for popen in self._popen:
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(popen.pid, signal.SIGKILL)
        for popen in self._popen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=10)
            if popen.stdout is not None:
                popen.stdout.close()
        self._popen.clear()

    def stop(self) -> None:
        """Kill and reap every process; close the log. Safe to call twice."""
        self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def cpu_seconds(self) -> float:
        """User+system CPU seconds used so far by all server processes (via /proc)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_ready(popen: subprocess.Popen[str]) -> tuple[int, float]:
    """Read ``READY <port> <monotonic>`` from the child's stdout, bounded in time."""
    import selectors

    assert popen.stdout is not None
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(popen.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = popen.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited early (rc={popen.poll()})")
            parts = line.split()
            if len(parts) == 3 and parts[0] == "READY":
                return int(parts[1]), float(parts[2])
    raise RuntimeError("server did not become ready in time")


@contextlib.contextmanager
def server(*, procs: int = 1) -> Iterator[ServerProcess]:
    """``with server() as srv:`` start a server process and always kill it afterwards."""
    srv = ServerProcess(procs=procs)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def run_module(argv: Sequence[str], *, timeout: float, what: str, capture: bool = False) -> str:
    """``python -m <argv>`` from the repository root, bounded by ``timeout`` seconds.

    The child is killed by PID if it overruns; a non-zero exit raises
    RuntimeError (``what`` names it). Returns its stdout with ``capture``
    (else ""; stderr always passes through, for progress lines).
    """
    popen = subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=Path(__file__).parent.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    try:
        out, _ = popen.communicate(timeout=timeout)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=10)
    if popen.returncode != 0:
        raise RuntimeError(f"{what} failed (rc={popen.returncode})")
    return out or ""


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    versions: dict[str, str] = {}
    for mod in ("trio", "trio_websocket", "wsproto", "websockets", "aiohttp"):
        try:
            versions[mod] = str(getattr(importlib.import_module(mod), "__version__", "?"))
        except Exception:
            versions[mod] = "missing"
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
    }


def append_results(rows: Sequence[dict[str, Any]], *, run_id: str) -> Path:
    """Append one JSON line per row (tagged with ``run_id`` and a UTC time) to results.jsonl."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with RESULTS_FILE.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({"run_id": run_id, "time": stamp, **row}, sort_keys=True) + "\n")
    return RESULTS_FILE


def new_run_id() -> str:
    """A run id unique enough for one machine: UTC time plus PID."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for the table, or ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"
