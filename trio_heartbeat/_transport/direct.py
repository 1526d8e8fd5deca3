"""The direct link: our own frame codec driven by the connection's receiving task.

trio-websocket runs a reader task per connection and hands each message over
a memory channel; its pings need a waiting task each. Here the connection's
receiving task parses frames itself (:mod:`.frames`: struct headers, the mask
in C, one slice per message): every message costs no extra task switch,
pongs are reported through a callback (no task per ping), and control frames
are answered while receiving. wsproto runs only the opening handshake. Used
by default (``ConnectionOptions(transport=Transport.DIRECT)``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._transport.common import ObservedStream, Target, handshake_headers
from trio_heartbeat._transport.frames import (
    Close,
    Control,
    FrameError,
    FrameReader,
    Opcode,
    Ping,
    Pong,
    close_frame,
    control_frame,
    message_frame,
)
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
    return control_frame(Opcode.PING, payload)


class DirectLink(PumpedLink):
    """One open WebSocket connection, its frames parsed by :class:`FrameReader`, no task.

    Only one task may call :meth:`receive` (the connection's pump); any task
    may send. ``on_pong(payload)`` is called, from within :meth:`receive`, for
    every pong that arrives. ``pending``: bytes that came with the handshake
    answer (the first frames), parsed before anything is read.
    """

    def __init__(
        self,
        stream: ObservedStream,
        subprotocol: str | None,
        options: ConnectionOptions,
        pending: bytes = b"",
    ) -> None:
        super().__init__(stream, options.read_size)
        self.subprotocol = subprotocol
        self.on_pong: Callable[[bytes], None] | None = None
        self._max_size = options.max_message_size
        self._reader = FrameReader(options.max_message_size)
        self._pending = pending
        self._close_sent = False
        self._fault: RemoteProtocolError | None = None  # raised once, after the ready messages
        # A broken frame that came after messages not yet returned: the link
        # fails (close 1002...) only once they are, so replies to them go out.
        self._broken: FrameError | None = None

    async def send(self, message: Message) -> None:
        """Send one message; :class:`ConnectionLost` if the link is gone."""
        if self._closed is not None:
            raise self._closed
        if self._close_sent:
            raise ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "connection no longer open")
        await self._send_bytes(message_frame(message))

    async def send_ping(self, payload: bytes, wait_at_most: float) -> None:
        """Send a ping; its pong is reported to ``on_pong`` (``wait_at_most`` unused)."""
        if self._closed is not None:
            raise self._closed
        if self._close_sent:
            raise ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "connection is closing")
        await self._send_control(ping_frame(payload))

    async def receive(self) -> Message:
        """The next message; :class:`ConnectionLost` when the link ends.

        Pings are answered and pongs reported on the way. A message over
        ``max_message_size`` bytes closes the link with 1009
        (:class:`MessageTooBig`, judged from the frame header: the payload is
        never kept); a broken frame with 1002, invalid UTF-8 with 1007
        (:class:`RemoteProtocolError`). Messages that arrived complete before
        are returned first (the link fails only after them, so what the
        application sends in reply still goes out); then the error, once; then
        :class:`ConnectionLost`.
        """
        ready = self._ready
        while True:
            message = self._pop_ready()
            if message is not None:
                return message
            if self._broken is not None:
                broken, self._broken = self._broken, None
                await self._fail_protocol(broken)
            if self._closed is not None:
                fault, self._fault = self._fault, None
                raise fault or self._closed
            if self._pending:
                data: bytes | bytearray = self._pending
                self._pending = b""
            else:
                try:  # PumpedLink._read, inline: one coroutine fewer per message
                    data = await self.stream.receive_some(self._read_size)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._closed = ConnectionLost(
                        CloseCode.ABNORMAL_CLOSURE, f"stream closed: {exc}"
                    )
                    raise self._closed from None
                if not data:
                    self._closed = ConnectionLost(
                        CloseCode.ABNORMAL_CLOSURE, "connection closed without a close frame"
                    )
                    continue
            controls: list[Control] = []
            try:
                self._reader.feed(data, ready, controls)
            except FrameError as exc:
                if controls:
                    await self._on_controls(controls)
                if self._closed is None:  # not lost while answering a ping first
                    self._broken = exc
                continue
            if controls:
                await self._on_controls(controls)

    async def _on_controls(self, controls: list[Control]) -> None:
        for frame in controls:
            if type(frame) is Pong:
                if self.on_pong is not None:
                    self.on_pong(frame.payload)
            elif type(frame) is Ping:
                if self._closed is None and not self._close_sent and self._answer_ping():
                    with suppress(ConnectionLost):  # the loss is recorded; a close
                        # after this ping still sets the code the link ends with
                        await self._send_control(control_frame(Opcode.PONG, frame.payload))
            elif type(frame) is Close:
                await self._on_close(frame)

    async def _fail_protocol(self, error: FrameError) -> None:
        """The peer broke the protocol: tell it (close ``error.code``); receive raises the fault.

        Sends then raise a 1006 loss (no close frame came from the peer), so a
        writer that fails first does not end the link with a code that stops.
        """
        if error.code == CloseCode.MESSAGE_TOO_BIG:
            self._fault = MessageTooBig(self._max_size)
        else:
            self._fault = broken_frame(error.reason)
        self._closed = ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"link ended: {self._fault}")
        if not self._close_sent:
            self._close_sent = True
            with suppress(ConnectionLost):
                await self._send_bytes(close_frame(error.code, error.reason[:120]))

    async def _on_close(self, frame: Close) -> None:
        """The peer's close: answered with the same code unless ours went out first.

        The link ends with the peer's code even when the answer cannot be written.
        """
        if not self._close_sent:
            self._close_sent = True
            with suppress(ConnectionLost):
                await self._send_bytes(close_frame(frame.code, frame.reason))
        self._closed = ConnectionLost(frame.code, frame.reason)

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Close politely within ``timeout`` seconds (wait for the peer's close), then abort."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(timeout):
                if self._closed is None and not self._close_sent:
                    self._close_sent = True
                    try:
                        await self._send_bytes(close_frame(code, reason))
                        await self._await_close()
                    except (ConnectionLost, FrameError):
                        pass
            await self.stream.abort()

    async def _await_close(self) -> None:
        """Read (dropping messages) until the peer's close frame or the end of the stream."""
        controls: list[Control] = []
        dropped: list[Message] = []
        data: bytes | bytearray = self._pending
        self._pending = b""
        while self._closed is None:
            if data:
                self._reader.feed(data, dropped, controls)
                dropped.clear()
                for frame in controls:
                    if type(frame) is Close:
                        self._closed = ConnectionLost(frame.code, frame.reason)
                controls.clear()
            if self._closed is None:
                data = await self._read()
                if not data:
                    return


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
                # wsproto's work is done: the frames that came with the answer
                # (after its head) go to our reader.
                return DirectLink(stream, event.subprotocol, options, answer.trailing)
            if isinstance(event, RejectConnection):  # a head the watcher let through
                raise rejection(event.status_code, event.headers)
        data = await stream.receive_some(options.read_size)
        if not data:
            raise ConnectError("connection closed during the opening handshake")
        answer.feed(data)
        ws.receive_data(data)  # type: ignore[arg-type]  # bytearray is fine
