"""Every fault through the real TCP proxy on 127.0.0.1, in real time.

Upstream is a trio-websocket server (``serve_websocket`` on port 0) or a raw TCP
server (the proxy fronts any server). Steps are ordered with the switchboard's
``wait_until`` (the proxy has read, dropped or written the bytes), never with
sleeps; every test is bounded by ``fail_after`` with generous limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
    wrap_client_stream,
)

from trio_heartbeat.testing._faults import Direction, Faults
from trio_heartbeat.testing._proxy import FaultProxy, open_fault_proxy, serve_fault_proxy

pytestmark = pytest.mark.loopback

BOUND = 10.0  # seconds of real time per test; each normally takes milliseconds
HOST = "127.0.0.1"


class EchoServer:
    """trio-websocket echo handler that records what it received."""

    def __init__(self) -> None:
        self.handled = 0
        self.received: list[str | bytes] = []
        self.connections: list[WebSocketConnection] = []

    async def handle(self, request: WebSocketRequest) -> None:
        self.handled += 1
        ws = await request.accept()
        self.connections.append(ws)
        try:
            while True:
                message = await ws.get_message()
                self.received.append(message)
                await ws.send_message(message)
        except ConnectionClosed:
            pass


class RawServer:
    """A plain TCP server that keeps every accepted stream for the test."""

    def __init__(self) -> None:
        self.streams: list[trio.SocketStream] = []

    async def handle(self, stream: trio.SocketStream) -> None:
        self.streams.append(stream)
        await trio.sleep_forever()


class Stack:
    """An echo server behind a proxy, and the clients a test opened."""

    def __init__(self, server: EchoServer, proxy: FaultProxy, nursery: trio.Nursery) -> None:
        self.server = server
        self.proxy = proxy
        self.nursery = nursery
        self.streams: list[trio.SocketStream] = []

    async def connect(self, nursery: trio.Nursery | None = None) -> WebSocketConnection:
        """A trio-websocket client through the proxy; its socket is closed at the end."""
        stream = await trio.open_tcp_stream(HOST, self.proxy.port)
        self.streams.append(stream)
        with trio.fail_after(5):  # wrap_client_stream's handshake has no deadline of its own
            return await wrap_client_stream(nursery or self.nursery, stream, HOST, "/")


@asynccontextmanager
async def echo_behind_proxy() -> AsyncIterator[Stack]:
    server = EchoServer()
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            ws_server: WebSocketServer = await nursery.start(
                partial(serve_websocket, server.handle, HOST, 0, None, disconnect_timeout=1.0)
            )
            proxy: FaultProxy = await nursery.start(
                partial(serve_fault_proxy, HOST, ws_server.port, faults=Faults())
            )
            stack = Stack(server, proxy, nursery)
            try:
                yield stack
            finally:
                nursery.cancel_scope.cancel()
                for stream in stack.streams:
                    await trio.aclose_forcefully(stream)


@asynccontextmanager
async def raw_behind_proxy() -> AsyncIterator[tuple[RawServer, FaultProxy]]:
    server = RawServer()
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host=HOST))
            port = listeners[0].socket.getsockname()[1]
            async with open_fault_proxy(HOST, port) as proxy:
                yield server, proxy
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def raw_connect(
    server: RawServer, proxy: FaultProxy
) -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """A raw TCP client through the proxy, and the upstream's end; closed on exit."""
    async with await trio.open_tcp_stream(HOST, proxy.port) as client:
        await client.send_all(b"hello upstream")
        await proxy.faults.wait_until(lambda f: f.connections[-1].bytes_to_server == 14)
        upstream = server.streams[-1]
        assert await upstream.receive_some() == b"hello upstream"
        yield client, upstream


async def test_relays_and_reports_connections() -> None:
    async with echo_behind_proxy() as stack:
        server, proxy = stack.server, stack.proxy
        ws = await stack.connect()
        await ws.send_message("hello")
        assert await ws.get_message() == "hello"
        (stats,) = proxy.connections
        assert stats.is_open and stats.handshake_completed and stats.admission == "relayed"
        assert stats.bytes_to_server > 11 and stats.bytes_to_client > 7
        assert server.received == ["hello"]
        await ws.aclose()
        await proxy.faults.wait_until(lambda f: not f.connections[0].is_open)
        assert proxy.connections[0].ending in ("eof", "error")


async def test_latency_delays_round_trip() -> None:
    async with echo_behind_proxy() as stack:
        proxy = stack.proxy
        ws = await stack.connect()
        proxy.faults.set_latency(0.2)
        start = trio.current_time()
        await ws.send_message("slow")
        assert await ws.get_message() == "slow"
        elapsed = trio.current_time() - start
        assert 0.4 <= elapsed < 3.0


async def test_black_hole_is_half_open_and_final() -> None:
    async with echo_behind_proxy() as stack:
        server, proxy = stack.server, stack.proxy
        ws = await stack.connect()
        faults = proxy.faults
        faults.black_hole()
        await ws.send_message("lost")
        await faults.wait_until(lambda f: f.connections[0].bytes_black_holed_to_server == 10)
        await server.connections[0].send_message("pushed")
        await faults.wait_until(lambda f: f.connections[0].bytes_black_holed_to_client == 8)
        assert server.received == [] and proxy.connections[0].is_open
        faults.heal()
        await ws.send_message("after")
        assert await ws.get_message() == "after"  # "pushed" was dropped, not delayed
        assert server.received == ["after"]


async def test_one_way_black_hole_to_client() -> None:
    async with echo_behind_proxy() as stack:
        server, proxy = stack.server, stack.proxy
        ws = await stack.connect()
        proxy.faults.black_hole(Direction.TO_CLIENT)
        await ws.send_message("up")
        await proxy.faults.wait_until(lambda f: f.connections[0].bytes_black_holed_to_client == 4)
        assert server.received == ["up"]  # arrived, and its echo was swallowed


async def test_drop_heartbeats_keeps_data_flowing() -> None:
    async with echo_behind_proxy() as stack:
        proxy = stack.proxy
        ws = await stack.connect()
        proxy.faults.drop_heartbeats(Direction.TO_CLIENT)
        pong_seen = trio.Event()

        async def ping() -> None:
            await ws.ping(b"nonce-1")
            pong_seen.set()

        stack.nursery.start_soon(ping)
        await proxy.faults.wait_until(lambda f: f.connections[0].heartbeats_dropped_to_client == 1)
        await ws.send_message("data")  # sent after the pong, so it arrives after it would have
        assert await ws.get_message() == "data"
        assert not pong_seen.is_set()
        proxy.faults.heal()
        with trio.fail_after(5):
            await ws.ping(b"nonce-2")  # a pong now gets through; it wakes the older ping too
            await pong_seen.wait()


async def test_close_with_code_and_reason() -> None:
    async with echo_behind_proxy() as stack:
        proxy = stack.proxy
        ws = await stack.connect()
        proxy.faults.close(4000, "maintenance", grace_delay=0.5)
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason is not None
        assert (info.value.reason.code, info.value.reason.reason) == (4000, "maintenance")
        await proxy.faults.wait_until(lambda f: not f.connections[0].is_open)
        assert proxy.connections[0].ending == "closed"


async def test_drop_sends_fin() -> None:
    async with (
        raw_behind_proxy() as (server, proxy),
        raw_connect(server, proxy) as (client, upstream),
    ):
        proxy.faults.drop()
        assert await client.receive_some() == b""
        assert await upstream.receive_some() == b""
        assert proxy.connections[0].ending == "dropped"


async def test_abort_sends_reset() -> None:
    async with (
        raw_behind_proxy() as (server, proxy),
        raw_connect(server, proxy) as (client, upstream),
    ):
        proxy.faults.abort()
        with pytest.raises(trio.BrokenResourceError):
            await client.receive_some()
        with pytest.raises(trio.BrokenResourceError):
            await upstream.receive_some()
        assert proxy.connections[0].ending == "aborted"


async def test_abort_seen_by_websocket_client() -> None:
    async with echo_behind_proxy() as stack:
        proxy = stack.proxy
        ws = await stack.connect()
        proxy.faults.abort()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason is not None and info.value.reason.code == 1006


async def test_refuse_closes_at_once_without_upstream() -> None:
    async with raw_behind_proxy() as (server, proxy):
        proxy.faults.refuse_handshakes(count=1)
        async with await trio.open_tcp_stream(HOST, proxy.port) as client:
            assert await client.receive_some() == b""
        assert server.streams == [] and proxy.connections[0].admission == "refused"
        async with raw_connect(server, proxy):  # the count is used up
            pass
        assert [c.admission for c in proxy.connections] == ["refused", "relayed"]


async def test_reject_with_status_and_retry_after() -> None:
    async with echo_behind_proxy() as stack:
        server, proxy = stack.server, stack.proxy
        proxy.faults.reject_handshakes(503, retry_after=5, duration=60.0)
        # (open_websocket would do, but it leaks its socket on ConnectionRejected.)
        with pytest.RaisesGroup(pytest.RaisesExc(ConnectionRejected)) as group:
            async with trio.open_nursery() as nursery:
                await stack.connect(nursery)
        rejected = group.value.exceptions[0]
        assert isinstance(rejected, ConnectionRejected) and rejected.status_code == 503
        assert rejected.headers is not None and (b"retry-after", b"5") in rejected.headers
        assert server.handled == 0 and proxy.connections[0].ending == "rejected"


async def test_close_after_handshake() -> None:
    async with echo_behind_proxy() as stack:
        proxy = stack.proxy
        proxy.faults.close_after_handshake()
        ws = await stack.connect()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason is not None and info.value.reason.code == 1006
        (stats,) = proxy.connections
        assert stats.handshake_completed and stats.admission == "closed_after_handshake"


async def test_trickle_limits_rate() -> None:
    async with echo_behind_proxy() as stack:
        proxy = stack.proxy
        ws = await stack.connect()
        proxy.faults.trickle(2000, Direction.TO_CLIENT)
        start = trio.current_time()
        await ws.send_message(b"x" * 1000)
        assert await ws.get_message() == b"x" * 1000
        # 1004 bytes in 200-byte slices, 0.1 s apart: the last slice leaves at 0.5 s.
        assert 0.45 <= trio.current_time() - start < 5.0


async def test_upstream_down_closes_client() -> None:
    listener = trio.socket.socket()
    await listener.bind((HOST, 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with trio.fail_after(BOUND):
        async with open_fault_proxy(HOST, port) as proxy:
            async with await trio.open_tcp_stream(HOST, proxy.port) as client:
                assert await client.receive_some() == b""
            await proxy.faults.wait_until(lambda f: not f.connections[0].is_open)
            (stats,) = proxy.connections
            assert stats.ending == "error" and stats.upstream_error is not None
