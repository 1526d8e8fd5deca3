"""The trio-websocket link (``Transport.TRIO_WEBSOCKET``).

Neutralises trio-websocket's known traps:

- the opening handshake is bounded by the caller (its own ``connect_timeout``
  does not end an HTTP upgrade that is never answered), and a stream that
  closes during the handshake ends the attempt at once instead of hanging;
- ``WebSocketConnection.ping()`` waits for its pong and is not woken when the
  connection drops, and a cancelled ping stays registered: pings use unique
  payloads and their waiters live in the link's nursery, bounded in time;
- its default one-message queue stalls pong processing when nobody reads: the
  connection's pump always reads, into a queue of 16;
- a dead peer is aborted (the stream closed), never politely awaited for its
  60 s ``disconnect_timeout``;
- its exceptions are translated into ours (:func:`map_errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import trio
import trio_websocket
import wsproto.utilities

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._transport.common import ObservedStream, Target
from trio_heartbeat._transport.redirects import rejection
from trio_heartbeat.errors import ConnectError, ConnectionLost

__all__ = ["TrioWebsocketLink", "map_errors", "translate_error", "trio_websocket_handshake"]


def translate_error(exc: BaseException) -> BaseException:
    """Our exception for a trio-websocket / wsproto / stream error (others unchanged)."""
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return rejection(exc.status_code, exc.headers)
    if isinstance(exc, trio_websocket.ConnectionClosed):
        reason = exc.reason
        code = reason.code if reason is not None else CloseCode.ABNORMAL_CLOSURE
        text = (reason.reason or "") if reason is not None else ""
        return ConnectionLost(code, text)
    if isinstance(exc, trio_websocket.HandshakeError):
        return ConnectError(f"handshake failed: {exc!r}")
    if isinstance(exc, wsproto.utilities.LocalProtocolError):
        return ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"connection no longer open: {exc}")
    if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError)):
        return ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"stream closed: {exc}")
    return exc


_FOREIGN_ERRORS = (
    trio_websocket.ConnectionRejected,
    trio_websocket.ConnectionClosed,
    trio_websocket.HandshakeError,
    wsproto.utilities.LocalProtocolError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


@contextmanager
def map_errors() -> Iterator[None]:
    """Translate trio-websocket / wsproto / network errors raised inside into ours."""
    try:
        yield
    except _FOREIGN_ERRORS as exc:
        raise translate_error(exc) from None


class TrioWebsocketLink:
    """One open trio-websocket connection. Dies with the nursery it was opened in."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        stream: ObservedStream,
        nursery: trio.Nursery,
    ) -> None:
        self.ws = ws
        self.stream = stream
        self.on_pong: Callable[[bytes], None] | None = None
        self._nursery = nursery

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send(self, message: str | bytes) -> None:
        """Send one message; :class:`ConnectionLost` if the link is gone."""
        with map_errors():
            await self.ws.send_message(message)

    async def receive(self) -> str | bytes:
        """Receive one message; :class:`ConnectionLost` when the link ends."""
        with map_errors():
            return await self.ws.get_message()

    async def send_ping(self, payload: bytes, wait_at_most: float) -> None:
        """Send a ping; its pong (or a later one) is reported to ``on_pong``.

        ``payload`` must be unique among pings in flight. trio-websocket's
        waiter is not woken if the link drops, so it runs in the link's nursery
        (which ends with the link) and gives up after ``wait_at_most`` seconds.
        """
        if self.ws.closed is not None:
            raise translate_error(trio_websocket.ConnectionClosed(self.ws.closed))
        self._nursery.start_soon(self._await_pong, payload, wait_at_most)
        await trio.lowlevel.checkpoint()

    async def _await_pong(self, payload: bytes, wait_at_most: float) -> None:
        with trio.move_on_after(wait_at_most), suppress(ConnectionLost), map_errors():
            await self.ws.ping(payload)
            if self.on_pong is not None:
                self.on_pong(payload)

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Close politely within ``timeout`` seconds, then abort regardless."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(timeout), suppress(ConnectionLost), map_errors():
                await self.ws.aclose(code, reason)
            await self.stream.abort()

    async def abort(self) -> None:
        """Drop the link at once (no close frame): for dead peers."""
        await self.stream.abort()


async def trio_websocket_handshake(
    nursery: trio.Nursery, stream: ObservedStream, target: Target, options: ConnectionOptions
) -> TrioWebsocketLink:
    """Run trio-websocket's opening handshake on ``stream`` (the caller bounds it).

    Its reader task runs in ``nursery``; the link lives as long as that nursery.
    A stream closed during the handshake raises :class:`ConnectError` at once.
    """
    headers = [(k.encode(), val.encode()) for k, val in options.extra_headers]
    ws_box: list[trio_websocket.WebSocketConnection] = []
    async with trio.open_nursery() as race:

        async def handshake() -> None:
            with map_errors():
                ws_box.append(
                    await trio_websocket.wrap_client_stream(
                        nursery,
                        stream,  # type: ignore[arg-type]
                        target.host_header,
                        target.resource,
                        subprotocols=options.subprotocols or None,
                        extra_headers=headers,
                        message_queue_size=16,
                        max_message_size=options.max_message_size,
                        receive_buffer_size=options.read_size,
                    )
                )
            race.cancel_scope.cancel()

        async def watch_close() -> None:
            await stream.closed_event.wait()
            raise ConnectError("connection closed during the opening handshake")

        race.start_soon(handshake)
        race.start_soon(watch_close)
    return TrioWebsocketLink(ws_box[0], stream, nursery)
