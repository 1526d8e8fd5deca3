"""The byte stream a server connection runs on, owned by the server so it can abort it.

trio-websocket's server connection keeps its stream private (``conn._stream``);
the server wraps every accepted stream in :class:`WatchedStream` *before* handing it
to ``trio_websocket.wrap_server_stream``, so it

- sees every inbound chunk (any inbound traffic can count as a heartbeat answer),
- can abort the connection by closing the stream it owns (no 60 s polite close),
- refuses further writes after a write was interrupted mid-way: a cancelled
  ``send_all`` may have written part of a frame, after which the WebSocket stream
  is garbage; the server drops such a client.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

__all__ = ["WatchedStream", "describe_peer"]


class WatchedStream(trio.abc.Stream):
    """A stream that forwards to ``inner`` and reports what happens on it.

    ``on_receive`` is called (synchronously) after every non-empty chunk read;
    ``on_stall`` once, when a ``send_all`` is interrupted by cancellation. After
    that, ``send_all`` raises :class:`trio.BrokenResourceError`.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.on_receive: Callable[[], None] | None = None
        self.on_stall: Callable[[], None] | None = None
        self._poisoned = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._poisoned:
            raise trio.BrokenResourceError("an earlier write on this stream was interrupted")
        try:
            await self.inner.send_all(data)
        except trio.Cancelled:
            self._poisoned = True
            if self.on_stall is not None:
                self.on_stall()
            raise

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        if data and self.on_receive is not None:
            self.on_receive()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


def describe_peer(stream: trio.abc.Stream) -> str | None:
    """``"host:port"`` (``"[v6]:port"``) of a socket stream's peer, else None."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if not isinstance(stream, trio.SocketStream):
        return None
    try:
        peer = stream.socket.getpeername()
    except OSError:
        return None
    if not isinstance(peer, tuple) or len(peer) < 2:
        return str(peer) if peer else None
    host, port = str(peer[0]), peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
