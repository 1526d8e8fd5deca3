"""The server's entry points: ``open_heartbeat_server`` (an ``async with``) and
``serve_heartbeat`` (for ``nursery.start``). Users import them from :mod:`trio_heartbeat.server`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn, Unpack

import trio

from trio_heartbeat.server._config import (
    LegacySettings,
    ServerHeartbeat,
    ServerOptions,
    merge_options,
)
from trio_heartbeat.server._hooks import Authorize
from trio_heartbeat.server._server import Handler, HeartbeatServer, Validate

__all__ = ["open_heartbeat_server", "serve_heartbeat"]


@asynccontextmanager
async def open_heartbeat_server(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    *,
    heartbeat: ServerHeartbeat | None = None,
    options: ServerOptions | None = None,
    authorize: Authorize | None = None,
    validate: Validate | None = None,
    **legacy: Unpack[LegacySettings],
) -> AsyncIterator[HeartbeatServer]:
    """Run a heartbeat server for the duration of the ``async with`` block.

    With ``port`` given, listens on ``host``/``port`` (port 0: any free port,
    see ``server.port``); with ``port`` None it only serves the streams passed
    to ``server.handle_stream()``. ``heartbeat`` defaults to
    ``ServerHeartbeat.ping()`` (30 s); ``options`` (:class:`ServerOptions`)
    holds every timeout and limit, TLS and the slow-consumer policy.
    ``authorize`` (async) sees each upgrade request and accepts or rejects it
    before the handler runs; ``validate`` sees each inbound message (see
    :mod:`trio_heartbeat.server._hooks`). The old keyword arguments
    ``handshake_timeout``, ``close_timeout``, ``send_timeout`` and
    ``max_pending_messages`` still work in place of ``options``.

    Leaving the block normally closes every client politely (1001, after
    sending what is queued for it, bounded by ``close_timeout``); leaving it by
    an exception or cancellation aborts them. Either way no task and no timer
    is left behind. Raises UsageError (also a ValueError) for bad settings and
    OSError if the port cannot be bound.
    """
    server = HeartbeatServer(
        handler,
        heartbeat=heartbeat or ServerHeartbeat.ping(),
        options=merge_options(options, legacy),
        authorize=authorize,
        validate=validate,
    )
    if port is not None:
        server._listeners = await trio.open_tcp_listeners(port, host=host)
    try:
        async with trio.open_nursery() as nursery:
            server._nursery = nursery
            nursery.start_soon(server._run_rounds)
            if server._listeners:
                await nursery.start(server._serve_listeners)
            try:
                yield server
            except BaseException:
                server._closing = True
                nursery.cancel_scope.cancel()
                raise
            await server._stop_politely()
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        only = group.exceptions[0]
        raise only from only.__cause__
    finally:
        server._closing = True
        for listener in server._listeners:
            listener.socket.close()  # sync: aclose() would raise Cancelled midway


async def serve_heartbeat(
    handler: Handler,
    host: str | None,
    port: int,
    *,
    heartbeat: ServerHeartbeat | None = None,
    options: ServerOptions | None = None,
    authorize: Authorize | None = None,
    validate: Validate | None = None,
    task_status: trio.TaskStatus[HeartbeatServer] = trio.TASK_STATUS_IGNORED,
    **legacy: Unpack[LegacySettings],
) -> NoReturn:
    """Serve until cancelled; ``await nursery.start(serve_heartbeat, ...)`` returns
    the running :class:`HeartbeatServer` once it listens (``server.port``).

    Arguments as for :func:`open_heartbeat_server`; cancellation aborts every
    client.
    """
    async with open_heartbeat_server(
        handler,
        host,
        port,
        heartbeat=heartbeat,
        options=options,
        authorize=authorize,
        validate=validate,
        **legacy,
    ) as server:
        task_status.started(server)
        await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover
