"""The direct link: wsproto driven by the connection's own receiving task.

trio-websocket runs a reader task per connection and hands each message over
a memory channel; its pings need a waiting task each. Here the connection's
receiving task drives wsproto itself: every message costs no extra task
switch, pongs are reported through a callback (no task per ping), and control
frames are answered while receiving. Used by default
(``ConnectionOptions(transport=Transport.DIRECT)``); wsproto is the protocol
engine trio-websocket itself uses, so this adds no dependency.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import suppress

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._transport.common import ObservedStream, Target, handshake_headers
from trio_heartbeat._transport.pump import PumpedLink
from trio_heartbeat._transport.translate import broken_frame
from trio_heartbeat._transport.upgrade import UpgradeResponse, rejection
from trio_heartbeat.errors import (
    ConnectError,
    ConnectionLost,
    MessageTooBig,
    RemoteProtocolError,
    UsageError,
)

__all__ = ["DirectLink", "direct_handshake", "ping_frame"]

Message = str | bytes


def ping_frame(payload: bytes) -> bytes:
    """A client's (masked) RFC 6455 ping frame carrying ``payload`` (at most 125 bytes)."""
    if len(payload) > 125:
        raise UsageError("a ping payload is at most 125 bytes")
    key = os.urandom(4)
    masked = bytes(byte ^ key[i & 3] for i, byte in enumerate(payload))
    return bytes((0x89, 0x80 | len(payload))) + key + masked


class DirectLink(PumpedLink):
    """One open WebSocket connection driven by wsproto, no background task.

    Only one task may call :meth:`receive` (the connection's pump); any task
    may send. ``on_pong(payload)`` is called, from within :meth:`receive`, for
    every pong that arrives.
    """

    def __init__(
        self,
        ws: Connection,
        stream: ObservedStream,
        subprotocol: str | None,
        options: ConnectionOptions,
    ) -> None:
        super().__init__(stream, options.read_size)
        self._ws = ws
        self.subprotocol = subprotocol
        self.on_pong: Callable[[bytes], None] | None = None
        self._max_size = options.max_message_size
        self._parts: list[Message] = []
        self._size = 0
        self._fault: RemoteProtocolError | None = None  # raised once, after the ready messages
        self._fed = True  # wsproto may hold bytes that came with the handshake

    async def _send_event(self, event: Event) -> None:
        try:
            data = self._ws.send(event)
        except LocalProtocolError:
            raise self._closed or ConnectionLost(
                CloseCode.ABNORMAL_CLOSURE, "connection no longer open"
            ) from None
        await self._send_bytes(data)

    async def send(self, message: Message) -> None:
        """Send one message; :class:`ConnectionLost` if the link is gone."""
        if self._closed is not None:
            raise self._closed
        if isinstance(message, str):
            await self._send_event(TextMessage(data=message))
        else:
            await self._send_event(BytesMessage(data=message))

    async def send_ping(self, payload: bytes, wait_at_most: float) -> None:
        """Send a ping; its pong is reported to ``on_pong`` (``wait_at_most`` unused).

        The frame is built here rather than by wsproto (the hot path of a
        heartbeat: wsproto tracks no state for outgoing pings).
        """
        if self._closed is not None:
            raise self._closed
        if self._ws.state is not ConnectionState.OPEN:
            raise ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "connection is closing")
        await self._send_bytes(ping_frame(payload))

    async def receive(self) -> Message:
        """The next message; :class:`ConnectionLost` when the link ends.

        Pings are answered and pongs reported on the way. A message over
        ``max_message_size`` closes the link with 1009 (:class:`MessageTooBig`);
        a broken frame with 1002 (:class:`RemoteProtocolError`). Messages that
        arrived complete before are returned first; then the error, once; then
        :class:`ConnectionLost`.
        """
        while True:
            message = self._pop_ready()
            if message is not None:
                return message
            if self._closed is not None:
                fault, self._fault = self._fault, None
                raise fault or self._closed
            if self._fed:
                self._fed = False
                await self._process_events()
                if self._ready or self._closed is not None:
                    continue
            data = await self._read()
            if not data:
                self._closed = ConnectionLost(
                    CloseCode.ABNORMAL_CLOSURE, "connection closed without a close frame"
                )
                continue
            self._ws.receive_data(data)  # type: ignore[arg-type]  # bytearray is fine
            self._fed = True

    async def _process_events(self) -> None:
        try:
            for event in self._ws.events():
                if isinstance(event, (TextMessage, BytesMessage)):
                    await self._on_data(event)
                    if self._closed is not None:
                        return
                elif isinstance(event, Ping):
                    if not self._answer_ping():
                        continue
                    try:
                        await self._send_event(event.response())
                    except ConnectionLost:
                        return  # what arrived before is still returned, then the loss
                elif isinstance(event, Pong):
                    if self.on_pong is not None:
                        self.on_pong(bytes(event.payload))
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.OPEN:
                        # Not the peer's close: wsproto could not parse its frames.
                        await self._fail_protocol(event.code, event.reason or "bad frame")
                    else:
                        await self._on_close(event)
                    return
        except WsRemoteProtocolError as exc:
            await self._fail_protocol(CloseCode.PROTOCOL_ERROR, str(exc))

    async def _fail_protocol(
        self, code: int, reason: str, fault: RemoteProtocolError | None = None
    ) -> None:
        """The peer broke the protocol: tell it (close ``code``); receive raises ``fault``.

        Sends then raise a 1006 loss (no close frame came from the peer), so a
        writer that fails first does not end the link with a code that stops.
        """
        self._fault = fault or broken_frame(reason)
        self._closed = ConnectionLost(1006, f"link ended: {self._fault}")
        if self._ws.state is ConnectionState.OPEN:
            with suppress(ConnectionLost):
                await self._send_event(CloseConnection(code=code, reason=reason[:120]))

    async def _on_data(self, event: TextMessage | BytesMessage) -> None:
        data: Message = event.data if isinstance(event.data, str | bytes) else bytes(event.data)
        self._size += len(data)
        if self._size > self._max_size:
            self._parts.clear()
            self._size = 0
            reason = f"message exceeds {self._max_size} bytes"
            await self._fail_protocol(
                CloseCode.MESSAGE_TOO_BIG, reason, MessageTooBig(self._max_size)
            )
            return
        if event.message_finished and not self._parts:
            self._ready.append(data)
        else:
            self._parts.append(data)
            if event.message_finished:
                joined: Message
                if isinstance(event, TextMessage):
                    joined = "".join(self._parts)  # type: ignore[arg-type]
                else:
                    joined = b"".join(self._parts)  # type: ignore[arg-type]
                self._parts.clear()
                self._ready.append(joined)
        if event.message_finished:
            self._size = 0

    async def _on_close(self, event: CloseConnection) -> None:
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            with contextlib.suppress(ConnectionLost):
                await self._send_event(event.response())
        self._closed = ConnectionLost(event.code, event.reason or "")

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Close politely within ``timeout`` seconds (wait for the peer's close), then abort."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(timeout):
                if self._closed is None and self._ws.state is ConnectionState.OPEN:
                    try:
                        await self._send_event(CloseConnection(code=code, reason=reason or None))
                        while self._closed is None:
                            for event in self._ws.events():
                                if isinstance(event, CloseConnection):
                                    self._closed = ConnectionLost(event.code, event.reason or "")
                            if self._closed is None:
                                data = await self._read()
                                if not data:
                                    break
                                self._ws.receive_data(data)  # type: ignore[arg-type]  # bytearray is fine
                    except (ConnectionLost, WsRemoteProtocolError):
                        pass
            await self.stream.abort()


async def direct_handshake(
    stream: ObservedStream, target: Target, options: ConnectionOptions
) -> DirectLink:
    """Run the HTTP upgrade on ``stream`` (unbounded: the caller bounds it).

    The head of the answer decides (:class:`UpgradeResponse`): another status
    than 101 raises :class:`HandshakeRejected` without waiting for a body
    (``RedirectRequested`` for a redirect, followed by ``open_link``). Raises
    :class:`ConnectError` when the stream ends first; wsproto's complaints about
    a 101 propagate, for ``open_link`` to translate into :class:`BadHandshake`.
    """
    ws = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=target.host_header,
        target=target.resource,
        subprotocols=list(options.subprotocols),
        extra_headers=handshake_headers(target, options),
    )
    await stream.send_all(ws.send(request))
    answer = UpgradeResponse()
    while True:
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                # Keep only the frame engine: the HTTP handshake machinery
                # (h11 and its buffers) is no longer needed.
                assert ws.connection is not None
                return DirectLink(ws.connection, stream, event.subprotocol, options)
            if isinstance(event, RejectConnection):  # a head the watcher let through
                raise rejection(event.status_code, event.headers)
        data = await stream.receive_some(options.read_size)
        if not data:
            raise ConnectError("connection closed during the opening handshake")
        answer.feed(data)
        ws.receive_data(data)  # type: ignore[arg-type]  # bytearray is fine
