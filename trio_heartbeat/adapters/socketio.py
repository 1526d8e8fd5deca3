"""A Socket.IO v5 client over a managed Engine.IO v4 WebSocket.

::

    url = "ws://host/socket.io/?EIO=4&transport=websocket"
    async with open_socketio(url, auth={"token": "..."}) as sio:
        await sio.emit("chat", "hello")                  # buffered across reconnects
        answer = await sio.call("add", 1, 2, timeout=5)  # waits for the ack: a tuple
        event = await sio.next_event()                   # SioEvent(name, args, ...)

Contract, per link (on top of :mod:`trio_heartbeat.adapters.engineio`):

- the on-connect step waits for the Engine.IO open packet, sends CONNECT
  (``40`` or ``40{auth}``) for ``namespace`` and waits for the server's CONNECT
  (its ``sid`` becomes :attr:`SocketIOClient.sid`), all within ``open_timeout``
  seconds of the WebSocket opening (else ConnectTimeout, retried); then the
  application's ``on_connect`` runs, and only then do buffered emits flush;
- a DISCONNECT from the server, or a CONNECT_ERROR, raises SessionEnded: the
  connection gives up (ReconnectGaveUp) instead of defying the server;
- :meth:`SocketIOClient.call` sends on the live link with a fresh ack id (unique
  for the client's lifetime, as socket.io-client does) and returns the ack's
  arguments; it raises :class:`RequestTimeout` after ``timeout`` seconds and
  ConnectionLost when the link drops first (not re-sent);
- events are validated as they arrive (malformed: RemoteProtocolError, counted,
  retried) and delivered in order by :meth:`SocketIOClient.next_event`; acks are
  matched as they arrive, so unread events never delay them. Packets for other
  namespaces are ignored. Emitting ``bytes`` arguments is not supported (the
  outbox carries one frame per message); receiving binary events is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Unpack

import trio

from trio_heartbeat._client.connection import (
    ConnectTarget,
    LiveLink,
    ManagedWebSocket,
    OnConnect,
    run_on_connect,
)
from trio_heartbeat._client.requests import RequestTimeout, Waiters
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat.adapters._base import (
    DEFAULT_OPEN_TIMEOUT,
    EventIteration,
    ManagedArguments,
    open_protocol_websocket,
    require_unbatched,
)
from trio_heartbeat.adapters.engineio import EngineIOCodec, EngineIOSession
from trio_heartbeat.errors import (
    ConnectionLost,
    RemoteProtocolError,
    SessionEnded,
    UsageError,
)
from trio_heartbeat.protocols import socketio as wire
from trio_heartbeat.protocols.socketio import SioEvent

__all__ = ["RequestTimeout", "SioEvent", "SocketIOClient", "open_socketio"]

logger = logging.getLogger("trio_heartbeat.socketio")

Message = str | bytes


class _SocketIOCodec(EngineIOCodec):
    """Engine.IO codec that decodes Socket.IO packets: acks resolve waiters, CONNECT
    sets :attr:`connected`, DISCONNECT / CONNECT_ERROR end the session, and each
    event passes on as its original frames (text, then binary attachments)."""

    def __init__(self, namespace: str, acks: Waiters[tuple[Any, ...]]) -> None:
        super().__init__()
        self._namespace = namespace
        self._acks = acks
        self._sio = wire.SioDecoder()
        self._frames: list[Message] = []
        self.connected = trio.Event()
        self.sid: str | None = None

    def message(self, data: str | bytes) -> Sequence[Message]:
        if isinstance(data, str):
            self._frames = []
        self._frames.append(data)
        packet = self._sio.receive(data)
        if packet is None:
            return ()  # a binary packet waiting for attachments
        frames, self._frames = self._frames, []
        if packet.namespace != self._namespace:
            logger.debug("packet for namespace %r ignored", packet.namespace)
            return ()
        if isinstance(packet, wire.SioEvent):
            return frames
        if isinstance(packet, wire.SioAck):
            if not self._acks.resolve(packet.ack_id, packet.args):
                logger.debug("ack %d for no pending call ignored", packet.ack_id)
            return ()
        if isinstance(packet, wire.SioConnect):
            if self.connected.is_set():
                raise RemoteProtocolError("second Socket.IO CONNECT for the namespace")
            self.sid = packet.sid
            self.connected.set()
            return ()
        if isinstance(packet, wire.SioConnectError):
            raise SessionEnded(
                CloseCode.NORMAL_CLOSURE, f"Socket.IO connection refused: {packet.message}"
            )
        raise SessionEnded(CloseCode.NORMAL_CLOSURE, "Socket.IO server disconnected the namespace")


class _SocketIOSession(EngineIOSession):
    """Engine.IO session whose open handshake goes on to the namespace's CONNECT."""

    def __init__(self, client: SocketIOClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client = client

    def make_codec(self) -> _SocketIOCodec:
        return _SocketIOCodec(self._client.namespace, self._client._acks)

    async def handshake(self, codec: EngineIOCodec, link: LiveLink | None) -> None:
        """The open packet, then CONNECT out and the server's CONNECT back."""
        assert isinstance(codec, _SocketIOCodec)
        if link is None:
            raise UsageError("the Socket.IO handshake sends CONNECT: it needs the link")
        await super().handshake(codec, link)
        await link.send(wire.encode_connect(self._client.namespace, self._client._auth))
        await codec.connected.wait()


class SocketIOClient(EventIteration[SioEvent]):
    """The client yielded by :func:`open_socketio`; see the module docstring."""

    def __init__(
        self,
        *,
        namespace: str,
        auth: Mapping[str, Any] | None,
        ack_timeout: float,
        ping_interval: float,
        ping_timeout: float,
        open_timeout: float,
        on_connect: OnConnect | None = None,
    ) -> None:
        wire.encode_connect(namespace, auth)  # validates both
        self.namespace = namespace
        self._auth = None if auth is None else dict(auth)
        self.ack_timeout = v.seconds("ack_timeout", ack_timeout)
        self._acks: Waiters[tuple[Any, ...]] = Waiters()
        self._next_ack = 0
        self._user_on_connect = on_connect
        self._session = _SocketIOSession(
            self,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            open_timeout=open_timeout,
            then=self._on_connect,
        )
        self._link: LiveLink | None = None
        self._live_set = trio.Event()
        self._reader = wire.SioDecoder()
        self._ws: ManagedWebSocket | None = None
        self.sid: str | None = None

    def __repr__(self) -> str:
        state = self._ws.state if self._ws is not None else "new"
        return f"<SocketIOClient {self.namespace} {state}>"

    @property
    def ws(self) -> ManagedWebSocket:
        """The underlying managed connection (``statistics()``, ``state_changes``...)."""
        if self._ws is None:
            raise UsageError("the client is not open: use open_socketio()")
        return self._ws

    @asynccontextmanager
    async def _on_connect(self, link: LiveLink) -> AsyncIterator[None]:
        codec = self._session.current
        assert isinstance(codec, _SocketIOCodec)
        try:
            self.sid = codec.sid
            self._link = link
            self._live_set.set()
            async with run_on_connect(self._user_on_connect, link):
                yield
        finally:
            if self._link is link:
                self._link = None
                self._live_set = trio.Event()
            failed = self._acks.fail_all(
                lambda: ConnectionLost(
                    CloseCode.ABNORMAL_CLOSURE, "connection lost before the ack arrived"
                )
            )
            if failed:
                logger.info("connection lost: %d pending call(s) failed", failed)

    async def _wait_live(self) -> LiveLink:
        while True:
            if self._link is not None:
                return self._link
            await self.ws.wait_connected()  # raises once the connection gave up / closed
            if self._link is None:
                with trio.move_on_after(0.05):  # the old link is being torn down
                    await self._live_set.wait()

    async def emit(self, name: str, *args: Any) -> None:
        """Queue event ``name`` with JSON-able ``args``: sent in order, now or after
        the next (re)connect. UsageError for a reserved name or ``bytes`` args."""
        frame = wire.encode_event(name, *args, namespace=self.namespace)
        await self.ws.send(frame[1:])  # the codec adds the Engine.IO "4"

    async def call(self, name: str, *args: Any, timeout: float | None = None) -> tuple[Any, ...]:
        """Emit ``name`` asking for an ack and return the ack's arguments.

        Earlier emits of the same task are written first. Raises RequestTimeout
        after ``timeout`` s (default ``ack_timeout``; waiting for a connection
        included), ConnectionLost if the link drops first (not re-sent).
        """
        wire.encode_event(name, *args, namespace=self.namespace)  # validate first
        timeout = self.ack_timeout if timeout is None else timeout
        with trio.move_on_after(timeout):
            link = await self._wait_live()
            await self.ws.drain()  # earlier emits go first: a task's own order is kept
            link = await self._wait_live()
            ack_id = self._next_ack
            self._next_ack += 1
            waiter = self._acks.register(ack_id)
            try:
                await link.send(
                    wire.encode_event(name, *args, namespace=self.namespace, ack_id=ack_id)
                )
                return await waiter.wait()
            finally:
                self._acks.discard(ack_id)
        raise RequestTimeout(f"event {name!r}", timeout)

    async def next_event(self) -> SioEvent:
        """The next event from the server, across reconnects (raises like ``receive``)."""
        while True:
            data = await self.ws.receive()
            try:
                packet = self._reader.receive(data)
            except RemoteProtocolError:
                # Only a link cut between an event's frames gets here: drop the remnant.
                self._reader = wire.SioDecoder()
                packet = self._reader.receive(data)
            if isinstance(packet, SioEvent):
                return packet


@asynccontextmanager
async def open_socketio(
    url: ConnectTarget,
    *,
    namespace: str = "/",
    auth: Mapping[str, Any] | None = None,
    ack_timeout: float = 10.0,
    ping_interval: float = 25.0,
    ping_timeout: float = 20.0,
    on_connect: OnConnect | None = None,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    **managed: Unpack[ManagedArguments],
) -> AsyncIterator[SocketIOClient]:
    """A managed Socket.IO connection to ``url`` (``/socket.io/?EIO=4&transport=websocket``).

    ``ping_interval`` / ``ping_timeout`` are the expected server settings, as for
    :func:`~trio_heartbeat.adapters.engineio.open_engineio`. ``open_timeout``
    bounds the open packet plus the namespace CONNECT exchange, once the
    WebSocket is open; ``on_connect`` runs after that, on every (re)connect.
    Every other keyword (``reconnect``, ``options``, ``dial``, ``rng``,
    ``heartbeat_clock``) goes to ``open_managed_websocket`` unchanged;
    ``options.send_batch_size`` must be 1.
    """
    require_unbatched(managed, "Engine.IO sends one packet per frame")
    client = SocketIOClient(
        namespace=namespace,
        auth=auth,
        ack_timeout=ack_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        open_timeout=open_timeout,
        on_connect=on_connect,
    )
    session = client._session
    async with open_protocol_websocket(
        url,
        adapter="open_socketio",
        session=session,
        heartbeat=session.heartbeat(),
        managed=managed,
    ) as ws:
        client._ws = ws
        yield client
