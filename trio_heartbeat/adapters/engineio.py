"""Engine.IO v4 over a managed WebSocket: codec, open-packet step, heartbeat.

The packets live in :mod:`trio_heartbeat.protocols.engineio`; this module runs
them::

    url = "ws://host/engine.io/?EIO=4&transport=websocket"
    async with open_engineio(url, ping_interval=25.0, ping_timeout=20.0) as eio:
        await eio.send("hello")           # "4hello"; bytes go out as binary frames
        print(await eio.receive(), eio.open_packet)

Contract, per link:

- the on-connect step waits for the open packet (at most ``open_timeout`` s,
  else ConnectTimeout, retried) before buffered messages flush;
- the server's ``2`` is answered ``3`` and swallowed by the core
  (``Heartbeat.engineio``); the link is dead after ``ping_interval + ping_timeout``
  seconds without a ping (or any other traffic);
- the core's heartbeat is fixed per connection, so ``ping_interval`` /
  ``ping_timeout`` are the *expected* server settings (defaults: Engine.IO's 25 s
  and 20 s). The open packet is checked against them: a server that pings less
  often than every ``ping_interval + ping_timeout`` seconds would have every
  healthy link declared dead, so that attempt fails with RemoteProtocolError
  (logged as an error); a server whose own bound is tighter is accepted, with
  death detected within the configured, looser bound (logged once);
- a close packet ``1`` from the server raises SessionEnded (no reconnect);
  malformed packets, a second open packet, ``5`` (upgrade) or a ``2probe`` raise
  RemoteProtocolError (link ends, counted, retried).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Unpack

import trio

from trio_heartbeat._client.connection import ConnectTarget, LiveLink, ManagedWebSocket, OnConnect
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat.adapters._base import (
    DEFAULT_OPEN_TIMEOUT,
    ManagedArguments,
    ProtocolSession,
    open_protocol_websocket,
    require_unbatched,
)
from trio_heartbeat.errors import RemoteProtocolError, SessionEnded, UsageError
from trio_heartbeat.protocols import engineio as wire

__all__ = ["EngineIOClient", "EngineIOCodec", "EngineIOSession", "open_engineio"]

logger = logging.getLogger("trio_heartbeat.engineio")

Message = str | bytes


class EngineIOCodec:
    """Per-link codec for Engine.IO packets (one packet per WebSocket message).

    ``decode``: the open packet sets :attr:`opened` / :attr:`open_packet` and
    yields nothing; a message packet yields its data (``str`` or ``bytes``)
    through :meth:`message`; noop and pong yield nothing; close raises
    SessionEnded; anything else raises RemoteProtocolError.
    ``encode``: one message per frame (``"4" + text`` or a binary frame).
    """

    def __init__(self, *, max_packet_size: int = wire.DEFAULT_MAX_PACKET_SIZE) -> None:
        self._decoder = wire.EngineDecoder(max_packet_size=max_packet_size)
        self.opened = trio.Event()

    @property
    def open_packet(self) -> wire.EngineOpen | None:
        """The server's open packet, once received."""
        return self._decoder.open_packet

    def decode(self, message: Message) -> Iterable[Message]:
        packet = self._decoder.receive(message)
        if isinstance(packet, wire.EngineMessage):
            return self.message(packet.data)
        if isinstance(packet, wire.EngineOpen):
            self.opened.set()
            return ()
        if isinstance(packet, wire.EngineNoop | wire.EnginePong):
            return ()
        if isinstance(packet, wire.EngineClose):
            raise SessionEnded(CloseCode.NORMAL_CLOSURE, "Engine.IO close packet from the server")
        if isinstance(packet, wire.EnginePing):
            raise RemoteProtocolError(
                f"unexpected Engine.IO ping {packet.data!r}: no transport upgrade in progress"
            )
        raise RemoteProtocolError("unexpected Engine.IO upgrade packet on a WebSocket")

    def message(self, data: str | bytes) -> Sequence[Message]:
        """The application messages of one message packet (override point)."""
        return (data,)

    def encode(self, messages: Sequence[Message]) -> Message:
        if len(messages) != 1:
            raise UsageError("Engine.IO sends one packet per frame: send_batch_size must be 1")
        return wire.encode_message(messages[0])


class EngineIOSession(ProtocolSession[EngineIOCodec]):
    """Codec factory plus on-connect step (open packet, settings check) of one connection.

    ``ping_interval`` / ``ping_timeout`` are the expected server settings (float
    seconds > 0); ``open_timeout`` bounds the wait for the open packet once the
    WebSocket is open. Raises UsageError for a bad value.
    """

    def __init__(
        self,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        then: OnConnect | None = None,
    ) -> None:
        super().__init__(open_timeout=open_timeout, then=then)
        self.ping_interval = v.seconds("ping_interval", ping_interval)
        self.ping_timeout = v.seconds("ping_timeout", ping_timeout)
        self._warned = False
        self.open_packet: wire.EngineOpen | None = None

    @property
    def liveness_bound(self) -> float:
        """Seconds without a ping after which a link is declared dead."""
        return self.ping_interval + self.ping_timeout

    def heartbeat(self) -> Heartbeat:
        """The core heartbeat: swallow ``2``, answer ``3``, dead after :attr:`liveness_bound`."""
        return Heartbeat.engineio(self.ping_interval, self.ping_timeout)

    def make_codec(self) -> EngineIOCodec:
        """Create the codec of a new link (override in protocols riding on Engine.IO)."""
        return EngineIOCodec()

    def check_open(self, packet: wire.EngineOpen) -> None:
        """Note when the server's timing differs from the configured one.

        The link adopts the server's bound (pingInterval + pingTimeout) as soon
        as the open packet arrives; the configured values only bound the wait
        for it.
        """
        if packet.liveness_timeout != self.liveness_bound and not self._warned:
            self._warned = True
            logger.info(
                "server allows %g s without a ping (configured: %g s); adopting the server's",
                packet.liveness_timeout,
                self.liveness_bound,
            )

    async def handshake(self, codec: EngineIOCodec, link: LiveLink | None) -> None:
        """Wait for the link's open packet and check it (see :meth:`check_open`)."""
        await codec.opened.wait()
        assert codec.open_packet is not None
        self.check_open(codec.open_packet)
        self.open_packet = codec.open_packet

    async def opened(self, codec: EngineIOCodec, link: LiveLink) -> None:
        """Adopt the server's liveness bound for the link."""
        assert codec.open_packet is not None
        link.set_silence_timeout(codec.open_packet.liveness_timeout)


class EngineIOClient:
    """The connection yielded by :func:`open_engineio`."""

    def __init__(self, ws: ManagedWebSocket, session: EngineIOSession) -> None:
        self.ws = ws
        self._session = session

    @property
    def open_packet(self) -> wire.EngineOpen | None:
        """The open packet of the latest link (sid, pingInterval, pingTimeout, maxPayload)."""
        return self._session.open_packet

    async def send(self, message: Message) -> None:
        """Queue a message packet (``str`` as ``4...``, ``bytes`` as a binary frame)."""
        if not isinstance(message, str | bytes):
            raise UsageError(f"messages are str or bytes, got {type(message).__name__}")
        await self.ws.send(message)

    async def receive(self) -> Message:
        """The next message packet's data, across reconnects."""
        return await self.ws.receive()

    def __aiter__(self) -> EngineIOClient:
        return self

    async def __anext__(self) -> Message:
        return await self.ws.__anext__()


@asynccontextmanager
async def open_engineio(
    url: ConnectTarget,
    *,
    ping_interval: float = 25.0,
    ping_timeout: float = 20.0,
    on_connect: OnConnect | None = None,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    **managed: Unpack[ManagedArguments],
) -> AsyncIterator[EngineIOClient]:
    """A managed Engine.IO v4 WebSocket-only connection (see the module docstring).

    ``url`` must select the WebSocket transport (``?EIO=4&transport=websocket``).
    ``open_timeout`` bounds the wait for the open packet once the WebSocket is
    open. Every other keyword (``reconnect``, ``options``, ``dial``, ``rng``,
    ``heartbeat_clock``) goes to ``open_managed_websocket`` unchanged;
    ``options.send_batch_size`` must be 1.
    """
    require_unbatched(managed, "Engine.IO sends one packet per frame")
    session = EngineIOSession(
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        open_timeout=open_timeout,
        then=on_connect,
    )
    async with open_protocol_websocket(
        url,
        adapter="open_engineio",
        session=session,
        heartbeat=session.heartbeat(),
        managed=managed,
    ) as ws:
        yield EngineIOClient(ws, session)
