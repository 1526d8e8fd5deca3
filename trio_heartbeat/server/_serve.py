"""The heartbeat server: the registry of clients, the heartbeat rounds task and the
public ``open_heartbeat_server`` / ``serve_heartbeat`` entry points."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, NoReturn

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from trio_heartbeat._core.redact import redact_target
from trio_heartbeat.errors import ConnectionLost, PeerUnresponsive, UsageError
from trio_heartbeat.server._client import ClientEnd, ClientInfo, ServerClient
from trio_heartbeat.server._config import ServerHeartbeat, ServerStatistics, _Counters
from trio_heartbeat.server._rounds import ClientLiveness, IsAliveRounds
from trio_heartbeat.server._stream import WatchedStream, describe_peer

__all__ = [
    "ClientEnd",
    "ClientInfo",
    "HeartbeatServer",
    "ServerClient",
    "ServerHeartbeat",
    "ServerStatistics",
    "open_heartbeat_server",
    "serve_heartbeat",
]

logger = logging.getLogger("trio_heartbeat.server._serve")

Handler = Callable[[ServerClient], Awaitable[object]]
"""``async def handler(client: ServerClient) -> None``: serves one client."""


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


class HeartbeatServer:
    """Registry of connected clients, heartbeat rounds, send and broadcast.

    Created by :func:`open_heartbeat_server` or :func:`serve_heartbeat`; not
    meant to be constructed directly.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        heartbeat: ServerHeartbeat,
        handshake_timeout: float,
        close_timeout: float,
        send_timeout: float,
        max_pending_messages: int,
    ) -> None:
        _positive("handshake_timeout", handshake_timeout)
        _positive("close_timeout", close_timeout)
        _positive("send_timeout", send_timeout)
        if not isinstance(max_pending_messages, int) or max_pending_messages < 1:
            raise ValueError(f"max_pending_messages must be >= 1, got {max_pending_messages!r}")
        self._handler = handler
        self._heartbeat = heartbeat
        self._handshake_timeout = handshake_timeout
        self._close_timeout = close_timeout
        self._send_timeout = send_timeout
        self._max_pending = max_pending_messages
        self._rounds = IsAliveRounds(any_traffic_counts=heartbeat.any_traffic_counts)
        self._clients: dict[int, ServerClient] = {}
        self._ids = itertools.count(1)
        self._counts = _Counters()
        self._nursery: trio.Nursery | None = None
        self._listeners: list[trio.SocketListener] = []
        self._listen_scope = trio.CancelScope()
        self._closing = False

    # -- introspection -------------------------------------------------------

    @property
    def heartbeat(self) -> ServerHeartbeat:
        """The heartbeat configuration."""
        return self._heartbeat

    @property
    def listeners(self) -> tuple[trio.SocketListener, ...]:
        """The TCP listeners (empty when the server only serves given streams)."""
        return tuple(self._listeners)

    @property
    def port(self) -> int:
        """The bound TCP port (the kernel's choice for port 0).

        Raises UsageError if the server has no listener or its listeners
        ended up on different ports.
        """
        ports = {listener.socket.getsockname()[1] for listener in self._listeners}
        if len(ports) != 1:
            raise UsageError(f"server has no single listening port (ports: {sorted(ports)})")
        return int(ports.pop())

    def clients(self) -> tuple[ClientInfo, ...]:
        """Snapshots of the connected clients, in connection order."""
        return tuple(self._info_of(client) for client in self._clients.values())

    def client_info(self, client_id: int) -> ClientInfo:
        """Snapshot of one connected client; raises UsageError if not connected."""
        return self._info_of(self._client(client_id))

    def statistics(self) -> ServerStatistics:
        """A frozen snapshot of the counters."""
        return ServerStatistics(
            clients=len(self._clients), rounds=self._rounds.rounds, **attrs.asdict(self._counts)
        )

    # -- sending -------------------------------------------------------------

    async def send(self, client_id: int, message: str | bytes) -> None:
        """Send ``message`` to one client (str: text frame, bytes: binary frame).

        Raises UsageError if no such client is connected (or ``message`` is
        neither str nor bytes), ConnectionLost if the send fails or does not
        finish within ``send_timeout`` -- that client is then dropped.
        """
        await self._deliver(self._client(client_id), message)

    async def broadcast(self, message: str | bytes, *, exclude: int | None = None) -> int:
        """Send ``message`` to every connected client except ``exclude`` (a client id).

        Sends run concurrently, each bounded by ``send_timeout``; a client whose
        send fails or stalls is dropped and counted, and never affects the
        others. Returns how many clients the message was delivered to.
        """
        _check_message(message)
        targets = [c for c in self._clients.values() if c.id != exclude and not c.closed]
        delivered = 0

        async def one(client: ServerClient) -> None:
            nonlocal delivered
            try:
                await self._deliver(client, message)
            except ConnectionLost:
                return
            delivered += 1

        async with trio.open_nursery() as nursery:
            for client in targets:
                nursery.start_soon(one, client)
        return delivered

    # -- serving -------------------------------------------------------------

    async def handle_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one already-connected byte stream until that client ends.

        Performs the WebSocket handshake (bounded by ``handshake_timeout``),
        registers the client, runs the handler, and aborts the stream at the
        end. The client's tasks run in the server's nursery; cancelling this
        call ends the client. The server owns ``stream`` from now on (it is
        closed even on error). Raises UsageError if the server is stopping.
        """
        if self._closing or self._nursery is None:
            await trio.aclose_forcefully(stream)
            raise UsageError("the server is not running")
        scope = trio.CancelScope()
        done = trio.Event()
        self._nursery.start_soon(self._run_client, stream, scope, done)
        try:
            await done.wait()
        finally:
            scope.cancel()

    async def _accept(self, stream: trio.abc.Stream) -> None:
        await self._run_client(stream, trio.CancelScope(), None)

    async def _serve_listeners(self, *, task_status: trio.TaskStatus[Any]) -> None:
        with self._listen_scope:
            await trio.serve_listeners(
                self._accept,
                self._listeners,
                handler_nursery=self._nursery,
                task_status=task_status,
            )

    async def _run_client(
        self, stream: trio.abc.Stream, scope: trio.CancelScope, done: trio.Event | None
    ) -> None:
        try:
            with scope:
                await self._serve_client(stream)
        except* Exception:
            logger.exception("internal error while serving a client")
        finally:
            try:
                await trio.aclose_forcefully(stream)  # a checkpoint: raises if cancelled
            finally:
                if done is not None:
                    done.set()

    async def _handshake(
        self, nursery: trio.Nursery, stream: trio.abc.Stream
    ) -> WebSocketConnection | None:
        with trio.move_on_after(self._handshake_timeout):
            try:
                request = await wrap_server_stream(nursery, stream)
                return await request.accept()
            except ConnectionClosed:
                return None
        return None

    async def _serve_client(self, stream: trio.abc.Stream) -> None:
        watched = WatchedStream(stream)
        async with trio.open_nursery() as nursery:
            conn = await self._handshake(nursery, watched)
            if conn is None:
                self._counts.handshake_failures += 1
                logger.info("WebSocket handshake from %s failed", describe_peer(stream))
                nursery.cancel_scope.cancel()
                return
            client = self._register(conn, watched, stream)
            try:
                nursery.start_soon(self._pump, client)
                nursery.start_soon(self._send_heartbeats, client)
                nursery.start_soon(self._run_handler, client)
                await client._ended.wait()
                await trio.aclose_forcefully(stream)
                client._close_inbox()
                with trio.move_on_after(self._close_timeout):
                    await client._handler_done.wait()
                nursery.cancel_scope.cancel()
            finally:
                client._record_end(
                    ClientEnd.CANCELLED, ConnectionLost(1006, "serving it was cancelled")
                )
                client._close_inbox()
                self._unregister(client)

    def _register(
        self, conn: WebSocketConnection, watched: WatchedStream, stream: trio.abc.Stream
    ) -> ServerClient:
        client_id = next(self._ids)
        client = ServerClient(
            client_id,
            conn=conn,
            stream=watched,
            remote=describe_peer(stream),
            path=conn.path or "/",
            max_pending_messages=self._max_pending,
            deliver=self._deliver,
            info=self._info_of,
        )
        self._clients[client_id] = client
        self._rounds.add(client_id, trio.current_time())
        rounds = self._rounds

        def seen() -> None:
            rounds.traffic(client_id, trio.current_time())

        def stalled() -> None:
            self._drop(client, ClientEnd.SEND_FAILED, ConnectionLost(1006, "a write stalled"))

        watched.on_receive = seen
        watched.on_stall = stalled
        self._counts.accepted += 1
        logger.info(
            "client %d connected (%s, path %s)",
            client_id,
            client.remote,
            redact_target(client.path),
        )
        return client

    def _unregister(self, client: ServerClient) -> None:
        if self._clients.pop(client.id, None) is None:
            return
        if client.id in self._rounds:
            client._last_info = self._info_of(client)
        self._rounds.remove(client.id)
        client._probe_send.close()
        reason = client.end_reason or ClientEnd.CANCELLED
        self._counts.closed += 1
        if reason is ClientEnd.UNRESPONSIVE:
            self._counts.terminated += 1
        elif reason in (ClientEnd.SEND_FAILED, ClientEnd.OVERFLOW):
            self._counts.dropped += 1
        level = logging.INFO
        if reason in (ClientEnd.UNRESPONSIVE, ClientEnd.SEND_FAILED, ClientEnd.OVERFLOW):
            level = logging.WARNING
        logger.log(
            level,
            "client %d (%s) closed: %s (%s)",
            client.id,
            client.remote,
            reason.value,
            client._lost(),
        )

    def _drop(self, client: ServerClient, reason: ClientEnd, error: ConnectionLost) -> None:
        client._abort(reason, error)
        self._unregister(client)

    def _client(self, client_id: int) -> ServerClient:
        client = self._clients.get(client_id)
        if client is None:
            raise UsageError(f"no connected client with id {client_id!r}")
        return client

    def _info_of(self, client: ServerClient) -> ClientInfo:
        if client.id not in self._rounds:
            assert client._last_info is not None
            return client._last_info
        return self._make_info(client, self._rounds.liveness(client.id))

    @staticmethod
    def _make_info(client: ServerClient, live: ClientLiveness) -> ClientInfo:
        return ClientInfo(
            id=client.id,
            remote=client.remote,
            path=client.path,
            connected_since=live.connected_since,
            last_seen=live.last_seen,
            rtt=live.rtt,
        )

    # -- per-client tasks ----------------------------------------------------

    async def _pump(self, client: ServerClient) -> None:
        """Keep reading, so trio-websocket's 1-message queue never stalls pongs."""
        answer = self._heartbeat.answer
        while True:
            try:
                message = await client._conn.get_message()
            except ConnectionClosed as exc:
                code, text = (
                    (exc.reason.code, exc.reason.reason or "") if exc.reason else (1006, "")
                )
                client._finish(ClientEnd.PEER_CLOSED, ConnectionLost(code, text))
                return
            if answer is not None and message == answer:
                self._rounds.answer(client.id, trio.current_time())
                self._counts.heartbeat_answers += 1
                continue
            try:
                client._inbox_send.send_nowait(message)
            except trio.WouldBlock:
                error = ConnectionLost(1008, f"more than {self._max_pending} unread messages")
                self._drop(client, ClientEnd.OVERFLOW, error)
                return
            except trio.ClosedResourceError:
                return
            self._counts.messages_in += 1

    async def _send_heartbeats(self, client: ServerClient) -> None:
        """Send the probes the rounds ask for; each bounded by the next round."""
        heartbeat = self._heartbeat
        async for number, at in client._probe_receive:
            with trio.move_on_at(at + heartbeat.interval):
                try:
                    self._counts.heartbeats_sent += 1
                    if heartbeat.payload is not None:
                        await client._conn.send_message(heartbeat.payload)
                        continue
                    # Unique payload per round: a cancelled ping stays registered
                    # in trio-websocket, and a reused payload would raise.
                    await client._conn.ping(b"trio-heartbeat %d" % number)
                except ConnectionClosed:
                    return
                self._rounds.answer(client.id, trio.current_time(), number)
                self._counts.heartbeat_answers += 1

    async def _run_handler(self, client: ServerClient) -> None:
        try:
            error: Exception | None = None
            try:
                await self._handler(client)
            except ConnectionLost as exc:
                if not client.closed:
                    error = exc
            except Exception as exc:
                error = exc
            if error is not None:
                self._counts.handler_errors += 1
                logger.error("handler of client %d raised", client.id, exc_info=error)
                await self._close_politely(client, 1011, "internal error", ClientEnd.HANDLER_FAILED)
            else:
                await self._close_politely(client, 1000, "", ClientEnd.HANDLER_RETURNED)
        finally:
            client._handler_done.set()

    async def _close_politely(
        self, client: ServerClient, code: int, text: str, reason: ClientEnd
    ) -> None:
        """Closing handshake bounded by ``close_timeout``; the stream is aborted after."""
        if client.closed:
            return
        client._record_end(reason, ConnectionLost(code, text))
        client._polite_closing = True
        self._unregister(client)
        with trio.move_on_after(self._close_timeout):
            await client._conn.aclose(code, text or None)
        client._ended.set()

    async def _deliver(self, client: ServerClient, message: str | bytes) -> None:
        _check_message(message)
        if client.closed:
            raise client._lost()
        sent = False
        with trio.move_on_after(self._send_timeout):
            try:
                await client._conn.send_message(message)
                sent = True
            except ConnectionClosed:
                pass
        if sent:
            self._counts.messages_out += 1
            return
        closed = client._conn.closed
        if closed is not None and closed.code != 1006:
            client._finish(ClientEnd.PEER_CLOSED, ConnectionLost(closed.code, closed.reason or ""))
        else:
            self._drop(client, ClientEnd.SEND_FAILED, ConnectionLost(1006, "send failed"))
        raise client._lost()

    # -- rounds and lifetime -------------------------------------------------

    async def _run_rounds(self) -> None:
        interval = self._heartbeat.interval
        what = "inbound traffic" if self._heartbeat.any_traffic_counts else "heartbeat answer"
        start = trio.current_time()
        step = 1
        while not self._closing:
            await trio.sleep_until(start + step * interval)
            now = trio.current_time()
            result = self._rounds.run_round(now)
            for client_id, live in zip(result.terminate, result.final, strict=True):
                client = self._clients.get(client_id)
                if client is not None:
                    client._last_info = self._make_info(client, live)
                    self._drop(client, ClientEnd.UNRESPONSIVE, PeerUnresponsive(interval, what))
            for client_id in result.probe:
                with suppress(KeyError, trio.WouldBlock, trio.ClosedResourceError):
                    self._clients[client_id]._probe_send.send_nowait((result.number, now))
            # Missed rounds (a blocked event loop) are skipped, not run in a burst.
            step = max(step + 1, math.floor((now - start) / interval) + 1)

    async def _stop_politely(self) -> None:
        self._closing = True
        self._listen_scope.cancel()
        async with trio.open_nursery() as nursery:
            for client in list(self._clients.values()):
                nursery.start_soon(
                    self._close_politely, client, 1001, "server stopping", ClientEnd.SERVER_STOPPING
                )


def _check_message(message: object) -> None:
    if not isinstance(message, str | bytes):
        raise UsageError(f"a message is str or bytes, not {type(message).__name__}")


@asynccontextmanager
async def open_heartbeat_server(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    *,
    heartbeat: ServerHeartbeat | None = None,
    handshake_timeout: float = 10.0,
    close_timeout: float = 5.0,
    send_timeout: float = 10.0,
    max_pending_messages: int = 256,
) -> AsyncIterator[HeartbeatServer]:
    """Run a heartbeat server for the duration of the ``async with`` block.

    With ``port`` given, listens on ``host``/``port`` (port 0: any free port,
    see ``server.port``); with ``port`` None it only serves the streams passed
    to ``server.handle_stream()``. ``heartbeat`` defaults to
    ``ServerHeartbeat.ping()`` (30 s). ``handshake_timeout`` bounds the
    WebSocket upgrade, ``close_timeout`` each closing handshake and the wait for
    a handler after its connection ended, ``send_timeout`` each send.

    Leaving the block normally closes every client politely (1001, bounded by
    ``close_timeout``); leaving it by an exception or cancellation aborts them.
    Either way no task and no timer is left behind. Raises ValueError for bad
    arguments and OSError if the port cannot be bound.
    """
    server = HeartbeatServer(
        handler,
        heartbeat=heartbeat or ServerHeartbeat.ping(),
        handshake_timeout=handshake_timeout,
        close_timeout=close_timeout,
        send_timeout=send_timeout,
        max_pending_messages=max_pending_messages,
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
    handshake_timeout: float = 10.0,
    close_timeout: float = 5.0,
    send_timeout: float = 10.0,
    max_pending_messages: int = 256,
    task_status: trio.TaskStatus[HeartbeatServer] = trio.TASK_STATUS_IGNORED,
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
        handshake_timeout=handshake_timeout,
        close_timeout=close_timeout,
        send_timeout=send_timeout,
        max_pending_messages=max_pending_messages,
    ) as server:
        task_status.started(server)
        await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover
