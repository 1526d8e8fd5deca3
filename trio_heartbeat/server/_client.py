"""One connected client of a :class:`~trio_heartbeat.server.HeartbeatServer`.

Public names (:class:`ServerClient`, :class:`ClientInfo`, :class:`ClientEnd`) are
re-exported by :mod:`trio_heartbeat.server`; construct nothing here yourself.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._transport.server_engine import ServerLink
from trio_heartbeat.errors import ConnectionLost
from trio_heartbeat.server._hooks import UpgradeRequest
from trio_heartbeat.server._outbox import Outbox

__all__ = ["ClientEnd", "ClientInfo", "ServerClient"]


class ClientEnd(enum.Enum):
    """Why a client's connection ended (logged, and counted in ``statistics()``)."""

    UNRESPONSIVE = "did not answer the heartbeat"
    PEER_CLOSED = "closed by the client"
    HANDLER_RETURNED = "handler returned"
    HANDLER_FAILED = "handler raised"
    SEND_FAILED = "a send to it failed or stalled"
    QUEUE_FULL = "its send queue was full (a slow consumer)"
    OVERFLOW = "too many unread messages"
    INVALID_MESSAGE = "it sent an invalid message"
    MESSAGE_TOO_BIG = "it sent a message over max_message_size"
    SERVER_STOPPING = "server stopping"
    CANCELLED = "serving it was cancelled"


@attrs.frozen(kw_only=True)
class ClientInfo:
    """A snapshot of a registered client.

    ``remote`` is ``"host:port"`` for socket connections, None for other streams;
    ``path`` the request path of the WebSocket upgrade, without its query
    string (which may carry a token). ``connected_since`` and
    ``last_seen`` are ``trio.current_time()`` values; ``last_seen`` is the last
    inbound traffic or heartbeat answer. ``rtt`` is the round-trip time (s) of
    the last answered heartbeat, None until one was answered.
    """

    id: int
    remote: str | None
    path: str
    connected_since: float
    last_seen: float
    rtt: float | None


class ServerClient:
    """The handler's view of one connected client.

    ``receive()`` / ``async for`` yield application messages only (heartbeat
    answers are swallowed). ``send()`` queues one message. ``request`` is the
    upgrade request, ``data`` what ``authorize`` attached (``Accept(data=...)``),
    ``subprotocol`` the accepted subprotocol. Created by the server.
    """

    def __init__(
        self,
        client_id: int,
        *,
        link: ServerLink,
        request: UpgradeRequest,
        data: Any,
        max_pending_messages: int,
        send_queue_size: int,
        nursery: trio.Nursery,
        deliver: Callable[[ServerClient, str | bytes], Awaitable[None]],
        info: Callable[[ServerClient], ClientInfo],
    ) -> None:
        self._id = client_id
        self._link = link
        self._request = request
        self._data = data
        self._deliver = deliver
        self._info = info
        self._nursery = nursery  # the client's own: its tasks and its closing run here
        self._outbox = Outbox(send_queue_size)
        self._dropped_messages = 0
        self._inbox_send, self._inbox_receive = trio.open_memory_channel[str | bytes](
            max_pending_messages
        )
        # Probes from the round loop: (round number, round time). Capacity 1: a
        # heartbeat task still busy with the previous probe gets the next one late.
        self._probe_send, self._probe_receive = trio.open_memory_channel[tuple[int, float]](1)
        self._ended = trio.Event()
        self._handler_done = trio.Event()
        self._polite_closing = False
        self._end_reason: ClientEnd | None = None
        self._end_error: ConnectionLost | None = None
        self._last_info: ClientInfo | None = None

    @property
    def id(self) -> int:
        """The server-assigned client id (1, 2, 3... in connection order)."""
        return self._id

    @property
    def remote(self) -> str | None:
        """``"host:port"`` of the peer, None for non-socket streams."""
        return self._request.remote

    @property
    def path(self) -> str:
        """The request path of the WebSocket upgrade, without the query (``"/chat"``)."""
        return self._request.path

    @property
    def request(self) -> UpgradeRequest:
        """The upgrade request this client connected with."""
        return self._request

    @property
    def data(self) -> Any:
        """What ``authorize`` attached with ``Accept(data=...)`` (None without it)."""
        return self._data

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol accepted for this client, None if none."""
        return self._link.subprotocol

    @property
    def info(self) -> ClientInfo:
        """A fresh :class:`ClientInfo` snapshot (last known values once ended)."""
        return self._info(self)

    @property
    def closed(self) -> bool:
        """True once the connection has ended or is being closed."""
        return self._end_reason is not None or self._ended.is_set()

    @property
    def end_reason(self) -> ClientEnd | None:
        """Why the connection ended, None while it is open."""
        return self._end_reason

    async def receive(self) -> str | bytes:
        """Wait for the next application message.

        Messages that arrived before the connection ended are still delivered;
        after them this raises :class:`~trio_heartbeat.errors.ConnectionLost`
        (:class:`~trio_heartbeat.errors.PeerUnresponsive` if the heartbeat
        terminated the client).
        """
        try:
            return await self._inbox_receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise self._lost() from None

    def __aiter__(self) -> ServerClient:
        return self

    async def __anext__(self) -> str | bytes:
        """Next application message; the iteration ends when the connection does."""
        try:
            return await self.receive()
        except ConnectionLost:
            raise StopAsyncIteration from None

    async def send(self, message: str | bytes) -> None:
        """Queue one message for this client (str: text frame, bytes: binary frame).

        Waits only while this client's send queue is full. Returns once queued:
        the client's writer sends it, in order; a write that stalls for
        ``send_timeout`` drops the client. Raises
        :class:`~trio_heartbeat.errors.ConnectionLost` once the connection has
        ended (also while waiting for room), UsageError for another type.
        """
        await self._deliver(self, message)

    def __repr__(self) -> str:
        return f"<ServerClient {self._id} {self.remote or self.path}>"

    # -- used by the server --------------------------------------------------

    def _lost(self) -> ConnectionLost:
        error = self._end_error or ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "connection ended")
        return type(error)(*error.args)

    def _record_end(self, reason: ClientEnd, error: ConnectionLost) -> None:
        if self._end_reason is None:
            self._end_reason = reason
            self._end_error = error

    def _finish(self, reason: ClientEnd, error: ConnectionLost) -> None:
        """The connection ended by itself; wakes the client's task unless we are
        in the middle of closing it politely (that close wakes it when done)."""
        self._record_end(reason, error)
        if not self._polite_closing:
            self._ended.set()

    def _abort(self, reason: ClientEnd, error: ConnectionLost) -> None:
        """End the connection now: the client's task aborts the stream."""
        self._record_end(reason, error)
        self._ended.set()

    def _close_inbox(self) -> None:
        self._inbox_send.close()
