"""HeartbeatServer on real sockets (127.0.0.1, port 0, real time, bounded)."""

from __future__ import annotations

import base64
import itertools
import os
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket, wrap_client_stream

from trio_heartbeat.server import (
    HeartbeatServer,
    ServerClient,
    ServerHeartbeat,
    ServerOptions,
    open_heartbeat_server,
    serve_heartbeat,
)

pytestmark = pytest.mark.loopback


async def test_serve_broadcast_and_ping_rtt() -> None:
    servers: list[HeartbeatServer] = []
    joined: list[int] = []
    both_joined = trio.Event()

    async def chat(client: ServerClient) -> None:
        joined.append(client.id)
        if len(joined) == 2:
            both_joined.set()
        async for message in client:
            await servers[0].broadcast(message, exclude=client.id)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server: HeartbeatServer = await nursery.start(
                partial(serve_heartbeat, chat, "127.0.0.1", 0, heartbeat=ServerHeartbeat.ping(0.2))
            )
            servers.append(server)
            assert server.port > 0
            async with (
                open_websocket("127.0.0.1", server.port, "/room", use_ssl=False) as a,
                open_websocket("127.0.0.1", server.port, "/room", use_ssl=False) as b,
            ):
                await both_joined.wait()
                await a.send_message("hello")
                assert await b.get_message() == "hello"
                # trio-websocket clients answer pings by themselves: RTTs get measured
                for _ in range(200):  # bounded by fail_after too
                    if all(info.rtt is not None for info in server.clients()):
                        break
                    await trio.sleep(0.05)
                infos = server.clients()
                assert [info.path for info in infos] == ["/room", "/room"]
                assert all((info.remote or "").startswith("127.0.0.1:") for info in infos)
                assert all(0.0 <= (info.rtt or 0.0) < 0.2 for info in infos)
                assert server.statistics().terminated == 0
            nursery.cancel_scope.cancel()


async def test_silent_peer_is_aborted_within_two_intervals() -> None:
    async def idle(client: ServerClient) -> None:
        await trio.sleep_forever()

    heartbeat = ServerHeartbeat.ping(0.2, any_traffic_proves_life=False)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server: HeartbeatServer = await nursery.start(
                partial(serve_heartbeat, idle, "127.0.0.1", 0, heartbeat=heartbeat)
            )
            # a raw client: completes the upgrade, then never answers a ping
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            key = base64.b64encode(b"0123456789abcdef")
            await stream.send_all(
                b"GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            start = trio.current_time()
            received = bytearray()
            for _ in range(1000):
                chunk = await stream.receive_some()
                if not chunk:
                    break
                received += chunk
            elapsed = trio.current_time() - start
            assert received.startswith(b"HTTP/1.1 101")
            assert b"\x89" in received  # a ping frame came before the end
            assert b"\x88" not in received  # aborted: no close frame, no 60 s handshake
            assert elapsed < 1.5
            stats = server.statistics()
            assert (stats.terminated, stats.clients) == (1, 0)
            await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_open_heartbeat_server_listens_and_closes_clients_on_exit() -> None:
    async def echo(client: ServerClient) -> None:
        async for message in client:
            await client.send(message)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async with open_heartbeat_server(
                echo, "127.0.0.1", 0, heartbeat=ServerHeartbeat.binary(0.5)
            ) as server:
                ws = await nursery.start(_client, server.port)
                await ws.send_message(b"\x01")  # an unsolicited answer: swallowed
                await ws.send_message("ping me back")
                assert await ws.get_message() == "ping me back"
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(100):  # heartbeats (b"\x01") may still be queued
                    await ws.get_message()
            assert info.value.reason is not None
            assert info.value.reason.code == 1001
            assert server.statistics().heartbeat_answers >= 1
            nursery.cancel_scope.cancel()


async def _client(port: int, *, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
    # Own the socket: trio-websocket's open_websocket never closes it when the
    # server closes first (aclose() returns early once a close reason is set).
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream, trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/")
        task_status.started(ws)
        await trio.sleep_forever()


UPGRADE = (
    b"GET /stuck HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def _upgraded_raw_socket(port: int) -> trio.socket.SocketType:
    """A client with a tiny receive buffer that completes the upgrade, then never reads."""
    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    await sock.send(UPGRADE)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = await sock.recv(1024)
        assert chunk
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 101")
    return sock


async def test_a_client_that_never_reads_does_not_delay_broadcasts_over_tcp() -> None:
    count, size = 800, 16 * 1024  # 12.8 MB: more than the kernel buffers hold
    joined = trio.Event()

    async def idle(client: ServerClient) -> None:
        if client.id == 4:
            joined.set()
        await trio.sleep_forever()

    options = ServerOptions(send_timeout=5.0)
    with trio.fail_after(60):
        async with (
            trio.open_nursery() as nursery,
            open_heartbeat_server(idle, "127.0.0.1", 0, options=options) as server,
        ):
            healthy = [await nursery.start(_client, server.port) for _ in range(3)]
            stuck = await _upgraded_raw_socket(server.port)
            await joined.wait()
            arrivals: list[list[float]] = [[], [], []]

            async def read(ws: WebSocketConnection, times: list[float]) -> None:
                for _ in range(count):
                    await ws.get_message()
                    times.append(trio.current_time())

            async with trio.open_nursery() as readers:
                for ws, times in zip(healthy, arrivals, strict=True):
                    readers.start_soon(read, ws, times)
                start = trio.current_time()
                for _ in range(count):
                    await server.broadcast(b"x" * size)
                    await trio.sleep(0.002)
            gaps = [
                max(b - a for a, b in itertools.pairwise([start, *times])) for times in arrivals
            ]
            # before per-client queues every healthy client waited send_timeout (5 s)
            assert max(gaps) < 2.0, gaps
            stats = server.statistics()
            assert stats.dropped == 1  # the stuck one, as its queue filled
            assert [info.path for info in server.clients()] == ["/", "/", "/"]
            stuck.close()
            nursery.cancel_scope.cancel()


async def test_rapid_connect_close_frees_every_socket_at_once() -> None:
    async def idle(client: ServerClient) -> None:
        await trio.sleep_forever()

    options = ServerOptions(handshake_timeout=30.0)
    with trio.fail_after(20):
        async with open_heartbeat_server(idle, "127.0.0.1", 0, options=options) as server:
            fds_before = _open_fds()
            start = trio.current_time()
            for _ in range(200):
                stream = await trio.open_tcp_stream("127.0.0.1", server.port)
                await stream.aclose()
            for _ in range(1000):  # bounded
                stats = server.statistics()
                if stats.handshake_failures == 200:
                    break
                await trio.sleep(0.01)
            assert (stats.handshake_failures, stats.handshaking) == (200, 0)
            assert trio.current_time() - start < 10.0  # not handshake_timeout (30 s)
            assert _open_fds() <= fds_before + 2


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
