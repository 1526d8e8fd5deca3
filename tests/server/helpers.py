"""Helpers for the server tests over in-memory streams (virtual time, no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio
import trio.testing
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketConnection

from trio_heartbeat.errors import ConnectionLost
from trio_heartbeat.server import (
    HeartbeatServer,
    ServerClient,
    ServerHeartbeat,
    open_heartbeat_server,
)


class NetStream(trio.abc.Stream):
    """One end of an in-memory link with fault switches.

    ``delay``: every write is delivered that many seconds late (virtual time).
    ``cut()``: a black hole -- reads hang, writes vanish (half-open TCP).
    ``stall()``: writes block forever (the peer's receive window is full).
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.delay = 0.0
        self.is_cut = False
        self.is_stalled = False

    def cut(self) -> None:
        self.is_cut = True

    def stall(self) -> None:
        self.is_stalled = True

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.is_stalled:
            await trio.sleep_forever()
        if self.delay:
            await trio.sleep(self.delay)
        if self.is_cut:
            await trio.lowlevel.checkpoint()
            return
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        if self.is_cut:
            await trio.sleep_forever()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


class Peer:
    """A trio-websocket client connected to the server through NetStreams."""

    def __init__(self, conn: WebSocketConnection, client_side: NetStream, server_side: NetStream):
        self.conn = conn
        self.net = client_side
        self.server_net = server_side


async def connect(
    server: HeartbeatServer,
    nursery: trio.Nursery,
    path: str = "/",
    *,
    pair: Callable[[], tuple[trio.abc.Stream, trio.abc.Stream]] = trio.testing.memory_stream_pair,
    **client: object,
) -> Peer:
    """A trio-websocket client of ``server``; ``pair`` makes the two stream ends
    (``trio.testing.lockstep_stream_pair``: writes block until the peer reads),
    ``client`` goes to ``wrap_client_stream`` (subprotocols, message_queue_size...)."""
    client_stream, server_stream = pair()
    client_side, server_side = NetStream(client_stream), NetStream(server_stream)
    nursery.start_soon(server.handle_stream, server_side)
    conn = await trio_websocket.wrap_client_stream(
        nursery,
        client_side,  # type: ignore[arg-type]  # any trio Stream works
        "localhost",
        path,
        **client,  # type: ignore[arg-type]
    )
    await trio.testing.wait_all_tasks_blocked()
    return Peer(conn, client_side, server_side)


def dialer(
    server: HeartbeatServer, nursery: trio.Nursery
) -> Callable[[], Awaitable[trio.abc.Stream]]:
    """A ``dial`` for ``open_managed_websocket``: each call is a new in-memory
    client of ``server``."""

    async def dial() -> trio.abc.Stream:
        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(server.handle_stream, server_stream)
        return client_stream

    return dial


async def closed_reason(conn: WebSocketConnection) -> tuple[int, str | None]:
    """Drain messages until the connection closes; return (code, reason)."""
    with trio.fail_after(100):
        while True:
            try:
                await conn.get_message()
            except ConnectionClosed as exc:
                assert exc.reason is not None
                return exc.reason.code, exc.reason.reason


async def nothing_more(conn: WebSocketConnection) -> bool:
    """True if no message arrives within 1 virtual second."""
    with trio.move_on_after(1):
        await conn.get_message()
        return False
    return True


async def answer_heartbeats(
    conn: WebSocketConnection,
    ping: str | bytes,
    pong: str | bytes,
    until: float,
    log: list[str | bytes],
) -> None:
    """Echo the application heartbeat while ``trio.current_time() < until``."""
    while True:
        try:
            message = await conn.get_message()
        except ConnectionClosed:
            return
        if message == ping:
            if trio.current_time() < until:
                await conn.send_message(pong)
        else:
            log.append(message)


class Ends:
    """Handler that records how and when each client's message stream ended."""

    def __init__(self) -> None:
        self.messages: dict[int, list[str | bytes]] = {}
        self.ended: dict[int, tuple[float, ConnectionLost]] = {}

    async def __call__(self, client: ServerClient) -> None:
        box = self.messages.setdefault(client.id, [])
        while True:
            try:
                box.append(await client.receive())
            except ConnectionLost as exc:
                self.ended[client.id] = (trio.current_time(), exc)
                return


@asynccontextmanager
async def running(
    handler: Callable[[ServerClient], object], heartbeat: ServerHeartbeat, **kwargs: object
) -> AsyncIterator[tuple[HeartbeatServer, trio.Nursery]]:
    async with trio.open_nursery() as nursery:
        async with open_heartbeat_server(handler, heartbeat=heartbeat, **kwargs) as server:  # type: ignore[arg-type]
            yield server, nursery
        nursery.cancel_scope.cancel()
