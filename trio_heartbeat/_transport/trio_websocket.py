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
- it waits for the body of a rejection (a 401 whose body never ends hangs
  until the timeout) and lets h11 errors about a bad answer escape its reader:
  the head of the answer is judged first, as by the direct engine;
- it reports a frame the peer broke, and a message over the size limit, as a
  close: they raise ``RemoteProtocolError`` / ``MessageTooBig`` here, as in the
  direct engine;
- its exceptions are translated into ours (:func:`map_errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import trio
import trio_websocket
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._transport.common import ObservedStream, Target, handshake_headers
from trio_heartbeat._transport.translate import broken_frame, map_errors, translate_error
from trio_heartbeat._transport.upgrade import UpgradeResponse
from trio_heartbeat.errors import (
    ConnectError,
    ConnectionLost,
    HeartbeatError,
    MessageTooBig,
    RemoteProtocolError,
)

__all__ = ["TrioWebsocketLink", "map_errors", "translate_error", "trio_websocket_handshake"]


_TOO_BIG = "Exceeded maximum message size"  # trio-websocket's reason for its own 1009


class TrioWebsocketLink:
    """One open trio-websocket connection. Dies with the nursery it was opened in."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        stream: ObservedStream,
        nursery: trio.Nursery,
        max_message_size: int,
    ) -> None:
        self.ws = ws
        self.stream = stream
        self.on_pong: Callable[[bytes], None] | None = None
        self._nursery = nursery
        self._max_size = max_message_size
        self._closing = False  # we began the close: no close is the peer's fault
        self._fault_raised = False  # the peer's fault is raised once, then ConnectionLost
        # trio-websocket <0.13 keeps its wsproto connection here: its state tells
        # our own closes from the peer's, and it frames our close after a broken frame.
        self._engine = getattr(ws, "_wsproto", None)

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send(self, message: str | bytes) -> None:
        """Send one message; :class:`ConnectionLost` if the link is gone.

        After our own close for the peer's fault (a broken frame, a message too
        big) it is a 1006 loss, so that a writer which notices first does not
        end the link with the code of a close the peer never sent.
        """
        with map_errors():
            try:
                await self.ws.send_message(message)
            except trio_websocket.ConnectionClosed as exc:
                raise self._lost(exc) from None

    async def receive(self) -> str | bytes:
        """Receive one message; :class:`ConnectionLost` when the link ends.

        The same contract as the direct link: a frame the peer broke raises
        :class:`RemoteProtocolError` (close 1002 sent), a message over
        ``max_message_size`` :class:`MessageTooBig` (close 1009 sent).
        """
        try:
            return await self.ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            fault = self._peer_fault(exc)
            if fault is None or self._fault_raised:
                raise self._lost(exc) from None
            self._fault_raised = True
            reason = exc.reason
            if reason is not None and not isinstance(fault, MessageTooBig):
                await self._send_close(reason.code, reason.reason or "bad frame")
            raise fault from None

    def _peer_fault(self, exc: trio_websocket.ConnectionClosed) -> RemoteProtocolError | None:
        """The peer's fault behind a close trio-websocket made itself, if it was that.

        trio-websocket reports a frame it could not parse, its own 1009 and the
        peer's close frame all as ``ConnectionClosed``. wsproto's state tells
        them apart: the peer's close frame moves it to REMOTE_CLOSING (then
        CLOSED); after our own close it is still OPEN (a frame it could not
        parse: nothing was sent) or LOCAL_CLOSING (our 1009, or the stream
        ended since). A dropped stream alone is a 1006.
        """
        reason = exc.reason
        state = getattr(self._engine, "state", None)
        if reason is None or reason.code == 1006 or self._closing:
            return None
        if state not in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            return None
        text = reason.reason or ""
        if reason.code == 1009 and text.startswith(_TOO_BIG):
            return MessageTooBig(self._max_size)
        return broken_frame(text or "bad frame")

    def _lost(self, exc: trio_websocket.ConnectionClosed) -> ConnectionLost:
        fault = self._peer_fault(exc)
        if fault is not None:
            return ConnectionLost(1006, f"link ended: {fault}")
        lost = translate_error(exc)
        assert isinstance(lost, ConnectionLost)
        return lost

    async def _send_close(self, code: int, reason: str) -> None:
        """Best effort: tell a broken peer why (trio-websocket sent nothing)."""
        engine = self._engine
        with suppress(Exception):
            data = engine.send(CloseConnection(code=code, reason=reason[:120]))  # type: ignore[union-attr]
            async with self.ws._stream_lock:
                await self.stream.send_all(data)

    async def send_ping(self, payload: bytes, wait_at_most: float) -> None:
        """Send a ping; its pong (or a later one) is reported to ``on_pong``.

        ``payload`` must be unique among pings in flight. trio-websocket's
        waiter is not woken if the link drops, so it runs in the link's nursery
        (which ends with the link) and gives up after ``wait_at_most`` seconds.
        """
        if self.ws.closed is not None:
            raise self._lost(trio_websocket.ConnectionClosed(self.ws.closed))
        self._nursery.start_soon(self._await_pong, payload, wait_at_most)
        await trio.lowlevel.checkpoint()

    async def _await_pong(self, payload: bytes, wait_at_most: float) -> None:
        with trio.move_on_after(wait_at_most), suppress(ConnectionLost), map_errors():
            await self.ws.ping(payload)
            if self.on_pong is not None:
                self.on_pong(payload)

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Close politely within ``timeout`` seconds, then abort regardless."""
        self._closing = True
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
    The head of the answer decides (:class:`UpgradeResponse`): another status
    than 101 raises :class:`HandshakeRejected` at once, a head that is not
    HTTP or too long :class:`BadHandshake`; either answer is withheld from
    trio-websocket. A stream closed during the handshake raises
    :class:`ConnectError` at once.
    """
    answer = UpgradeResponse()
    verdict: list[HeartbeatError] = []
    decided = trio.Event()

    def screen(data: bytes | bytearray) -> bool:
        try:
            complete = answer.feed(data)
        except HeartbeatError as exc:
            verdict.append(exc)
            decided.set()
            return False
        if complete:  # a 101: trio-websocket checks its headers
            stream.screen = None
        return True

    stream.screen = screen
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
                        extra_headers=handshake_headers(target, options),
                        message_queue_size=16,
                        max_message_size=options.max_message_size,
                        receive_buffer_size=options.read_size,
                    )
                )
            race.cancel_scope.cancel()

        async def watch_answer() -> None:
            await decided.wait()
            raise verdict[0]

        async def watch_close() -> None:
            await stream.closed_event.wait()
            raise ConnectError("connection closed during the opening handshake")

        race.start_soon(handshake)
        race.start_soon(watch_answer)
        race.start_soon(watch_close)
    stream.screen = None
    return TrioWebsocketLink(ws_box[0], stream, nursery, options.max_message_size)
