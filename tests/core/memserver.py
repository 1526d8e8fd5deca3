"""A tiny in-memory WebSocket server for the core tests (no sockets, exact virtual time)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import trio.testing
import trio_websocket

Handler = Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]


class FreezableStream(trio.abc.Stream):
    """Server-side stream wrapper: when frozen, bytes stop both ways (half-open)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.frozen = False
        self._thaw = trio.Event()

    def freeze(self) -> None:
        self.frozen = True
        self._thaw = trio.Event()

    def thaw(self) -> None:
        self.frozen = False
        self._thaw.set()

    async def _wait_thawed(self) -> None:
        while self.frozen:
            await self._thaw.wait()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._wait_thawed()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        await self._wait_thawed()
        data = await self.inner.receive_some(max_bytes)
        await self._wait_thawed()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


class MemoryServer:
    """Accepts in-memory connections and runs ``handler`` for each."""

    def __init__(self, nursery: trio.Nursery, handler: Handler) -> None:
        self.nursery = nursery
        self.handler = handler
        self.streams: list[FreezableStream] = []
        self.connections: list[trio_websocket.WebSocketConnection] = []
        self.reject_status: int | None = None
        self.reject_headers: list[tuple[bytes, bytes]] = []
        self.accept_delay = 0.0
        self.dials = 0
        self.dial_times: list[float] = []
        self.refuse = False
        self.black_hole_handshake = False

    async def dial(self) -> trio.abc.Stream:
        self.dials += 1
        self.dial_times.append(trio.current_time())
        if self.refuse:
            raise OSError("connection refused (test)")
        client, server = trio.testing.memory_stream_pair()
        stream = FreezableStream(server)
        if self.black_hole_handshake:
            stream.freeze()
        self.streams.append(stream)
        self.nursery.start_soon(self._serve, stream)
        return client

    async def _serve(self, stream: FreezableStream) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            if self.accept_delay:
                await trio.sleep(self.accept_delay)
            if self.reject_status is not None:
                await request.reject(self.reject_status, extra_headers=self.reject_headers)
                return
            ws = await request.accept()
            self.connections.append(ws)
            try:
                await self.handler(ws)
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                nursery.cancel_scope.cancel()
                await trio.aclose_forcefully(stream)

    @property
    def last(self) -> FreezableStream:
        return self.streams[-1]


async def echo(ws: trio_websocket.WebSocketConnection) -> None:
    """Echo every message back."""
    while True:
        message = await ws.get_message()
        await ws.send_message(message)


async def sink(ws: trio_websocket.WebSocketConnection) -> None:
    """Read and discard (pings are answered by trio-websocket)."""
    while True:
        await ws.get_message()
