"""In-memory network: a WebSocket server and its clients joined by fault relays.

No sockets and no real time: every byte moves through
``trio.testing.memory_stream_pair()``, so under trio's ``MockClock`` (pytest-trio's
``autojump_clock``) every fault is exact to the virtual second::

    faults = Faults()
    async with open_memory_network(handle_stream, faults=faults) as network:
        stream = await network.dial()          # the client's trio.abc.Stream
        faults.set_latency(0.25)               # 0.5 s round trip from now on

``handle_stream`` receives the server half of each connection, e.g. a function
that wraps it with ``trio_websocket.wrap_server_stream``. ``network.dial`` has the
shape the client library accepts as its ``dial`` argument.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import trio
import trio.testing

from trio_heartbeat.testing._faults import ConnectionStats, Faults
from trio_heartbeat.testing._relay import Link

__all__ = ["MemoryNetwork", "open_memory_network"]

HandleStream = Callable[[trio.abc.Stream], Awaitable[None]]


class _ResettableStream(trio.abc.HalfCloseableStream):
    """A user-side end of an in-memory connection that can be reset.

    After :meth:`reset`, pending and later ``send_all``/``receive_some``/``send_eof``
    raise ``trio.BrokenResourceError``, as on a socket that received a TCP RST.
    """

    def __init__(self, inner: trio.abc.HalfCloseableStream) -> None:
        self._inner = inner
        self._reset = False
        self._scopes: set[trio.CancelScope] = set()

    def reset(self) -> None:
        self._reset = True
        for scope in list(self._scopes):
            scope.cancel()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        if self._reset:
            raise trio.BrokenResourceError("connection reset by peer (injected fault)")
        scope = trio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                yield
        finally:
            self._scopes.discard(scope)
        if scope.cancelled_caught and self._reset:
            raise trio.BrokenResourceError("connection reset by peer (injected fault)")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._guard():
            await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        with self._guard():
            await self._inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        with self._guard():
            await self._inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        with self._guard():
            return await self._inner.receive_some(max_bytes)
        raise AssertionError("unreachable")  # pragma: no cover  (the guard raised)

    async def aclose(self) -> None:
        await self._inner.aclose()


class MemoryNetwork:
    """Dial in-memory connections to ``handle_stream`` through a fault relay.

    Made by :func:`open_memory_network`; lives as long as its ``async with``.
    """

    def __init__(self, nursery: trio.Nursery, handle_stream: HandleStream, faults: Faults) -> None:
        self.faults = faults
        self._nursery = nursery
        self._handle_stream = handle_stream
        self._links: list[Link] = []

    @property
    def connections(self) -> tuple[ConnectionStats, ...]:
        """Snapshots of the connections dialed on this network, oldest first."""
        return tuple(link.snapshot() for link in self._links)

    async def dial(self) -> trio.abc.Stream:
        """Open a connection and return the client's end of it.

        The switchboard decides at once what happens to it (relayed, refused,
        rejected...); ``handle_stream`` is started with the server's end, in the
        network's nursery, only when the connection is relayed.
        """
        await trio.lowlevel.checkpoint()
        client_user, client_relay = trio.testing.memory_stream_pair()
        client = _ResettableStream(client_user)
        server_ends: list[_ResettableStream] = []

        async def connect_upstream() -> trio.abc.Stream:
            server_relay, server_user = trio.testing.memory_stream_pair()
            server = _ResettableStream(server_user)
            server_ends.append(server)
            self._nursery.start_soon(self._handle_stream, server)
            return server_relay

        def on_abort() -> None:
            client.reset()
            for server in server_ends:
                server.reset()

        link = Link(self.faults, client_relay, connect_upstream, on_abort=on_abort)
        self._links.append(link)
        self._nursery.start_soon(link.run)
        return client


@contextlib.asynccontextmanager
async def open_memory_network(
    handle_stream: HandleStream, *, faults: Faults | None = None
) -> AsyncIterator[MemoryNetwork]:
    """Run an in-memory network whose server side is ``handle_stream``.

    ``faults`` is the switchboard to obey (a new one when ``None``; reach it as
    ``network.faults``). Leaving the block cancels every relay and handler task
    and closes every stream. An exception raised by ``handle_stream`` is not
    swallowed: it ends the block and propagates (unwrapped when it is the only
    one).
    """
    try:
        async with trio.open_nursery() as nursery:
            network = MemoryNetwork(
                nursery, handle_stream, faults if faults is not None else Faults()
            )
            try:
                yield network
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            only = group.exceptions[0]
            raise only from only.__cause__
        raise
