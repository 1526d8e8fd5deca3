"""Run real third-party WebSocket servers on 127.0.0.1 from pytest fixtures.

The servers live in ``interop/servers/`` (Node ``ws``, ``sockjs``, ``engine.io`` /
``socket.io`` and Python ``websockets``).  Each one takes ``--port`` (0 = let the OS
choose) plus its heartbeat settings in float seconds, prints ``LISTENING <port>``
on stdout once it accepts connections, and then one JSON object per line per event.

Fixtures:

* ``interop_servers`` -- an :class:`InteropServers` launcher; ``await
  interop_servers.ws(heartbeat_interval=0.5)`` etc. return a started
  :class:`ServerProcess`.  Every process it started is stopped (thawed first) when
  the test ends, pass or fail.
* ``ws_server``, ``sockjs_server``, ``engineio_server``, ``socketio_server``,
  ``websockets_server`` -- one started server each, 1 s heartbeats.
* ``raw_websocket`` -- :func:`open_raw_websocket`, a wsproto client that never
  answers pings on its own (a black-holed peer, or a probe that sees pings).

A missing ``node`` or ``interop/node_modules`` (run ``interop/install.sh``) or a
missing ``websockets`` package skips the test with that reason (``pytest -rs``
shows it), or fails it when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.lowlevel

from tests.interop import open_raw_websocket

REPO_ROOT = Path(__file__).resolve().parents[2]
INTEROP_DIR = REPO_ROOT / "interop"
SERVERS_DIR = INTEROP_DIR / "servers"
HOST = "127.0.0.1"
NODE_PACKAGES = ("ws", "sockjs", "engine.io", "socket.io")

_MAX_LINE = 1 << 20
_LIVE_PIDS: set[int] = set()


class InteropServerError(RuntimeError):
    """A server process did not start, or was used in a state that does not allow it."""


def _kill_leftovers() -> None:
    """Last resort at interpreter exit: SIGCONT + SIGKILL every server still alive."""
    for pid in list(_LIVE_PIDS):
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
    _LIVE_PIDS.clear()


atexit.register(_kill_leftovers)


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but "", 0, false, no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(ok: bool, reason: str) -> None:
    """Skip the test with ``reason`` unless ``ok``; under CI (see :func:`in_ci`) fail it.

    CI installs the interop servers, so a missing install there is a broken build,
    not a reason to skip silently.
    """
    if ok:
        return
    if in_ci():
        ci = os.environ["CI"]
        pytest.fail(f"{reason} (CI={ci} is set, so this is a failure: run interop/install.sh)")
    pytest.skip(reason)


def require_node(interop_dir: Path = INTEROP_DIR) -> str:
    """Return the ``node`` executable; skip/fail (see :func:`require`) without node or packages."""
    node = shutil.which("node")
    missing = [p for p in NODE_PACKAGES if not (interop_dir / "node_modules" / p).is_dir()]
    problems = [] if node is not None else ["node is not installed (Node.js 18+ runs the servers)"]
    if missing:
        problems.append(f"{interop_dir / 'node_modules'} lacks {', '.join(missing)}")
    require(not problems, "; ".join(problems))
    assert node is not None
    return node


def require_python_package(name: str) -> None:
    """Skip/fail (see :func:`require`) when the Python package ``name`` is not importable."""
    require(importlib.util.find_spec(name) is not None, f"Python package {name!r} is missing")


@attrs.frozen(kw_only=True)
class ServerSpec:
    """How to run one server: ``argv_for_port(port)`` and the URL a client dials.

    ``url_for_port`` is called on every read of :attr:`ServerProcess.url` (SockJS
    needs a fresh session id per connection).
    """

    name: str
    argv_for_port: Callable[[int], list[str]]
    url_for_port: Callable[[int], str]
    ready_timeout: float = attrs.field(default=15.0, validator=attrs.validators.gt(0))
    stop_timeout: float = attrs.field(default=3.0, validator=attrs.validators.gt(0))


@attrs.define
class _Run:
    """One OS process of a :class:`ServerProcess` (a restart makes a new one)."""

    index: int
    process: trio.Process
    readers: trio.CancelScope
    ready: trio.Event = attrs.field(factory=trio.Event)
    stdout_done: trio.Event = attrs.field(factory=trio.Event)
    port: int | None = None


class ServerProcess:
    """A third-party server process on 127.0.0.1 that a test can freeze, restart and stop.

    Made by :class:`InteropServers`; background readers live in its nursery.
    ``events()`` holds every JSON line the server printed, across restarts, each with
    an added ``"run"`` key (0 for the first process, 1 after the first restart, ...).
    """

    def __init__(self, spec: ServerSpec, nursery: trio.Nursery, *, port: int = 0) -> None:
        self.spec = spec
        self._nursery = nursery
        self._run: _Run | None = None
        self._runs = 0
        self._port: int | None = port or None
        self._events: list[dict[str, Any]] = []
        self._changed = trio.Event()
        self._output: list[str] = []
        self._frozen = False

    # -- state -----------------------------------------------------------------
    @property
    def name(self) -> str:
        """The spec's name, e.g. ``"ws"``."""
        return self.spec.name

    @property
    def port(self) -> int:
        """The TCP port; fixed at the first start and reused by :meth:`restart`."""
        if self._port is None:
            raise InteropServerError(f"{self.name} has not started")
        return self._port

    @property
    def url(self) -> str:
        """The ``ws://127.0.0.1:<port>/...`` URL to connect to (fresh per read for SockJS)."""
        return self.spec.url_for_port(self.port)

    @property
    def pid(self) -> int:
        """The PID of the running process; raises when none runs."""
        return self._require_running().process.pid

    @property
    def running(self) -> bool:
        """True while the current process has not exited."""
        return self._run is not None and self._run.process.returncode is None

    @property
    def frozen(self) -> bool:
        """True between :meth:`freeze` and :meth:`thaw` (or a stop)."""
        return self._frozen

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """A copy of the parsed JSON event lines so far, optionally only those named ``event``."""
        return [e for e in self._events if event is None or e.get("event") == event]

    def output(self) -> str:
        """Everything the server printed that is not an event (stderr, stray stdout)."""
        return "".join(self._output)

    async def wait_event(
        self,
        event: str,
        *,
        where: Callable[[dict[str, Any]], bool] = lambda e: True,
        start: int = 0,
    ) -> dict[str, Any]:
        """Return the first event named ``event`` with index >= ``start`` that satisfies ``where``.

        Waits for it as long as it takes: bound the call with ``trio.fail_after``.
        """
        index = start
        while True:
            for item in self._events[index:]:
                if item.get("event") == event and where(item):
                    return item
            index = len(self._events)
            await self._changed.wait()

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start the process (port 0 first, then the same port) and wait for ``LISTENING``.

        Raises :class:`InteropServerError` with the server's output when it exits
        or stays silent for ``spec.ready_timeout`` seconds (it is killed then).
        """
        if self.running:
            raise InteropServerError(f"{self.name} is already running")
        argv = self.spec.argv_for_port(self._port or 0)
        process = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=INTEROP_DIR,
        )
        _LIVE_PIDS.add(process.pid)
        run = _Run(index=self._runs, process=process, readers=trio.CancelScope())
        self._runs += 1
        self._run = run
        self._frozen = False
        self._nursery.start_soon(self._read_output, run)
        with trio.move_on_after(self.spec.ready_timeout):
            await run.ready.wait()
        if run.port is None:
            await self.kill()
            raise InteropServerError(
                f"{self.name} ({' '.join(argv)}) did not print LISTENING within "
                f"{self.spec.ready_timeout} s; exit code {process.returncode}; "
                f"output:\n{self.output()}"
            )
        if self._port is not None and run.port != self._port:
            await self.kill()
            raise InteropServerError(f"{self.name} restarted on {run.port}, not {self._port}")
        self._port = run.port

    def freeze(self) -> None:
        """SIGSTOP the process: its sockets stay open but nothing is read, answered or sent."""
        self._require_running().process.send_signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT the process after :meth:`freeze` (harmless when not frozen)."""
        self._require_running().process.send_signal(signal.SIGCONT)
        self._frozen = False

    async def stop(self) -> None:
        """Thaw, SIGTERM, and SIGKILL after ``spec.stop_timeout`` s; wait for exit.

        The Node servers exit at once on SIGTERM (the kernel closes their sockets,
        no close frames); ``websockets`` closes its connections with 1001 first.
        Idempotent; shielded from cancellation.
        """
        await self._end(signal.SIGTERM)

    async def kill(self) -> None:
        """Thaw and SIGKILL at once (a crash: peers see a reset/EOF); wait for exit."""
        await self._end(signal.SIGKILL)

    async def restart(self, *, graceful: bool = True) -> None:
        """Stop (:meth:`stop`, or :meth:`kill` when not ``graceful``) and start on the same port."""
        await (self.stop() if graceful else self.kill())
        await self.start()

    # -- internals -------------------------------------------------------------
    def _require_running(self) -> _Run:
        if self._run is None or self._run.process.returncode is not None:
            raise InteropServerError(f"{self.name} is not running")
        return self._run

    async def _end(self, sig: signal.Signals) -> None:
        run = self._run
        if run is None:
            return
        process = run.process
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                # A stopped process cannot act on SIGTERM, so always thaw first.
                process.send_signal(signal.SIGCONT)
                process.send_signal(sig)
                with trio.move_on_after(self.spec.stop_timeout):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            self._frozen = False
            _LIVE_PIDS.discard(process.pid)
            with trio.move_on_after(1.0):
                await run.stdout_done.wait()
            run.readers.cancel()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    await pipe.aclose()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @staticmethod
    async def _pump_lines(stream: trio.abc.ReceiveStream, on_line: Callable[[str], None]) -> None:
        """Call ``on_line`` for each line read from ``stream`` until EOF or a broken pipe."""
        buffer = b""
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                chunk = b""
            if not chunk:
                if buffer:
                    on_line(buffer.decode("utf-8", "replace"))
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                on_line(line.decode("utf-8", "replace"))
            if len(buffer) > _MAX_LINE:
                on_line(buffer.decode("utf-8", "replace"))
                buffer = b""

    async def _read_output(self, run: _Run) -> None:
        """Read stdout (events) and stderr of one run until EOF or ``run.readers`` is cancelled."""
        assert run.process.stdout is not None
        assert run.process.stderr is not None
        stdout, stderr = run.process.stdout, run.process.stderr
        with run.readers:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(
                        self._pump_lines,
                        stderr,
                        lambda line: self._output.append(f"[stderr] {line}\n"),
                    )
                    await self._pump_lines(stdout, lambda line: self._take_stdout_line(run, line))
            finally:
                run.stdout_done.set()
                run.ready.set()  # ends a start() that waits for a process that died

    def _take_stdout_line(self, run: _Run, line: str) -> None:
        words = line.split()
        if run.port is None and len(words) == 2 and words[0] == "LISTENING":
            run.port = int(words[1])
            run.ready.set()
            return
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if isinstance(item, dict) and isinstance(item.get("event"), str):
            item["run"] = run.index
            self._events.append(item)
            self._notify()
        else:
            self._output.append(f"[stdout] {line}\n")


def _seconds(value: float) -> str:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"a duration must be finite and >= 0, got {value!r}")
    return repr(float(value))


class InteropServers:
    """Starts the interop servers in one nursery and stops them all in :meth:`aclose`.

    Every method returns a started :class:`ServerProcess`; durations are float
    seconds; ``port=0`` lets the OS choose.  ``extra_args`` are appended to argv.
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._servers: list[ServerProcess] = []

    async def start(self, spec: ServerSpec, *, port: int = 0) -> ServerProcess:
        """Start any :class:`ServerSpec` (the methods below are presets of it).

        ``port=0`` lets the OS choose; any other port is used from the first start.
        """
        server = ServerProcess(spec, self._nursery, port=port)
        self._servers.append(server)
        await server.start()
        return server

    async def aclose(self) -> None:
        """Stop every server started here (thawing frozen ones first)."""
        with trio.CancelScope(shield=True):
            for server in self._servers:
                await server.stop()

    def _node(self, script: str, args: Sequence[str]) -> Callable[[int], list[str]]:
        node = require_node()
        path = str(SERVERS_DIR / script)
        return lambda port: [node, path, "--port", str(port), *args]

    async def ws(
        self, *, heartbeat_interval: float = 1.0, port: int = 0, extra_args: Sequence[str] = ()
    ) -> ServerProcess:
        """Node ``ws`` echo server; isAlive/ping/terminate every ``heartbeat_interval`` s.

        Logs ``ping``/``pong`` per client and ``terminate`` for a client that did not
        pong since the previous round.  URL: ``ws://127.0.0.1:<port>/``.
        """
        args = ["--heartbeat-interval", _seconds(heartbeat_interval), *extra_args]
        argv = self._node("ws_server.js", args)
        return await self.start(
            ServerSpec(name="ws", argv_for_port=argv, url_for_port=lambda p: f"ws://{HOST}:{p}/"),
            port=port,
        )

    async def sockjs(
        self,
        *,
        heartbeat_delay: float = 1.0,
        disconnect_delay: float = 5.0,
        prefix: str = "/echo",
        port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> ServerProcess:
        """sockjs-node echo server; an RFC 6455 ping every ``heartbeat_delay`` s.

        ``url`` is the framed endpoint ``ws://127.0.0.1:<port><prefix>/<3 digits>/<session>
        /websocket`` with a new random session on each read (frames ``o``/``a[..]``/``c[..]``;
        send ``["text"]``).
        """
        args = [
            "--heartbeat-delay",
            _seconds(heartbeat_delay),
            "--disconnect-delay",
            _seconds(disconnect_delay),
            "--prefix",
            prefix,
            *extra_args,
        ]

        def url(port: int) -> str:
            server_id = f"{secrets.randbelow(1000):03d}"
            return f"ws://{HOST}:{port}{prefix}/{server_id}/{secrets.token_hex(8)}/websocket"

        spec = ServerSpec(
            name="sockjs", argv_for_port=self._node("sockjs_server.js", args), url_for_port=url
        )
        return await self.start(spec, port=port)

    async def engineio(
        self,
        *,
        ping_interval: float = 1.0,
        ping_timeout: float = 1.0,
        port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> ServerProcess:
        """npm ``engine.io`` echo server (message packets sent back unchanged).

        URL: ``ws://127.0.0.1:<port>/engine.io/?EIO=4&transport=websocket``.
        """
        return await self._engine("engine.io", ping_interval, ping_timeout, port, extra_args)

    async def socketio(
        self,
        *,
        ping_interval: float = 1.0,
        ping_timeout: float = 1.0,
        port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> ServerProcess:
        """npm ``socket.io`` server: events emitted back, acks answered with the same args.

        URL: ``ws://127.0.0.1:<port>/socket.io/?EIO=4&transport=websocket``.
        """
        return await self._engine("socket.io", ping_interval, ping_timeout, port, extra_args)

    async def _engine(
        self,
        mode: str,
        ping_interval: float,
        ping_timeout: float,
        port: int,
        extra_args: Sequence[str],
    ) -> ServerProcess:
        args = [
            "--mode",
            mode,
            "--ping-interval",
            _seconds(ping_interval),
            "--ping-timeout",
            _seconds(ping_timeout),
            *extra_args,
        ]
        path = mode.split(".")[0]
        spec = ServerSpec(
            name=mode,
            argv_for_port=self._node("engineio_server.js", args),
            url_for_port=lambda p: f"ws://{HOST}:{p}/{path}.io/?EIO=4&transport=websocket",
        )
        return await self.start(spec, port=port)

    async def websockets(
        self,
        *,
        ping_interval: float = 1.0,
        ping_timeout: float = 1.0,
        port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> ServerProcess:
        """Python ``websockets`` echo server with keepalive (1011 on ping timeout).

        Runs under this interpreter.  URL: ``ws://127.0.0.1:<port>/``.
        """
        require_python_package("websockets")
        script = str(SERVERS_DIR / "websockets_server.py")
        args = [
            "--ping-interval",
            _seconds(ping_interval),
            "--ping-timeout",
            _seconds(ping_timeout),
            *extra_args,
        ]
        spec = ServerSpec(
            name="websockets",
            argv_for_port=lambda p: [sys.executable, script, "--port", str(p), *args],
            url_for_port=lambda p: f"ws://{HOST}:{p}/",
        )
        return await self.start(spec, port=port)


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
async def interop_servers() -> AsyncIterator[InteropServers]:
    """A launcher whose servers are all stopped (thawed first) when the test ends."""
    async with trio.open_nursery() as nursery:
        launcher = InteropServers(nursery)
        try:
            yield launcher
        finally:
            await launcher.aclose()
            nursery.cancel_scope.cancel()


@pytest.fixture
async def ws_server(interop_servers: InteropServers) -> ServerProcess:
    """Node ``ws`` heartbeat/echo server, 1 s heartbeat interval."""
    return await interop_servers.ws()


@pytest.fixture
async def sockjs_server(interop_servers: InteropServers) -> ServerProcess:
    """sockjs-node echo server at ``/echo``, 1 s heartbeat delay."""
    return await interop_servers.sockjs()


@pytest.fixture
async def engineio_server(interop_servers: InteropServers) -> ServerProcess:
    """engine.io echo server, pingInterval 1 s, pingTimeout 1 s."""
    return await interop_servers.engineio()


@pytest.fixture
async def socketio_server(interop_servers: InteropServers) -> ServerProcess:
    """socket.io echo/ack server, pingInterval 1 s, pingTimeout 1 s."""
    return await interop_servers.socketio()


@pytest.fixture
async def websockets_server(interop_servers: InteropServers) -> ServerProcess:
    """Python ``websockets`` echo server, ping interval 1 s, ping timeout 1 s."""
    return await interop_servers.websockets()


@pytest.fixture
def raw_websocket() -> Callable[..., Any]:
    """:func:`open_raw_websocket`, for tests that cannot import from conftest."""
    return open_raw_websocket
