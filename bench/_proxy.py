"""A tiny trio TCP proxy that can black-hole its links (for the detection scenario).

``async with open_blackhole_proxy(upstream_port) as proxy:`` listens on 127.0.0.1, port 0
(``proxy.port``), and forwards each accepted connection to ``127.0.0.1:upstream_port``.
After ``proxy.blackhole()`` every link, current and future, keeps reading both sides and
drops the bytes: nothing is forwarded, nothing is closed, no RST, no FIN. To both peers the
link looks alive but silent, like a cable pulled somewhere in between. Leaving the context
closes the listener and every socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio

from bench._common import HOST

CHUNK = 65536


class BlackholeProxy:
    """State shared by the proxy's links; see the module docstring."""

    def __init__(self) -> None:
        self.port = 0
        self.blackholed_at: float | None = None  # trio.current_time() of blackhole()
        self.links = 0
        self.forwarded_bytes = 0
        self.dropped_bytes = 0

    @property
    def blackholed(self) -> bool:
        """True once :meth:`blackhole` was called."""
        return self.blackholed_at is not None

    def blackhole(self) -> None:
        """From now on drop every byte in both directions (idempotent)."""
        if self.blackholed_at is None:
            self.blackholed_at = trio.current_time()

    async def _pump(self, src: trio.SocketStream, dst: trio.SocketStream) -> None:
        while True:
            try:
                data = await src.receive_some(CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                if self.blackholed:
                    await trio.sleep_forever()  # a black hole does not say goodbye
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await dst.send_eof()
                return
            if self.blackholed:
                self.dropped_bytes += len(data)
                continue
            try:
                await dst.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            self.forwarded_bytes += len(data)

    async def _handle(self, client: trio.SocketStream, upstream_port: int) -> None:
        self.links += 1
        async with client:
            try:
                upstream = await trio.open_tcp_stream(HOST, upstream_port)
            except OSError:
                return
            async with upstream, trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, client, upstream)
                nursery.start_soon(self._pump, upstream, client)


@contextlib.asynccontextmanager
async def open_blackhole_proxy(upstream_port: int) -> AsyncIterator[BlackholeProxy]:
    """Run a :class:`BlackholeProxy` to ``127.0.0.1:upstream_port`` for the block's duration."""
    proxy = BlackholeProxy()
    listeners = await trio.open_tcp_listeners(0, host=HOST)
    proxy.port = listeners[0].socket.getsockname()[1]

    async def handler(stream: trio.SocketStream) -> None:
        await proxy._handle(stream, upstream_port)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handler, listeners)
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
