"""The heartbeat server: the registry of clients, their tasks and the heartbeat rounds.

Started by the entry points in :mod:`trio_heartbeat.server`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import Any

import attrs
import trio

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._transport.server_engine import MessageTooBig, ServerStream, wrap_tls
from trio_heartbeat.errors import ConnectionLost, PeerUnresponsive, UsageError
from trio_heartbeat.server._client import ClientEnd, ClientInfo, ServerClient
from trio_heartbeat.server._config import (
    Counters,
    FullQueue,
    ServerHeartbeat,
    ServerOptions,
    ServerStatistics,
)
from trio_heartbeat.server._hooks import Authorize, InvalidMessage
from trio_heartbeat.server._opening import Opened, open_client
from trio_heartbeat.server._rounds import ClientLiveness, IsAliveRounds
from trio_heartbeat.server._stream import describe_peer

__all__ = ["Handler", "HeartbeatServer", "Validate"]

logger = logging.getLogger("trio_heartbeat.server")

Handler = Callable[[ServerClient], Awaitable[object]]
"""``async def handler(client: ServerClient) -> None``: serves one client."""

Validate = Callable[[ServerClient, str | bytes], object]
"""``def validate(client, message) -> None``: raise InvalidMessage to close that client."""

_LOGGED_ENDS = (
    ClientEnd.UNRESPONSIVE,
    ClientEnd.SEND_FAILED,
    ClientEnd.QUEUE_FULL,
    ClientEnd.OVERFLOW,
    ClientEnd.INVALID_MESSAGE,
    ClientEnd.MESSAGE_TOO_BIG,
)
_DROPPED_ENDS = (ClientEnd.SEND_FAILED, ClientEnd.QUEUE_FULL, ClientEnd.OVERFLOW)


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
        options: ServerOptions,
        authorize: Authorize | None = None,
        validate: Validate | None = None,
    ) -> None:
        self._handler = handler
        self._heartbeat = heartbeat
        self._options = options
        self._authorize = authorize
        self._validate = validate
        self._rounds = IsAliveRounds(any_traffic_proves_life=heartbeat.any_traffic_proves_life)
        self._clients: dict[int, ServerClient] = {}
        self._ids = itertools.count(1)
        self._counts = Counters()
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
    def options(self) -> ServerOptions:
        """The timeouts and limits."""
        return self._options

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
        """Queue ``message`` for one client (str: text frame, bytes: binary frame).

        Waits only while that client's send queue is full. Raises UsageError if
        no such client is connected (or ``message`` is neither str nor bytes),
        ConnectionLost if that client's connection ends first.
        """
        await self._deliver(self._client(client_id), message)

    async def broadcast(self, message: str | bytes, *, exclude: int | None = None) -> int:
        """Queue ``message`` for every connected client except ``exclude`` (a client id).

        Never waits for any client (it is only a checkpoint): each client's own
        writer sends it. A client whose send queue is full gets the
        ``ServerOptions.full_queue`` policy -- closed as a slow consumer, or this
        message skipped for it -- counted, and never delaying the others.
        Returns how many clients the message was queued for.
        """
        _check_message(message)
        queued = 0
        for client in list(self._clients.values()):
            if client.id != exclude and not client.closed and self._offer(client, message):
                queued += 1
        await trio.lowlevel.checkpoint()
        return queued

    def _offer(self, client: ServerClient, message: str | bytes) -> bool:
        try:
            if client._outbox.put_nowait(message):
                return True
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        size = self._options.send_queue_size
        if self._options.full_queue is FullQueue.DROP_MESSAGE:
            self._counts.messages_dropped += 1
            client._dropped_messages += 1
            if client._dropped_messages == 1:
                logger.warning(
                    "client %d (%s): send queue full (%d), skipping broadcasts to it",
                    client.id,
                    client.remote,
                    size,
                )
            return False
        code, text = self._options.slow_close_code, f"too slow: {size} messages queued"
        if self._start_closing(client, code, text, ClientEnd.QUEUE_FULL, flush=False):
            client._nursery.start_soon(self._finish_closing, client, code, text)
        return False

    async def _deliver(self, client: ServerClient, message: str | bytes) -> None:
        _check_message(message)
        if client.closed:
            raise client._lost()
        try:
            await client._outbox.put(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise client._lost() from None

    # -- serving -------------------------------------------------------------

    async def handle_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one already-connected byte stream until that client ends.

        Performs the opening (TLS with ``ssl_context``, the WebSocket upgrade
        and ``authorize``, bounded by ``handshake_timeout``), registers the
        client, runs the handler, and aborts the stream at the end. The client's
        tasks run in the server's nursery; cancelling this call ends the client.
        The server owns ``stream`` from now on (it is closed even on error).
        Raises UsageError if the server is stopping.
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

    async def _serve_client(self, stream: trio.abc.Stream) -> None:
        watched = ServerStream(wrap_tls(stream, self._options.ssl_context))
        client: ServerClient | None = None
        try:
            async with trio.open_nursery() as nursery:
                opened = await open_client(
                    nursery,
                    watched,
                    describe_peer(stream),
                    options=self._options,
                    authorize=self._authorize,
                    counts=self._counts,
                )
                if opened is None:
                    nursery.cancel_scope.cancel()
                    return
                client = self._register(opened, watched, nursery)
                await self._run_tasks(client, nursery, stream)
        finally:
            if client is not None:
                self._count_unsent(client)

    async def _run_tasks(
        self, client: ServerClient, nursery: trio.Nursery, stream: trio.abc.Stream
    ) -> None:
        try:
            nursery.start_soon(self._pump, client)
            nursery.start_soon(client._outbox.run, partial(self._write, client))
            nursery.start_soon(self._send_heartbeats, client)
            nursery.start_soon(self._run_handler, client)
            await client._ended.wait()
            await trio.aclose_forcefully(stream)
            client._close_inbox()
            client._outbox.discard()  # nothing more is written; a waiting sender learns now
            with trio.move_on_after(self._options.close_timeout):
                await client._handler_done.wait()
            nursery.cancel_scope.cancel()
        finally:
            client._record_end(
                ClientEnd.CANCELLED,
                ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "serving it was cancelled"),
            )
            client._close_inbox()
            self._unregister(client)

    def _register(
        self, opened: Opened, watched: ServerStream, nursery: trio.Nursery
    ) -> ServerClient:
        client_id = next(self._ids)
        client = ServerClient(
            client_id,
            link=opened.link,
            request=opened.request,
            data=opened.accept.data,
            max_pending_messages=self._options.max_pending_messages,
            send_queue_size=self._options.send_queue_size,
            nursery=nursery,
            deliver=self._deliver,
            info=self._info_of,
        )
        self._clients[client_id] = client
        self._rounds.add(client_id, trio.current_time())
        rounds = self._rounds

        def seen() -> None:
            rounds.traffic(client_id, trio.current_time())

        def stalled() -> None:
            self._drop(
                client,
                ClientEnd.SEND_FAILED,
                ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "a write stalled"),
            )

        watched.on_receive = seen
        watched.on_stall = stalled
        self._counts.accepted += 1
        logger.info("client %d connected (%s, path %s)", client_id, client.remote, client.path)
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
        elif reason in _DROPPED_ENDS:
            self._counts.dropped += 1
        level = logging.WARNING if reason in _LOGGED_ENDS else logging.INFO
        logger.log(
            level,
            "client %d (%s) closed: %s (%s)",
            client.id,
            client.remote,
            reason.value,
            client._lost(),
        )

    def _count_unsent(self, client: ServerClient) -> None:
        client._outbox.discard()
        unsent = client._outbox.unsent
        if unsent:
            self._counts.messages_unsent += unsent
            logger.warning("client %d: %d queued message(s) were not sent", client.id, unsent)

    def _drop(self, client: ServerClient, reason: ClientEnd, error: ConnectionLost) -> None:
        client._abort(reason, error)
        client._outbox.discard()  # a sender waiting for room learns it now
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
        """Keep reading, so pongs and close frames are processed even when the
        handler does not read; validate, then hand messages to the handler."""
        answer = self._heartbeat.answer
        while True:
            try:
                message = await client._link.receive()
            except MessageTooBig as exc:
                self._counts.invalid_messages += 1
                client._finish(ClientEnd.MESSAGE_TOO_BIG, ConnectionLost(exc.code, exc.reason))
                return
            except ConnectionLost as exc:
                client._finish(ClientEnd.PEER_CLOSED, ConnectionLost(exc.code, exc.reason))
                return
            if answer is not None and message == answer:
                self._rounds.answer(client.id, trio.current_time())
                self._counts.heartbeat_answers += 1
                continue
            if client.closed or not self._valid(client, message):
                continue  # closing: read on, so the closing handshake completes
            try:
                client._inbox_send.send_nowait(message)
            except trio.WouldBlock:
                limit = self._options.max_pending_messages
                error = ConnectionLost(
                    CloseCode.POLICY_VIOLATION, f"more than {limit} unread messages"
                )
                self._drop(client, ClientEnd.OVERFLOW, error)
                return
            except trio.ClosedResourceError:
                return
            self._counts.messages_in += 1

    def _valid(self, client: ServerClient, message: str | bytes) -> bool:
        """Run ``validate``; on failure start closing the client and return False."""
        if self._validate is None:
            return True
        try:
            self._validate(client, message)
        except InvalidMessage as exc:
            self._counts.invalid_messages += 1
            code, text, reason = exc.code, exc.reason, ClientEnd.INVALID_MESSAGE
        except Exception:
            self._counts.handler_errors += 1
            logger.exception("validate raised for client %d", client.id)
            code, text, reason = (
                CloseCode.INTERNAL_ERROR,
                "internal error",
                ClientEnd.HANDLER_FAILED,
            )
        else:
            return True
        if self._start_closing(client, code, text, reason, flush=True):
            client._nursery.start_soon(self._finish_closing, client, code, text)
        return False

    async def _write(self, client: ServerClient, message: str | bytes) -> bool:
        """The writer's step: one message, bounded by ``send_timeout``."""
        timeout = self._options.send_timeout
        with trio.move_on_after(timeout) as scope:
            try:
                await client._link.send(message)
            except ConnectionLost:
                closed = client._link.closed
                if closed is not None and closed.code != CloseCode.ABNORMAL_CLOSURE:
                    client._finish(ClientEnd.PEER_CLOSED, closed)
                else:
                    self._drop(
                        client,
                        ClientEnd.SEND_FAILED,
                        ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "send failed"),
                    )
                return False
        if scope.cancelled_caught:
            error = ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"a write stalled for {timeout:g} s")
            self._drop(client, ClientEnd.SEND_FAILED, error)
            return False
        self._counts.messages_out += 1
        return True

    async def _send_heartbeats(self, client: ServerClient) -> None:
        """Send the probes the rounds ask for; each bounded by the next round."""
        heartbeat = self._heartbeat
        async for number, at in client._probe_receive:
            with trio.move_on_at(at + heartbeat.interval):
                try:
                    self._counts.heartbeats_sent += 1
                    if heartbeat.payload is not None:
                        await client._link.send(heartbeat.payload)
                        continue
                    await client._link.ping(b"trio-heartbeat %d" % number)
                except ConnectionLost:
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
                code, text, reason = (
                    CloseCode.INTERNAL_ERROR,
                    "internal error",
                    ClientEnd.HANDLER_FAILED,
                )
            else:
                code, text, reason = CloseCode.NORMAL_CLOSURE, "", ClientEnd.HANDLER_RETURNED
            if self._start_closing(client, code, text, reason, flush=True):
                await self._finish_closing(client, code, text)
        finally:
            client._handler_done.set()

    def _start_closing(
        self, client: ServerClient, code: int, text: str, reason: ClientEnd, *, flush: bool
    ) -> bool:
        """Begin a polite close: the client leaves the registry and takes no more
        messages; what is queued is still written (``flush``) or discarded.
        False if the client is already ending. Follow with :meth:`_finish_closing`."""
        if client.closed:
            return False
        client._record_end(reason, ConnectionLost(code, text))
        client._polite_closing = True
        if flush:
            client._outbox.finish()
        else:
            client._outbox.discard()
        self._unregister(client)
        return True

    async def _finish_closing(self, client: ServerClient, code: int, text: str) -> None:
        """Wait for the queue's last writes, then the closing handshake: both within
        ``close_timeout``; the client's task aborts the stream after."""
        with trio.move_on_after(self._options.close_timeout):
            await client._outbox.drained.wait()
            await client._link.close(code, text)
        client._ended.set()

    # -- rounds and lifetime -------------------------------------------------

    async def _run_rounds(self) -> None:
        interval = self._heartbeat.interval
        what = "inbound traffic" if self._heartbeat.any_traffic_proves_life else "heartbeat answer"
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
        code, text = CloseCode.GOING_AWAY, "server stopping"
        async with trio.open_nursery() as nursery:
            for client in list(self._clients.values()):
                if self._start_closing(client, code, text, ClientEnd.SERVER_STOPPING, flush=True):
                    nursery.start_soon(self._finish_closing, client, code, text)


def _check_message(message: object) -> None:
    if not isinstance(message, str | bytes):
        raise UsageError(f"a message is str or bytes, not {type(message).__name__}")
