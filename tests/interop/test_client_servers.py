"""trio_heartbeat's clients and adapters against real third-party servers.

Each test: connect, exchange messages, stay alive through several heartbeat
rounds, detect a frozen server (SIGSTOP, socket open) within the configured
bound, and reconnect after SIGCONT or a restart.
"""

from __future__ import annotations

import functools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

import trio_heartbeat as th
from tests.interop.conftest import InteropServers, ServerProcess
from trio_heartbeat.adapters.engineio import open_engineio
from trio_heartbeat.adapters.socketio import open_socketio
from trio_heartbeat.adapters.sockjs import open_sockjs, sockjs_heartbeat, sockjs_url

pytestmark = pytest.mark.interop

SLACK = 1.0  # scheduling slack on top of a configured bound (real processes, real time)
POLICY = th.ReconnectPolicy.fixed(0.2, min_uptime=0.5)
OPTIONS = th.ConnectionOptions(connect_timeout=1.0)


async def next_change(ws: th.ManagedWebSocket, kind: type[th.StateChange]) -> th.StateChange:
    """The next state change of type ``kind`` (others skipped); bound it with fail_after."""
    while True:
        event = await ws.state_changes.receive()
        if isinstance(event, kind):
            return event


async def freeze_detect_thaw(ws: th.ManagedWebSocket, server: ServerProcess, bound: float) -> None:
    """Freeze the server; the link must die of silence within ``bound`` s; thaw; reconnect."""
    await ws.wait_connected()
    while True:  # forget older changes
        try:
            ws.state_changes.receive_nowait()
        except trio.WouldBlock:
            break
    server.freeze()
    frozen_at = trio.current_time()
    lost = await next_change(ws, th.Disconnected)
    assert isinstance(lost, th.Disconnected)
    assert isinstance(lost.cause, th.PeerUnresponsive), lost.cause
    assert trio.current_time() - frozen_at <= bound + SLACK
    server.thaw()
    await next_change(ws, th.Connected)


async def test_ws_server_heartbeat_rounds_freeze_and_thaw(
    interop_servers: InteropServers,
) -> None:
    server = await interop_servers.ws(heartbeat_interval=0.2)
    with trio.fail_after(15):
        async with th.open_managed_websocket(
            server.url,
            heartbeat=th.Heartbeat.ping(interval=0.3, reply_timeout=0.5),
            reconnect=POLICY,
            options=OPTIONS,
        ) as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"
            client = (await server.wait_event("connect"))["client"]
            for _ in range(5):  # five server ping rounds answered by our side
                await server.wait_event(
                    "pong", where=lambda e: e["client"] == client, start=len(server.events())
                )
            await freeze_detect_thaw(ws, server, 0.3 + 0.5)
            await ws.send("back")
            assert await ws.receive() == "back"
    assert not [e for e in server.events("terminate") if e["client"] == client]


async def test_talo_preset_against_the_ws_echo_server(interop_servers: InteropServers) -> None:
    server = await interop_servers.ws(heartbeat_interval=30.0)
    with trio.fail_after(10):
        async with th.open_managed_websocket(
            server.url,
            heartbeat=th.Heartbeat.talo(interval=0.2, reply_timeout=0.5),
            reconnect=POLICY,
            options=OPTIONS,
        ) as ws:
            await ws.send("data")
            assert await ws.receive() == "data"  # the echoed heartbeats never show up here
            await trio.sleep(1.0)
            await ws.send("more")
            assert await ws.receive() == "more"
            stats = ws.statistics()
    assert stats.heartbeats_answered >= 3 and stats.rtt_last is not None


class BlackHoleRelay:
    """A TCP relay on 127.0.0.1 that can stop forwarding (both ways) without closing."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.holed = trio.Event()

    async def _pipe(self, src: trio.SocketStream, dst: trio.SocketStream) -> None:
        while True:
            data = await src.receive_some(65536)
            if self.holed.is_set():
                await trio.sleep_forever()  # a black hole: never forward, never close
            if not data:
                return
            await dst.send_all(data)

    async def _handle(self, client: trio.SocketStream) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with client, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(self._pipe, client, upstream)
            nursery.start_soon(self._pipe, upstream, client)

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[BlackHoleRelay]:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1")
            )
            self.port = listeners[0].socket.getsockname()[1]
            yield self
            nursery.cancel_scope.cancel()


async def test_ws_server_terminates_a_black_holed_client(interop_servers: InteropServers) -> None:
    interval = 0.3
    server = await interop_servers.ws(heartbeat_interval=interval)
    with trio.fail_after(15):
        async with (
            BlackHoleRelay(server.port).serve() as relay,
            th.open_managed_websocket(
                f"ws://127.0.0.1:{relay.port}/",
                heartbeat=th.Heartbeat.ping(interval=0.3, reply_timeout=0.5),
                reconnect=th.ReconnectPolicy.never(),
            ) as ws,
        ):
            await ws.send("hi")
            assert await ws.receive() == "hi"
            client = (await server.wait_event("connect"))["client"]
            relay.holed.set()
            terminated = await server.wait_event("terminate")
            assert terminated["client"] == client
            # Our side found the silence too, by its own deadline.
            with pytest.raises(th.ReconnectGaveUp) as info:
                await ws.receive()
            assert isinstance(info.value.last_error, th.PeerUnresponsive)


async def test_sockjs_server_echo_freeze_and_thaw(interop_servers: InteropServers) -> None:
    server = await interop_servers.sockjs(heartbeat_delay=0.3)
    base = f"ws://127.0.0.1:{server.port}/echo"
    with trio.fail_after(20):
        async with open_sockjs(
            sockjs_url(base, rng=random.Random(5)),
            heartbeat=sockjs_heartbeat(interval=0.3, reply_timeout=0.5),
            reconnect=POLICY,
            options=th.ConnectionOptions(send_batch_size=4, connect_timeout=1.0),
            open_timeout=1.0,
        ) as ws:
            for text in ("a", "b", "c"):
                ws.send_nowait(text)
            assert [await ws.receive() for _ in range(3)] == ["a", "b", "c"]
            await trio.sleep(1.2)  # several server ping rounds
            await freeze_detect_thaw(ws, server, 0.3 + 0.5)
            await ws.send("after thaw")
            assert await ws.receive() == "after thaw"
            assert ws.statistics().protocol_errors == 0


async def test_engineio_server_echo_freeze_and_restart(interop_servers: InteropServers) -> None:
    server = await interop_servers.engineio(ping_interval=0.3, ping_timeout=0.3)
    with trio.fail_after(20):
        async with open_engineio(
            server.url,
            ping_interval=0.3,
            ping_timeout=0.3,
            reconnect=POLICY,
            options=OPTIONS,
            open_timeout=1.0,
        ) as eio:
            await eio.send("text")
            await eio.send(b"\x00\x01")
            assert await eio.receive() == "text"
            assert await eio.receive() == b"\x00\x01"
            assert eio.open_packet is not None and eio.open_packet.ping_interval == 0.3
            await trio.sleep(1.5)  # five ping rounds
            assert eio.ws.state == "connected"
            assert not server.events("close")
            await freeze_detect_thaw(eio.ws, server, 0.6)
            first_sid = eio.open_packet.sid
            await server.restart()
            await next_change(eio.ws, th.Connected)
            await eio.send("after restart")
            assert await eio.receive() == "after restart"
            assert eio.open_packet.sid != first_sid


async def test_socketio_server_events_acks_freeze_and_restart(
    interop_servers: InteropServers,
) -> None:
    server = await interop_servers.socketio(ping_interval=0.3, ping_timeout=0.3)
    with trio.fail_after(20):
        async with open_socketio(
            server.url,
            ping_interval=0.3,
            ping_timeout=0.3,
            reconnect=POLICY,
            options=OPTIONS,
            open_timeout=1.0,
        ) as sio:
            await sio.emit("echo", "hi", {"n": 1})
            event = await sio.next_event()
            assert (event.name, event.args) == ("echo", ("hi", {"n": 1}))
            assert await sio.call("sum", 1, 2) == (1, 2)
            await trio.sleep(1.5)
            await freeze_detect_thaw(sio.ws, server, 0.6)
            assert await sio.call("again", "x") == ("x",)
            await server.restart()
            await next_change(sio.ws, th.Connected)
            assert await sio.call("restarted") == ()
    assert {e["run"] for e in server.events("connect")} == {0, 1}


async def test_websockets_server_keepalive_freeze_and_restart(
    interop_servers: InteropServers,
) -> None:
    server = await interop_servers.websockets(ping_interval=0.3, ping_timeout=0.3)
    with trio.fail_after(25):
        async with th.open_managed_websocket(
            server.url,
            heartbeat=th.Heartbeat.ping(interval=0.3, reply_timeout=0.5),
            reconnect=POLICY,
            options=OPTIONS,
        ) as ws:
            await ws.send("one")
            assert await ws.receive() == "one"
            await trio.sleep(1.5)  # the server's keepalive pings are answered
            assert ws.statistics().connects == 1
            await freeze_detect_thaw(ws, server, 0.8)
            await server.restart()
            await next_change(ws, th.Connected)
            await ws.send("two")
            assert await ws.receive() == "two"
    assert not server.events("close") or all(
        e.get("code_sent") != 1011 for e in server.events("close") if e["run"] == 1
    )
