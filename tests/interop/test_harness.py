"""Smoke tests of the interop harness with raw clients (no trio_heartbeat code).

Each server kind: connect, echo, freeze (no answer, no upgrade), thaw (answers
again), restart on the same port (old connection dropped, reconnect works).
Then each server's own heartbeat, driven from argv, against a silent peer.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import wsproto.events
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from tests.interop import RawWebSocket, open_raw_websocket
from tests.interop.conftest import (
    InteropServerError,
    InteropServers,
    ServerProcess,
    ServerSpec,
    require,
    require_node,
)

pytestmark = pytest.mark.interop

# How long a frozen server must stay silent; real answers take milliseconds.
FROZEN_SILENCE = 0.5
# Heartbeats far beyond the test's length, so they cannot disturb freeze/thaw.
QUIET = 30.0


class PlainEcho:
    """RFC 6455 echo (ws, websockets): a text message comes back unchanged."""

    async def open(self, ws: WebSocketConnection) -> None:
        """Nothing to do after the upgrade."""

    async def send(self, ws: WebSocketConnection, text: str) -> None:
        await ws.send_message(text)

    async def receive(self, ws: WebSocketConnection) -> str:
        message = await ws.get_message()
        assert isinstance(message, str)
        return message


class SockJSEcho(PlainEcho):
    """SockJS framing: ``o`` first, ``h`` heartbeats, messages in ``a[...]``."""

    def __init__(self) -> None:
        self._queue: list[str] = []

    async def open(self, ws: WebSocketConnection) -> None:
        assert await ws.get_message() == "o"

    async def send(self, ws: WebSocketConnection, text: str) -> None:
        await ws.send_message(json.dumps([text]))

    async def receive(self, ws: WebSocketConnection) -> str:
        while not self._queue:
            frame = await super().receive(ws)
            if frame == "h":
                continue
            assert frame.startswith("a["), frame
            self._queue.extend(json.loads(frame[1:]))
        return self._queue.pop(0)


class EngineIOEcho(PlainEcho):
    """Engine.IO v4, WebSocket only: open ``0{...}``, ping ``2`` -> pong ``3``, message ``4``."""

    async def open(self, ws: WebSocketConnection) -> None:
        frame = await super().receive(ws)
        assert frame.startswith("0"), frame
        assert json.loads(frame[1:])["upgrades"] == []

    async def send(self, ws: WebSocketConnection, text: str) -> None:
        await ws.send_message("4" + text)

    async def receive(self, ws: WebSocketConnection) -> str:
        while True:
            frame = await super().receive(ws)
            if frame == "2":
                await ws.send_message("3")
                continue
            assert frame.startswith("4"), frame
            return frame[1:]


class SocketIOEcho(EngineIOEcho):
    """Socket.IO v5 inside Engine.IO: connect ``40``, events ``42["echo", text]`` come back."""

    async def open(self, ws: WebSocketConnection) -> None:
        await super().open(ws)
        await ws.send_message("40")
        assert (await EngineIOEcho.receive(self, ws)).startswith('0{"sid":')

    async def send(self, ws: WebSocketConnection, text: str) -> None:
        await EngineIOEcho.send(self, ws, "2" + json.dumps(["echo", text]))

    async def receive(self, ws: WebSocketConnection) -> str:
        packet = await EngineIOEcho.receive(self, ws)
        assert packet.startswith("2"), packet
        name, text = json.loads(packet[1:])
        assert name == "echo"
        assert isinstance(text, str)
        return text


Starter = Callable[[InteropServers], Awaitable[ServerProcess]]

KINDS: dict[str, tuple[Starter, Callable[[], PlainEcho]]] = {
    "ws": (lambda s: s.ws(heartbeat_interval=QUIET), PlainEcho),
    "sockjs": (lambda s: s.sockjs(heartbeat_delay=QUIET), SockJSEcho),
    "engine.io": (lambda s: s.engineio(ping_interval=QUIET, ping_timeout=QUIET), EngineIOEcho),
    "socket.io": (lambda s: s.socketio(ping_interval=QUIET, ping_timeout=QUIET), SocketIOEcho),
    "websockets": (lambda s: s.websockets(ping_interval=QUIET, ping_timeout=QUIET), PlainEcho),
}


async def _expect_closed(ws: WebSocketConnection) -> None:
    """Read until trio-websocket reports the connection closed (at most 20 stray frames).

    trio-websocket 0.12.2 never closes a client's TCP stream when the server ends
    the connection: after a server's close frame it waits for the server's TCP
    close, and on EOF it marks the connection closed (1006) without closing the
    stream; ``aclose()`` then returns early.  So close the stream here: else
    websockets' graceful stop waits ``close_timeout`` for our FIN, and the leaked
    socket's ResourceWarning fails the test under ``filterwarnings = error``.
    """
    for _ in range(20):
        try:
            await ws.get_message()
        except ConnectionClosed:
            await ws._stream.aclose()
            return
    raise AssertionError("connection still open")


@pytest.mark.parametrize("kind", list(KINDS))
async def test_echo_freeze_thaw_restart(kind: str, interop_servers: InteropServers) -> None:
    start, make_protocol = KINDS[kind]
    server = await start(interop_servers)
    port = server.port
    with trio.fail_after(20):
        protocol = make_protocol()
        async with open_websocket_url(server.url, disconnect_timeout=2) as ws:
            await protocol.open(ws)
            await protocol.send(ws, "one")
            assert await protocol.receive(ws) == "one"

            server.freeze()
            assert server.frozen
            await protocol.send(ws, "two")

            async def try_upgrade() -> None:
                # The kernel still completes TCP connects, but nobody answers the upgrade.
                with pytest.raises(trio.TooSlowError):
                    async with open_raw_websocket(server.url, handshake_timeout=FROZEN_SILENCE):
                        pass

            async with trio.open_nursery() as nursery:
                nursery.start_soon(try_upgrade)
                with trio.move_on_after(FROZEN_SILENCE) as silent:
                    await protocol.receive(ws)
            assert silent.cancelled_caught, "a frozen server answered"

            server.thaw()
            assert not server.frozen
            assert await protocol.receive(ws) == "two"
            await protocol.send(ws, "three")
            assert await protocol.receive(ws) == "three"

            first_pid = server.pid
            async with trio.open_nursery() as nursery:
                # Keep reading: websockets' graceful stop waits for our side's TCP close.
                nursery.start_soon(_expect_closed, ws)
                started = trio.current_time()
                await server.restart()
                # Well under stop_timeout: the server exited on SIGTERM, no SIGKILL needed.
                assert trio.current_time() - started < server.spec.stop_timeout
            assert server.port == port
            assert server.pid != first_pid

        protocol = make_protocol()
        async with open_websocket_url(server.url, disconnect_timeout=2) as ws:
            await protocol.open(ws)
            await protocol.send(ws, "after restart")
            assert await protocol.receive(ws) == "after restart"

    connects = server.events("connect")
    assert {e["run"] for e in connects} == {0, 1}, connects
    assert server.events("message"), server.events()


async def test_stop_thaws_a_frozen_server_first(interop_servers: InteropServers) -> None:
    server = await interop_servers.ws()
    process_pid = server.pid
    server.freeze()
    with trio.fail_after(server.spec.stop_timeout - 1):
        await server.stop()
    # 0 = the server's own SIGTERM handler ran, so it was thawed (not SIGKILLed).
    assert server._run is not None
    assert server._run.process.returncode == 0
    assert not server.running
    assert not server.frozen
    with pytest.raises(ProcessLookupError):
        os.kill(process_pid, 0)
    await server.stop()  # idempotent


async def test_kill_is_a_crash_and_restart_reuses_the_port(
    interop_servers: InteropServers,
) -> None:
    server = await interop_servers.websockets(ping_interval=QUIET)
    port = server.port
    with trio.fail_after(10):
        async with open_raw_websocket(server.url) as raw:
            await server.kill()
            assert server._run is not None
            assert server._run.process.returncode == -9
            # A crash: no close frame, the stream just ends.
            assert await raw.next_event() is None
        with pytest.raises(InteropServerError):
            server.freeze()
        await server.start()
        assert server.port == port
        async with open_raw_websocket(server.url) as raw:
            await raw.send_text("back")
            assert await raw.next_text() == "back"


async def test_start_reports_a_server_that_dies(interop_servers: InteropServers) -> None:
    with trio.fail_after(10), pytest.raises(InteropServerError, match="bad argument"):
        await interop_servers.ws(extra_args=["--bogus", "1"])


async def test_start_gives_up_on_a_silent_process(interop_servers: InteropServers) -> None:
    spec = ServerSpec(
        name="mute",
        argv_for_port=lambda port: ["sleep", "30"],
        url_for_port=lambda port: f"ws://127.0.0.1:{port}/",
        ready_timeout=0.3,
    )
    with trio.fail_after(5), pytest.raises(InteropServerError, match="did not print LISTENING"):
        await interop_servers.start(spec)


def test_missing_install_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="lacks ws, sockjs"):
        require_node(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_node(tmp_path)
    require(True, "never shown")


# -- heartbeats driven from argv ---------------------------------------------------


async def test_ws_terminates_a_client_that_does_not_pong(interop_servers: InteropServers) -> None:
    interval = 0.3
    server = await interop_servers.ws(heartbeat_interval=interval)
    with trio.fail_after(10):
        async with open_websocket_url(server.url, disconnect_timeout=2) as polite:
            good = (await server.wait_event("connect"))["client"]
            async with open_raw_websocket(server.url) as silent:
                bad = (await server.wait_event("connect", where=lambda e: e["client"] != good))[
                    "client"
                ]
                started = trio.current_time()
                terminated = await server.wait_event("terminate")
                # Round 1 pings, round 2 finds no pong: between 1 and 2 intervals (+ slack).
                assert interval * 0.8 <= trio.current_time() - started <= 3 * interval + 1
                assert terminated["client"] == bad
                # terminate() destroys the socket: no close frame, just the end.
                events = [await silent.next_event() for _ in range(4)]
                assert events[-1] is None, events
                assert any(isinstance(e, wsproto.events.Ping) for e in events), events
            # The client that answers pings survives the same rounds.
            await polite.send_message("still here")
            assert await polite.get_message() == "still here"
    assert any(e["client"] == good for e in server.events("pong"))
    assert [e["client"] for e in server.events("terminate")] == [bad]


@pytest.mark.parametrize("mode", ["engine.io", "socket.io"])
async def test_engineio_closes_a_client_that_does_not_pong(
    mode: str, interop_servers: InteropServers
) -> None:
    start = interop_servers.engineio if mode == "engine.io" else interop_servers.socketio
    server = await start(ping_interval=0.3, ping_timeout=0.3)
    with trio.fail_after(10):
        async with (
            open_raw_websocket(server.url) as polite,
            open_raw_websocket(server.url) as silent,
        ):
            sids = []
            for raw in (polite, silent):
                frame = await raw.next_text()
                assert frame.startswith("0"), frame
                handshake = json.loads(frame[1:])
                # WebSocket-only client: no upgrades offered, settings from argv in ms.
                assert handshake["upgrades"] == []
                assert handshake["pingInterval"] == 300
                assert handshake["pingTimeout"] == 300
                sids.append(handshake["sid"])
                if mode == "socket.io":
                    await raw.send_text("40")
                    assert (await raw.next_text()).startswith('40{"sid":')

            answered_three = trio.Event()

            async def answer_pings(task_status: trio.TaskStatus[None]) -> None:
                task_status.started()
                for _ in range(3):
                    frame = await polite.next_text()
                    assert frame == "2", frame
                    await polite.send_text("3")
                answered_three.set()

            async with trio.open_nursery() as nursery:
                await nursery.start(answer_pings)
                closed = await server.wait_event("close")
                assert closed["sid"] == sids[1]
                assert closed["reason"] == "ping timeout"
                assert closed["t"] - server.events("connect")[-1]["t"] < 2.0
                # The silent client's socket ends (a close frame may come first).
                event = await silent.next_event()
                while event is not None and not isinstance(event, wsproto.events.CloseConnection):
                    event = await silent.next_event()
                # The polite client lives on through more rounds.
                await answered_three.wait()
    assert [e["sid"] for e in server.events("close")] == [sids[1]]


async def test_websockets_keepalive_closes_a_silent_client_with_1011(
    interop_servers: InteropServers,
) -> None:
    server = await interop_servers.websockets(ping_interval=0.3, ping_timeout=0.3)
    with trio.fail_after(10):
        async with open_websocket_url(server.url, disconnect_timeout=2) as polite:
            async with open_raw_websocket(server.url) as silent:
                seen: list[wsproto.events.Event] = []
                while not seen or not isinstance(seen[-1], wsproto.events.CloseConnection):
                    event = await silent.next_event()
                    assert event is not None, seen
                    seen.append(event)
                assert isinstance(seen[0], wsproto.events.Ping)
                close = seen[-1]
                assert isinstance(close, wsproto.events.CloseConnection)
                assert (close.code, close.reason) == (1011, "keepalive ping timeout")
            closed = await server.wait_event("close", where=lambda e: e["code_sent"] == 1011)
            assert closed["reason_sent"] == "keepalive ping timeout"
            await polite.send_message("still here")
            assert await polite.get_message() == "still here"


async def test_sockjs_heartbeat_is_a_websocket_ping(interop_servers: InteropServers) -> None:
    delay = 0.3
    server = await interop_servers.sockjs(heartbeat_delay=delay)
    with trio.fail_after(10):
        async with open_raw_websocket(server.url) as raw:
            raw.answer_pings = True
            assert await raw.next_text() == "o"
            await raw.send_text('["hello"]')
            assert await raw.next_text() == 'a["hello"]'
            ping_times: list[float] = []
            while len(ping_times) < 3:
                event = await raw.next_event()
                # sockjs-node's WebSocket heartbeat is an RFC 6455 ping, never an "h" frame.
                assert isinstance(event, wsproto.events.Ping), event
                ping_times.append(trio.current_time())
            gaps = [b - a for a, b in itertools.pairwise(ping_times)]
            assert all(delay * 0.7 <= gap <= delay * 3 for gap in gaps), gaps
            await raw.send_text("not json")
            event = await raw.next_event()
            while isinstance(event, wsproto.events.Ping):
                event = await raw.next_event()
            # A WebSocket close frame, not a SockJS c[...] frame.
            assert event == wsproto.events.CloseConnection(code=3000, reason="Broken framing.")
    assert server.events("close")


async def _raw_roundtrip(raw: RawWebSocket, text: str) -> str:
    await raw.send_text(text)
    return await raw.next_text()


async def test_fixtures_yield_running_servers(
    ws_server: ServerProcess,
    sockjs_server: ServerProcess,
    engineio_server: ServerProcess,
    socketio_server: ServerProcess,
    websockets_server: ServerProcess,
) -> None:
    servers = [ws_server, sockjs_server, engineio_server, socketio_server, websockets_server]
    assert len({s.port for s in servers}) == len(servers)
    assert sockjs_server.url != sockjs_server.url  # a fresh session per read
    with trio.fail_after(10):
        for server in servers:
            assert server.running
            assert server.url.startswith(f"ws://127.0.0.1:{server.port}/")
            assert (await server.wait_event("config"))["run"] == 0
        for server in (ws_server, websockets_server):
            async with open_raw_websocket(server.url) as raw:
                assert await _raw_roundtrip(raw, "ping?") == "ping?"
