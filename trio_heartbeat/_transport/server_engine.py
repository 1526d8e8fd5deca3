"""The server side of trio-websocket, behind one seam.

The heartbeat server (:mod:`trio_heartbeat.server`) never imports trio-websocket:
it hands this module a byte stream and an async ``decide`` step, and gets back a
:class:`ServerLink` whose methods raise only our exceptions
(:func:`~trio_heartbeat._transport.trio_websocket.map_errors` translates).

Traps neutralised here:

- a peer that closes (or breaks, or sends garbage) before finishing the HTTP
  upgrade ends the handshake at once -- trio-websocket would wait for a request
  that never comes, holding the socket and a task until the caller's timeout;
- the stream is the server's own :class:`ServerStream`, so the server sees
  every inbound chunk, can abort the connection at once (no 60 s polite close),
  and refuses further writes once one was interrupted mid-frame;
- an inbound message over ``max_message_size`` (trio-websocket closes with
  1009) is reported as :class:`MessageTooBig`, not as if the peer had closed.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import attrs
import trio
import trio_websocket

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._transport.common import ObservedStream
from trio_heartbeat._transport.trio_websocket import map_errors
from trio_heartbeat.errors import ConnectError, ConnectionLost

__all__ = [
    "MessageTooBig",
    "ServerLink",
    "ServerStream",
    "UpgradeAnswer",
    "UpgradeAsked",
    "open_server_link",
    "wrap_tls",
]

Message = str | bytes

# trio-websocket's own close reason when an inbound message is too large.
_TOO_BIG_PREFIX = "Exceeded maximum message size"


class MessageTooBig(ConnectionLost):
    """The peer sent a message over ``limit`` (bytes or characters); closed with 1009."""

    def __init__(self, limit: int) -> None:
        super().__init__(CloseCode.MESSAGE_TOO_BIG, f"message exceeds {limit} bytes")
        self.args = (limit,)
        self.limit = limit


class ServerStream(ObservedStream):
    """The server's byte stream of one client (see :class:`ObservedStream`).

    ``on_receive`` is called (synchronously) after every non-empty chunk read;
    ``on_stall`` once, when a ``send_all`` is interrupted by cancellation: the
    frame may be half written, so every later ``send_all`` raises
    :class:`trio.BrokenResourceError`.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        super().__init__(inner)
        self.on_receive: Callable[[], None] | None = None
        self.on_stall: Callable[[], None] | None = None
        self._poisoned = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._poisoned:
            raise trio.BrokenResourceError("an earlier write on this stream was interrupted")
        try:
            await super().send_all(data)
        except trio.Cancelled:
            self._poisoned = True
            if self.on_stall is not None:
                self.on_stall()
            raise

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await super().receive_some(max_bytes)
        if data and self.on_receive is not None:
            self.on_receive()
        return data


@attrs.frozen
class UpgradeAsked:
    """The HTTP upgrade request as it arrived: ``target`` is path plus query."""

    target: str
    headers: tuple[tuple[bytes, bytes], ...] = attrs.field(repr=False)
    subprotocols: tuple[str, ...]


@attrs.frozen
class UpgradeAnswer:
    """How to answer an upgrade: ``status`` 101 accepts (with ``subprotocol``),
    any other status rejects, with ``body`` as the response body."""

    status: int = 101
    subprotocol: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""


class ServerLink:
    """One accepted WebSocket connection. Dies with the nursery it was opened in.

    Every method raises :class:`ConnectionLost` once the connection is gone
    (:class:`MessageTooBig` from :meth:`receive` for an oversized message).
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, max_message_size: int) -> None:
        self._ws = ws
        self._max_message_size = max_message_size

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    @property
    def closed(self) -> ConnectionLost | None:
        """Why the connection is closed or closing, None while open."""
        reason = self._ws.closed
        if reason is None:
            return None
        return ConnectionLost(reason.code, reason.reason or "")

    async def send(self, message: Message) -> None:
        """Send one message (str: text frame, bytes: binary frame)."""
        with map_errors():
            await self._ws.send_message(message)

    async def receive(self) -> Message:
        """The next message; pings are answered by trio-websocket's reader task."""
        try:
            with map_errors():
                return await self._ws.get_message()
        except ConnectionLost as exc:
            reason = self._ws.closed
            if (
                exc.code == CloseCode.MESSAGE_TOO_BIG
                and reason is not None
                and self._too_big(reason.reason)
            ):
                raise MessageTooBig(self._max_message_size) from None
            raise

    @staticmethod
    def _too_big(reason: str | None) -> bool:
        return (reason or "").startswith(_TOO_BIG_PREFIX)

    async def ping(self, payload: bytes) -> None:
        """Send a ping and wait for its pong (or a later one).

        ``payload`` must be unique among pings in flight: a cancelled ping stays
        registered in trio-websocket. The caller bounds the wait.
        """
        with map_errors():
            await self._ws.ping(payload)

    async def close(self, code: int, reason: str) -> None:
        """The closing handshake (the caller bounds it); never raises ConnectionLost."""
        try:
            with map_errors():
                await self._ws.aclose(code, reason or None)
        except ConnectionLost:
            pass


Decide = Callable[[UpgradeAsked], Awaitable[UpgradeAnswer]]


async def open_server_link(
    nursery: trio.Nursery,
    stream: ServerStream,
    decide: Decide,
    *,
    max_message_size: int,
) -> ServerLink | None:
    """Run the server side of the opening handshake on ``stream``.

    ``decide`` sees the request and says how to answer it. Returns the link
    (its reader task runs in ``nursery``, so it lives as long as that nursery),
    or None once a rejection was sent. Unbounded in time: the caller bounds it.

    Raises :class:`ConnectError` at once when the peer closes, breaks, or sends
    something that is not a WebSocket upgrade before the handshake is done.
    """
    box: list[ServerLink | None] = []
    try:
        async with trio.open_nursery() as race:
            race.start_soon(_handshake, nursery, stream, decide, max_message_size, box, race)
            await stream.closed_event.wait()
            raise ConnectError("the peer left during the opening handshake")
    except* (ConnectError, ConnectionLost) as group:
        first = leaf_exceptions(group)[0]
        raise ConnectError(f"opening handshake failed: {first}") from None
    return box[0]


async def _handshake(
    nursery: trio.Nursery,
    stream: ServerStream,
    decide: Decide,
    max_message_size: int,
    box: list[ServerLink | None],
    race: trio.Nursery,
) -> None:
    with map_errors():
        request = await trio_websocket.wrap_server_stream(
            nursery,
            stream,
            max_message_size=max_message_size,
        )
        asked = UpgradeAsked(request.path, tuple(request.headers), request.proposed_subprotocols)
        answer = await decide(asked)
        if answer.status == 101:
            ws = await request.accept(
                subprotocol=answer.subprotocol, extra_headers=list(answer.headers)
            )
            box.append(ServerLink(ws, max_message_size))
        else:
            await request.reject(
                answer.status, extra_headers=list(answer.headers), body=answer.body or None
            )
            box.append(None)
    race.cancel_scope.cancel()


def wrap_tls(stream: trio.abc.Stream, ssl_context: ssl.SSLContext | None) -> trio.abc.Stream:
    """``stream`` behind server-side TLS (the TLS handshake runs on first use)."""
    if ssl_context is None:
        return stream
    return trio.SSLStream(stream, ssl_context, server_side=True)
