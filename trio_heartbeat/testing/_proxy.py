"""A fault-injecting TCP proxy on loopback, in front of any WebSocket server.

The upstream server can be anything that listens on TCP (a trio-websocket
server, a Node process...): the proxy only copies bytes, under the same
:class:`Faults` switchboard as the in-memory network::

    async with open_fault_proxy("127.0.0.1", server_port) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/"
        proxy.faults.black_hole()              # half-open from now on

Real sockets run in real time: never use an autojump clock with the proxy.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import NoReturn

import trio

from trio_heartbeat.testing._faults import ConnectionStats, Faults
from trio_heartbeat.testing._relay import Link

__all__ = ["FaultProxy", "open_fault_proxy", "serve_fault_proxy"]


class FaultProxy:
    """A running proxy: where it listens, its switchboard and its connections."""

    def __init__(
        self, host: str, port: int, upstream_host: str, upstream_port: int, faults: Faults
    ) -> None:
        self.host = host
        self.port = port
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.faults = faults
        self._links: list[Link] = []

    @property
    def connections(self) -> tuple[ConnectionStats, ...]:
        """Snapshots of the connections accepted by this proxy, oldest first."""
        return tuple(link.snapshot() for link in self._links)

    def __repr__(self) -> str:
        return f"<FaultProxy {self.host}:{self.port} -> {self.upstream_host}:{self.upstream_port}>"


async def serve_fault_proxy(
    upstream_host: str,
    upstream_port: int,
    *,
    faults: Faults | None = None,
    listen_host: str = "127.0.0.1",
    listen_port: int = 0,
    upstream_connect_timeout: float = 10.0,
    task_status: trio.TaskStatus[FaultProxy] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Accept TCP connections on ``listen_host:listen_port`` and relay each one to
    ``upstream_host:upstream_port`` under ``faults`` (a new switchboard when
    ``None``). Start it with ``proxy = await nursery.start(serve_fault_proxy, ...)``;
    ``proxy.port`` is the bound port. Runs until cancelled; cancelling closes
    every relayed connection.

    The upstream connection is opened only for connections the switchboard lets
    through; if it fails or takes longer than ``upstream_connect_timeout`` seconds,
    the client's connection is closed and ``upstream_error`` records why. Raises
    ``OSError`` when the listening socket cannot be bound.
    """
    switchboard = faults if faults is not None else Faults()
    listeners = await trio.open_tcp_listeners(listen_port, host=listen_host)
    sockname = listeners[0].socket.getsockname()
    proxy = FaultProxy(sockname[0], sockname[1], upstream_host, upstream_port, switchboard)

    async def connect_upstream() -> trio.abc.Stream:
        with trio.move_on_after(upstream_connect_timeout):
            return await trio.open_tcp_stream(upstream_host, upstream_port)
        raise TimeoutError(f"no TCP connection within {upstream_connect_timeout:g} s")

    async def handle(stream: trio.SocketStream) -> None:
        link = Link(switchboard, stream, connect_upstream)
        proxy._links.append(link)
        await link.run()

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(proxy)
        await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.asynccontextmanager
async def open_fault_proxy(
    upstream_host: str,
    upstream_port: int,
    *,
    faults: Faults | None = None,
    listen_host: str = "127.0.0.1",
    listen_port: int = 0,
    upstream_connect_timeout: float = 10.0,
) -> AsyncIterator[FaultProxy]:
    """Run :func:`serve_fault_proxy` for the duration of the ``async with`` block
    and yield its :class:`FaultProxy`; leaving the block stops it."""
    try:
        async with trio.open_nursery() as nursery:
            proxy: FaultProxy = await nursery.start(
                _serve_kw,
                upstream_host,
                upstream_port,
                faults,
                listen_host,
                listen_port,
                upstream_connect_timeout,
            )
            try:
                yield proxy
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            only = group.exceptions[0]
            raise only from only.__cause__
        raise


async def _serve_kw(
    upstream_host: str,
    upstream_port: int,
    faults: Faults | None,
    listen_host: str,
    listen_port: int,
    upstream_connect_timeout: float,
    *,
    task_status: trio.TaskStatus[FaultProxy] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    await serve_fault_proxy(
        upstream_host,
        upstream_port,
        faults=faults,
        listen_host=listen_host,
        listen_port=listen_port,
        upstream_connect_timeout=upstream_connect_timeout,
        task_status=task_status,
    )
