"""What the protocol adapters share: the core's arguments passed through untouched,
and one session object per connection that owns the protocol's open handshake.

Pass-through. Every adapter (``open_sockjs``, ``open_tradovate``,
``open_engineio``, ``open_socketio``) takes ``**managed`` typed as
:class:`ManagedArguments` and hands it to
:func:`~trio_heartbeat.open_managed_websocket` as it is, through
:func:`open_protocol_websocket`. A new core argument is added to
:class:`ManagedArguments` once and reaches all four adapters; a test checks the
two lists against each other. The core arguments an adapter sets itself
(``codec``, ``on_connect`` and, where the protocol dictates it, ``heartbeat``)
are not in it.

Sessions. A :class:`ProtocolSession` is the codec factory (``codec=``) and the
on-connect step (``on_connect=``) of one managed connection. For every link it
waits for the protocol's open handshake (:meth:`ProtocolSession.handshake`),
then runs the application's own on-connect step (``then``), kept entered for the
link's life.

``open_timeout`` (float seconds, default :data:`DEFAULT_OPEN_TIMEOUT`) is owned
by the session and bounds that open handshake only: it starts once the WebSocket
is open (the WebSocket's own opening — TCP, TLS, HTTP upgrade — is bounded by
``ReconnectPolicy.connect_timeout``) and ends when the protocol says the session
is open (SockJS: the ``o`` frame; Engine.IO: the open packet; Socket.IO: the open
packet and the server's CONNECT answer). Running out raises
:class:`~trio_heartbeat.errors.ConnectTimeout`: the attempt failed and the
reconnect policy retries it.
"""

from __future__ import annotations

import abc
import random
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, Self, TypedDict, TypeVar

import trio

from trio_heartbeat._client.clock import HeartbeatClock
from trio_heartbeat._client.connection import (
    ConnectTarget,
    LiveLink,
    ManagedWebSocket,
    OnConnect,
    open_managed_websocket,
    run_on_connect,
)
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.codec import Codec
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._core.reconnect import ReconnectPolicy
from trio_heartbeat._core.resume import Resume
from trio_heartbeat._core.suspend import SuspendCheck
from trio_heartbeat._transport.links import Dial
from trio_heartbeat.errors import ConnectionClosedError, ConnectTimeout, UsageError

if TYPE_CHECKING:  # the metrics module imports opentelemetry: only when used
    from trio_heartbeat.metrics import Metrics

__all__ = [
    "EventIteration",
    "ADAPTER_ARGUMENTS",
    "DEFAULT_OPEN_TIMEOUT",
    "ManagedArguments",
    "ProtocolSession",
    "open_protocol_websocket",
    "require_unbatched",
]

DEFAULT_OPEN_TIMEOUT = 10.0
"""Seconds an adapter waits for the protocol's open handshake by default."""


class ManagedArguments(TypedDict, total=False):
    """The arguments of :func:`~trio_heartbeat.open_managed_websocket` that every
    adapter passes through unchanged (see that function for their meaning)."""

    reconnect: ReconnectPolicy | None
    options: ConnectionOptions | None
    dial: Dial | None
    rng: random.Random | None
    heartbeat_clock: HeartbeatClock | None
    resume: Resume[Any] | None
    suspend: SuspendCheck | None
    metrics: Metrics | None


ADAPTER_ARGUMENTS = frozenset({"codec", "on_connect", "heartbeat"})
"""Core arguments an adapter decides itself (``on_connect`` chains the user's step
after the protocol's; ``heartbeat`` is the protocol's preset or the user's)."""

_PASSED_THROUGH = frozenset(ManagedArguments.__annotations__)


def require_unbatched(managed: ManagedArguments, why: str) -> None:
    """UsageError(``why``) unless ``options.send_batch_size`` is 1 (one message per frame)."""
    options = managed.get("options")
    if options is not None and options.send_batch_size != 1:
        raise UsageError(f"{why}: send_batch_size must be 1")


CodecT = TypeVar("CodecT", bound=Codec)
EventT = TypeVar("EventT")


class EventIteration(Generic[EventT]):
    """``async for event in client``: :meth:`next_event` until the connection is
    closed; raises like ``ManagedWebSocket.receive`` if the policy gave up."""

    async def next_event(self) -> EventT:
        raise NotImplementedError

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EventT:
        try:
            return await self.next_event()
        except ConnectionClosedError:
            raise StopAsyncIteration from None


class ProtocolSession(abc.ABC, Generic[CodecT]):
    """Codec factory plus on-connect step of one managed protocol connection.

    Subclasses say how to make a link's codec (:meth:`make_codec`) and what the
    protocol's open handshake is (:meth:`handshake`). Pass :meth:`codec` as
    ``codec=`` and :meth:`on_connect` as ``on_connect=`` (or use
    :func:`open_protocol_websocket`, which does). The core creates a codec per
    link just before it runs the on-connect step, so :attr:`current` is always the
    codec of the link being opened. Raises UsageError for a bad ``open_timeout``.
    """

    def __init__(
        self, *, open_timeout: float = DEFAULT_OPEN_TIMEOUT, then: OnConnect | None = None
    ) -> None:
        self.open_timeout = v.seconds("open_timeout", open_timeout)
        self._then = then
        self.current: CodecT | None = None

    @abc.abstractmethod
    def make_codec(self) -> CodecT:
        """Create the codec of a new link."""

    def codec(self) -> CodecT:
        """The codec factory: a fresh codec for a new link, remembered as :attr:`current`."""
        self.current = self.make_codec()
        return self.current

    @abc.abstractmethod
    async def handshake(self, codec: CodecT, link: LiveLink | None) -> None:
        """Wait until ``codec`` has seen the protocol's open handshake (may send on ``link``).

        Runs inside the ``open_timeout`` window; may raise any of our errors to
        fail the attempt.
        """

    async def wait_open(self, link: LiveLink | None = None) -> CodecT:
        """Run :meth:`handshake` for the current link; ConnectTimeout after ``open_timeout``."""
        codec = self.current
        if codec is None:
            raise UsageError(f"{type(self).__name__}.codec must be the connection's codec factory")
        with trio.move_on_after(self.open_timeout):
            await self.handshake(codec, link)
            return codec
        raise ConnectTimeout(self.open_timeout)

    async def opened(self, codec: CodecT, link: LiveLink) -> None:
        """Called once the handshake succeeded, before ``then`` (override point)."""

    @asynccontextmanager
    async def _link_life(self, link: LiveLink) -> AsyncIterator[None]:
        codec = await self.wait_open(link)
        await self.opened(codec, link)
        async with run_on_connect(self._then, link):
            yield

    def on_connect(self, link: LiveLink) -> AbstractAsyncContextManager[None]:
        """The on-connect step: the open handshake, then ``then(link)`` (an async
        function, or an async context manager kept entered for the link's life)."""
        return self._link_life(link)


@asynccontextmanager
async def open_protocol_websocket(
    url: ConnectTarget,
    *,
    adapter: str,
    session: ProtocolSession[Any],
    heartbeat: Heartbeat,
    managed: ManagedArguments,
) -> AsyncIterator[ManagedWebSocket]:
    """``open_managed_websocket(url, ...)`` with ``session`` as codec factory and
    on-connect step, ``heartbeat``, and every argument in ``managed`` as given.

    ``adapter`` names the calling function in the UsageError raised for an
    argument that is not a :class:`ManagedArguments` key (before any I/O).
    """
    unknown = sorted(set(managed) - _PASSED_THROUGH)
    if unknown:
        raise UsageError(f"{adapter}() got unexpected keyword argument(s): {', '.join(unknown)}")
    async with open_managed_websocket(
        url,
        heartbeat=heartbeat,
        on_connect=session.on_connect,
        codec=session.codec,
        **managed,
    ) as ws:
        yield ws
