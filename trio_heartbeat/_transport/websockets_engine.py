"""The websockets link (``Transport.WEBSOCKETS``): websockets' sans-I/O protocol.

``websockets.client.ClientProtocol`` (the engine under ``websockets.trio``)
parses and builds frames, masks in C and implements permessage-deflate (RFC
7692). Like the direct link, no task of its own: the connection's receiving
task drives the protocol, pongs go to a callback, pings are answered while
receiving. Pings are built by our frame codec (:mod:`.frames`: the
heartbeat's hot path; the protocol keeps no state for them).

Every websockets exception (``InvalidStatus``, ``InvalidHandshake``,
``InvalidState``, ``ProtocolError``, ``PayloadTooBig``...) is translated into
ours in this module only (:func:`handshake_error`, :meth:`WebsocketsLink._parser_error`):
a rejected upgrade is :class:`HandshakeRejected` (with the status), a bad
answer :class:`ConnectError`, a bad frame :class:`RemoteProtocolError`, an
oversized message ``ConnectionLost(1009)``.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from typing import cast

import trio
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    PayloadTooBig,
    ProtocolError,
)
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.options import ConnectionOptions, PerMessageDeflate
from trio_heartbeat._transport.common import ObservedStream, Target, handshake_headers
from trio_heartbeat._transport.frames import Opcode as FrameOpcode
from trio_heartbeat._transport.frames import control_frame, message_frame
from trio_heartbeat._transport.pump import PumpedLink
from trio_heartbeat._transport.translate import broken_frame
from trio_heartbeat._transport.upgrade import UpgradeResponse, rejection
from trio_heartbeat.errors import (
    BadHandshake,
    ConnectError,
    ConnectionLost,
    MessageTooBig,
    RemoteProtocolError,
)

__all__ = ["WebsocketsLink", "deflate_factory", "handshake_error", "websockets_handshake"]

Message = str | bytes


# websockets logs through this logger: only "parser failed" for a bug of its
# own. Its DEBUG lines (every frame, with content: secrets) are switched off per
# protocol (``protocol.debug = False``), whatever the logging configuration.
class _QuietLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Never DEBUG: websockets' constructor logs before ``debug`` can be turned off."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_LOGGER = _QuietLogger(logging.getLogger("trio_heartbeat.websockets"), {})
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PING_OP, _PONG_OP, _CLOSE_OP = Opcode.PING, Opcode.PONG, Opcode.CLOSE


def masked_ping(payload: bytes) -> bytes:
    """A client's masked ping frame carrying ``payload`` (at most 125 bytes; else ValueError)."""
    return control_frame(FrameOpcode.PING, payload)


def deflate_factory(config: PerMessageDeflate) -> ClientPerMessageDeflateFactory:
    """websockets' permessage-deflate offer for our ``config``."""
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover=config.server_no_context_takeover,
        client_no_context_takeover=config.client_no_context_takeover,
        server_max_window_bits=config.server_max_window_bits,
        client_max_window_bits=(
            True if config.client_max_window_bits is None else config.client_max_window_bits
        ),
        compress_settings={"level": config.compress_level, "memLevel": config.mem_level},
    )


def handshake_error(exc: BaseException) -> ConnectError:
    """Our error for a failed opening handshake (websockets' ``handshake_exc``).

    No header value of the answer goes into the message (it may echo secrets).
    """
    if isinstance(exc, InvalidStatus):
        response = exc.response
        headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.raw_items()
        ]
        return rejection(response.status_code, headers)
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return ConnectError("connection closed during the opening handshake")
    if isinstance(exc, InvalidHandshake):
        # Only the kind: websockets' message may repeat header values of the answer.
        return BadHandshake(f"not a valid upgrade answer ({type(exc).__name__})")
    return ConnectError(f"opening handshake failed: {type(exc).__name__}")


class _ClientProtocol(ClientProtocol):
    """websockets' client protocol, with three changes.

    RFC 6455 5.4 allows control frames between fragments; websockets fails the
    connection with 1002 when the control frame is a close (Autobahn 7.1.5). Here
    the unfinished message is dropped and the closing handshake goes on normally.
    An accepted handshake answer keeps no headers (memory per connection). And
    a ping is answered only if ``answer_ping()`` says so (the link's testing aid).
    """

    answer_ping: Callable[[], bool] | None = None

    def process_response(self, response: Response) -> None:
        super().process_response(response)
        # Accepted: its parser keeps the answer referenced for the connection's
        # life; keep its headers and body (about 1.5 KiB) out of it.
        response.headers = Headers()
        response.body = b""
        response.reason_phrase = ""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is _CLOSE_OP:
            self.current_size = None
        elif frame.opcode is _PING_OP and self.answer_ping and not self.answer_ping():
            self.events.append(frame)  # what websockets does for a ping, less the pong
            return
        super().recv_frame(frame)


class WebsocketsLink(PumpedLink):
    """One open WebSocket connection driven by websockets' protocol, no task.

    Only one task may call :meth:`receive` (the connection's pump); any task
    may send. ``on_pong(payload)`` is called, from within :meth:`receive`, for
    every pong that arrives.
    """

    def __init__(
        self,
        protocol: _ClientProtocol,
        stream: ObservedStream,
        options: ConnectionOptions,
        pending: list[Frame],
    ) -> None:
        super().__init__(stream, options.read_size)
        self._proto = protocol
        protocol.answer_ping = self._answer_ping
        self.subprotocol: str | None = protocol.subprotocol
        self._plain = not protocol.extensions  # no compression: our codec builds frames
        self.on_pong: Callable[[bytes], None] | None = None
        self._max_size = options.max_message_size
        # The message being reassembled from fragments: binary parts, or text
        # parts and the UTF-8 decoder (set while a text message is open).
        self._parts: list[bytes] = []
        self._text_parts: list[str] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        # Raised once, after the messages that arrived before it are returned.
        self._error: RemoteProtocolError | None = None
        # Frames (and a failure, and a pong to send) may have come with the
        # handshake answer: the first receive() handles them before reading.
        self._pending: list[Frame] | None = pending

    # -- sending -------------------------------------------------------------

    async def _flush(self) -> None:
        """Write what the protocol queued (frames; ``b""`` is its end-of-stream mark)."""
        writes = self._proto.data_to_send()
        if not writes:
            return
        data = writes[0] if len(writes) == 1 else b"".join(writes)  # one frame: no copy
        if data:
            await self._send_bytes(data)

    async def send(self, message: Message) -> None:
        """Send one message; :class:`ConnectionLost` if the link is gone.

        Without an extension (no compression) the frame is built by our codec
        (:func:`.frames.message_frame`: the hot path); the protocol keeps no
        state for a whole outgoing message.
        """
        if self._closed is not None:
            raise self._closed
        if self._plain:
            if self._proto.state is not State.OPEN:
                raise ConnectionLost(1006, "connection is closing")
            await self._send_bytes(message_frame(message))
            return
        try:
            if isinstance(message, str):
                self._proto.send_text(message.encode())
            else:
                self._proto.send_binary(message)
        except InvalidState:
            raise ConnectionLost(1006, "connection is closing") from None
        await self._flush()

    async def send_ping(self, payload: bytes, wait_at_most: float) -> None:
        """Send a ping; its pong is reported to ``on_pong`` (``wait_at_most`` unused)."""
        if self._closed is not None:
            raise self._closed
        if self._proto.state is not State.OPEN:
            raise ConnectionLost(1006, "connection is closing")
        await self._send_control(masked_ping(payload))

    # -- receiving -----------------------------------------------------------

    async def receive(self) -> Message:
        """The next message; :class:`ConnectionLost` when the link ends.

        Pings are answered and pongs reported on the way. A message over
        ``max_message_size`` (after decompression) closes the link with 1009;
        a broken frame or invalid UTF-8 text with 1002 / 1007
        (:class:`RemoteProtocolError`, after the messages that preceded it).
        """
        while True:
            message = self._pop_ready()
            if message is not None:
                return message
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._closed is not None:
                raise self._closed
            if self._pending is not None:
                frames, self._pending = self._pending, None
            else:
                data = await self._read()
                proto = self._proto
                if data:
                    proto.receive_data(data)
                else:
                    proto.receive_eof()
                frames = cast(list[Frame], proto.events_received())  # no handshake now
            self._on_frames(frames)
            await self._flush()
            if self._closed is None and self._proto.parser_exc is not None:
                self._parser_error(self._proto.parser_exc)

    def _on_frames(self, frames: list[Frame]) -> None:
        for frame in frames:
            opcode = frame.opcode
            if opcode is _BINARY or opcode is _TEXT or opcode is _CONT:
                if not self._on_data(frame):
                    return
            elif opcode is _PONG_OP:
                if self.on_pong is not None:
                    self.on_pong(bytes(frame.data))
            elif opcode is _CLOSE_OP:
                close = self._proto.close_rcvd
                assert close is not None
                self._drop_partial()  # an unfinished message ends with the connection
                self._closed = ConnectionLost(close.code, close.reason)
                return
            # _PING_OP: the protocol queued the pong already

    def _on_data(self, frame: Frame) -> bool:
        """Add a data frame; False when the connection failed on it (bad UTF-8)."""
        data = frame.data
        opcode = frame.opcode
        try:
            if frame.fin and opcode is not _CONT:  # a whole message in one frame
                self._ready.append(str(data, "utf-8") if opcode is _TEXT else bytes(data))
                return True
            if opcode is _TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
            elif opcode is _BINARY:
                self._decoder = None
            if self._decoder is not None:
                # Decoded as it arrives: invalid text fails at its first bad frame.
                self._text_parts.append(self._decoder.decode(data, frame.fin))
            else:
                self._parts.append(bytes(data))
        except UnicodeDecodeError as exc:
            self._fail(1007, f"invalid UTF-8 in a text message at byte {exc.start}")
            return False
        if frame.fin:
            if self._decoder is not None:
                self._ready.append("".join(self._text_parts))
                self._text_parts.clear()
                self._decoder = None
            else:
                self._ready.append(b"".join(self._parts))
                self._parts.clear()
        return True

    def _fail(self, code: int, reason: str) -> None:
        """The peer broke the protocol: queue our close ``code``, remember the error."""
        if self._proto.state is State.OPEN:
            self._proto.fail(code, reason)
        self._drop_partial()
        self._fault(broken_frame(reason))

    def _fault(self, error: RemoteProtocolError) -> None:
        """Receive raises ``error`` once (after the ready messages); sends then
        raise a 1006 loss, so a writer that fails first never ends the link with
        a close code that stops (one contract with the direct engine)."""
        self._error = error
        self._closed = ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"link ended: {error}")

    def _drop_partial(self) -> None:
        self._parts.clear()
        self._text_parts.clear()
        self._decoder = None

    def _parser_error(self, exc: Exception) -> None:
        """Our error for the protocol's ``parser_exc`` (it already queued its close)."""
        self._drop_partial()
        if isinstance(exc, PayloadTooBig):
            self._fault(MessageTooBig(self._max_size))
        elif isinstance(exc, EOFError):
            self._closed = ConnectionLost(
                CloseCode.ABNORMAL_CLOSURE, "connection closed without a close frame"
            )
        else:
            reason = str(exc) if isinstance(exc, (ProtocolError, UnicodeDecodeError)) else ""
            self._fault(broken_frame(reason or type(exc).__name__))

    # -- closing -------------------------------------------------------------

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Close politely within ``timeout`` seconds (wait for the peer's close), then abort."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(timeout):
                proto = self._proto
                if self._closed is None and proto.state is State.OPEN:
                    try:
                        proto.send_close(code, reason)
                        await self._flush()
                        while proto.close_rcvd is None and proto.parser_exc is None:
                            data = await self._read()
                            if not data:
                                break
                            proto.receive_data(data)
                            proto.events_received()
                    except (ConnectionLost, ProtocolError):
                        pass  # a bad code or a broken link: the abort below ends it
            await self.stream.abort()


async def websockets_handshake(
    stream: ObservedStream, target: Target, options: ConnectionOptions
) -> WebsocketsLink:
    """Run the HTTP upgrade on ``stream`` (unbounded: the caller bounds it).

    Raises :class:`HandshakeRejected` for an HTTP status (``RedirectRequested``
    for a redirect, followed by ``open_link``), :class:`BadHandshake` for an
    answer that is no valid upgrade, :class:`ConnectError` when the stream ends.
    """
    extensions = None if options.compression is None else [deflate_factory(options.compression)]
    protocol = _ClientProtocol(
        WebSocketURI(target.secure, target.host, target.port, target.resource, ""),
        extensions=extensions,
        subprotocols=[Subprotocol(p) for p in options.subprotocols] or None,
        max_size=options.max_message_size,
        logger=_LOGGER,
    )
    protocol.debug = False  # never log frames (their content) or headers
    request = protocol.connect()
    for name, value in handshake_headers(target, options):
        request.headers[name.decode("latin-1")] = value.decode("latin-1")
    protocol.send_request(request)
    await stream.send_all(b"".join(protocol.data_to_send()))
    answer = UpgradeResponse()  # the status line decides, for every engine alike
    while True:
        data = await stream.receive_some(options.read_size)
        if data:
            answer.feed(data)  # raises for another status than 101 or a bad head
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events = protocol.events_received()
        if protocol.handshake_exc is not None:
            raise handshake_error(protocol.handshake_exc)
        if events:
            assert isinstance(events[0], Response)
            frames = [event for event in events[1:] if isinstance(event, Frame)]
            return WebsocketsLink(protocol, stream, options, frames)
        if not data:
            raise ConnectError("connection closed during the opening handshake")
