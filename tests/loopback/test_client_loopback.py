"""The managed client over real sockets on 127.0.0.1, in real time (bounded).

What virtual time cannot show: a real server process killed and restarted on
the same port, and a real server frozen (SIGSTOP) while the kernel keeps its
socket open: the half-open case.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import trio_heartbeat as th

pytestmark = pytest.mark.loopback

SERVER = Path(__file__).with_name("echo_server.py")


class EchoProcess:
    """The echo server in a child process, stopped by its PID."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints it within a second
        assert line.startswith("LISTENING "), line
        self.port = int(line.split()[1])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"


async def next_disconnect(ws: th.ManagedWebSocket) -> th.Disconnected:
    async for event in ws.state_changes:
        if isinstance(event, th.Disconnected):
            return event
    raise AssertionError("state changes ended without a disconnect")


async def test_frozen_server_detected_within_bound_then_recovered(
    echo_process: EchoProcess,
) -> None:
    heartbeat = th.Heartbeat.ping(interval=0.3, reply_timeout=0.3)
    policy = th.ReconnectPolicy(wait_initial=0.1, wait_max=0.3)
    options = th.ConnectionOptions(connect_timeout=0.5)
    with trio.fail_after(20):
        async with th.open_managed_websocket(
            echo_process.url, heartbeat=heartbeat, reconnect=policy, options=options
        ) as ws:
            await ws.send("before")
            assert await ws.receive() == "before"
            echo_process.freeze()
            frozen_at = trio.current_time()
            lost = await next_disconnect(ws)
            detected_after = trio.current_time() - frozen_at
            assert isinstance(lost.cause, th.PeerUnresponsive)
            # bound: at most one interval until the next ping, plus the timeout, plus slack
            assert detected_after <= 0.3 + 0.3 + 0.25
            await ws.send("during")  # buffered while the server is frozen
            await trio.sleep(1.0)
            assert ws.state != "connected"  # handshakes to a frozen server time out
            echo_process.thaw()
            await ws.wait_connected()
            assert await ws.receive() == "during"


async def test_server_killed_and_restarted_on_same_port(echo_process: EchoProcess) -> None:
    policy = th.ReconnectPolicy(wait_initial=0.05, wait_max=0.2, min_uptime=0.5)
    with trio.fail_after(20):
        async with th.open_managed_websocket(
            echo_process.url,
            heartbeat=th.Heartbeat.ping(interval=0.5, reply_timeout=0.5),
            reconnect=policy,
        ) as ws:
            await ws.send("one")
            assert await ws.receive() == "one"
            echo_process.kill()
            lost = await next_disconnect(ws)
            assert lost.code == 1006 and not isinstance(lost.cause, th.PeerUnresponsive)
            await ws.send("two")
            refused = await next_disconnect(ws)  # an attempt while the server is down
            assert not refused.was_connected
            assert ws.statistics().attempts >= 2
            echo_process.start()
            await ws.wait_connected()
            assert await ws.receive() == "two"
            assert ws.statistics().reconnects == 1
