"""The managed connection: a WebSocket that heals itself, run with trio.

Structure (all inside the nursery of :func:`open_managed_websocket`)::

    supervisor              connect -> run link -> classify the end -> back off -> again
    ├── (link nursery)      trio-websocket's reader, with Transport.TRIO_WEBSOCKET only
    └── LinkSession         one open link: pump (receives), heartbeats (sends),
                            watchdog (deadline), writer (while messages are queued),
                            and the on-connect step (see ``_session.py``)

This module owns the application's side (send, receive, state changes,
statistics) and the supervisor; timing decisions are made by the pure
:class:`~trio_heartbeat._core.liveness.Liveness` and
:class:`~trio_heartbeat._core.reconnect.Backoff`.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import NoReturn

import trio

from trio_heartbeat._client.clock import HeartbeatClock
from trio_heartbeat._client.live_link import LiveLink, OnConnect, run_on_connect
from trio_heartbeat._client.queues import Inbox, Outbox
from trio_heartbeat._client.session import LinkSession
from trio_heartbeat._client.totals import LinkTotals
from trio_heartbeat._core.codec import CodecFactory
from trio_heartbeat._core.events import (
    Closed,
    Connected,
    Connecting,
    ConnectionStatistics,
    Disconnected,
    GaveUp,
    MessagesDropped,
    StateChange,
    WaitingToReconnect,
)
from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.options import ConnectionOptions, Transport
from trio_heartbeat._core.reconnect import Backoff, GiveUp, ReconnectPolicy
from trio_heartbeat._core.redact import redact_url
from trio_heartbeat._transport.links import (
    Dial,
    Link,
    first_error,
    open_link,
    parse_url,
    tcp_dialer,
    translate_error,
)
from trio_heartbeat.errors import (
    ConnectionClosedError,
    ConnectionLost,
    ReconnectGaveUp,
    UsageError,
)

__all__ = [
    "LiveLink",
    "ManagedWebSocket",
    "OnConnect",
    "open_managed_websocket",
    "run_on_connect",
]

logger = logging.getLogger("trio_heartbeat")

Message = str | bytes


class ManagedWebSocket:
    """A WebSocket connection kept alive for the duration of an ``async with``.

    Create it with :func:`open_managed_websocket`. Thread-unsafe, like all of
    trio; use it from tasks of one trio run.
    """

    __slots__ = (
        "_attempt_scope",
        "_backoff",
        "_clock",
        "_closing",
        "_codec_factory",
        "_connected",
        "_connected_at",
        "_dial",
        "_events_early",
        "_events_in",
        "_events_out",
        "_heartbeat",
        "_inbox",
        "_on_connect",
        "_options",
        "_outbox",
        "_policy",
        "_session",
        "_state",
        "_supervisor_scope",
        "_target",
        "_terminal",
        "_totals",
        "url",
    )

    def __init__(
        self,
        url: str,
        *,
        heartbeat: Heartbeat,
        reconnect: ReconnectPolicy,
        options: ConnectionOptions,
        on_connect: OnConnect | None,
        dial: Dial | None,
        rng: random.Random | None,
        codec: CodecFactory | None = None,
        heartbeat_clock: HeartbeatClock | None = None,
    ) -> None:
        for name, value, kind in (
            ("heartbeat", heartbeat, Heartbeat),
            ("reconnect", reconnect, ReconnectPolicy),
            ("options", options, ConnectionOptions),
        ):
            if not isinstance(value, kind):
                raise UsageError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
        if on_connect is not None and not callable(on_connect):
            raise UsageError("on_connect must be callable")
        if codec is not None and not callable(codec):
            raise UsageError("codec must be a factory: a callable returning a Codec")
        self._codec_factory = codec
        if heartbeat_clock is not None and not isinstance(heartbeat_clock, HeartbeatClock):
            raise UsageError("heartbeat_clock must come from open_heartbeat_clock()")
        self._clock = heartbeat_clock
        self.url = url
        self._target = parse_url(url, options.extra_headers)
        self._heartbeat = heartbeat
        self._policy = reconnect
        self._options = options
        self._on_connect = on_connect
        self._dial = dial or tcp_dialer(self._target, options.ssl_context)
        self._backoff = Backoff(reconnect, rng)
        self._outbox = Outbox(options.send_buffer_size, options.overflow)
        self._inbox = Inbox(options.receive_buffer_size)
        # The channel is made when first asked for; until then state changes
        # wait in a plain list (an idle connection nobody watches stays small).
        self._events_early: list[StateChange] = []
        self._events_in: trio.MemorySendChannel[StateChange] | None = None
        self._events_out: trio.MemoryReceiveChannel[StateChange] | None = None
        self._state = "connecting"
        self._connected_at: float | None = None
        # Made only when someone waits for it: an idle connection stays small.
        self._connected: trio.Event | None = None
        self._terminal: BaseException | None = None
        self._closing = False
        self._supervisor_scope = trio.CancelScope()
        self._attempt_scope = trio.CancelScope()
        self._session: LinkSession | None = None
        self._totals = LinkTotals()

    # -- the application's side ------------------------------------------------

    def __repr__(self) -> str:
        return f"<ManagedWebSocket {redact_url(self.url)} {self._state}>"

    @property
    def state(self) -> str:
        """One of ``connecting``, ``connected``, ``waiting``, ``gave_up``, ``closed``."""
        return self._state

    @property
    def state_changes(self) -> trio.MemoryReceiveChannel[StateChange]:
        """Every state change since the start, in order, none lost.

        Unbounded: state changes are rare and small; unread ones accumulate.
        """
        if self._events_out is None:
            self._open_events_channel()
        assert self._events_out is not None
        return self._events_out

    def _open_events_channel(self) -> None:
        self._events_in, self._events_out = trio.open_memory_channel[StateChange](math.inf)
        for event in self._events_early:
            self._events_in.send_nowait(event)
        self._events_early.clear()

    def send_nowait(self, message: Message) -> None:
        """Queue ``message`` for sending, in order, now or after the next (re)connect.

        When the buffer is full, ``options.overflow`` decides: raise
        :class:`SendBufferFull` (default), or drop the oldest buffered message
        (counted, and reported as a ``MessagesDropped`` state change).
        Raises :class:`ConnectionClosedError` after the block was left and
        :class:`ReconnectGaveUp` after the policy gave up.
        """
        if not isinstance(message, (str, bytes)):
            raise UsageError(f"messages are str or bytes, got {type(message).__name__}")
        self._check_usable()
        if self._outbox.put(message):
            self._emit(MessagesDropped(1, "send buffer full (drop_oldest)"))
            logger.warning("send buffer full: dropped the oldest message")
        if self._session is not None:
            self._session.ensure_writer()

    async def send(self, message: Message) -> None:
        """Like :meth:`send_nowait`, but while the link is up and the buffer is
        full, wait for room (back-pressure) instead of overflowing.

        While the link is up and nothing is queued, the message is written in
        the caller's task (no hand-over to the writer task). If the caller is
        cancelled in the middle of that write (possible only while the peer
        is not reading), part of a frame may be on the wire: the link is then
        aborted and the message goes out again after the reconnect.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._state == "connected" and self._outbox.full:
            await self._outbox.wait_not_full()
        session = self._session
        if (
            session is not None
            and self._state == "connected"
            and session.can_send_now
            and isinstance(message, (str, bytes))
        ):
            await session.send_now(message)
            return
        self.send_nowait(message)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive(self) -> Message:
        """The next application message, across reconnects.

        Heartbeat traffic never shows up here. After the policy gave up, the
        messages already received are returned first, then
        :class:`ReconnectGaveUp` is raised; after the block was left,
        :class:`ConnectionClosedError`.
        """
        return await self._inbox.get()

    def __aiter__(self) -> ManagedWebSocket:
        return self

    async def __anext__(self) -> Message:
        """Iteration ends when the connection is closed; it raises if the policy gave up."""
        try:
            return await self.receive()
        except ConnectionClosedError:
            raise StopAsyncIteration from None

    async def drain(self) -> None:
        """Wait until every queued message was written to the socket.

        Raises the terminal error (``ReconnectGaveUp``, ``ConnectionClosedError``)
        if the connection ended first: its queued messages were then not written.
        """
        self._check_usable()
        await self._outbox.wait_settled()  # also woken when a give-up empties the outbox
        self._check_usable()

    async def wait_connected(self) -> None:
        """Wait until the link is up (returns at once if it is)."""
        self._check_usable()
        while self._state != "connected":
            if self._connected is None:
                self._connected = trio.Event()
            await self._connected.wait()
            self._check_usable()

    def statistics(self) -> ConnectionStatistics:
        """A snapshot of the counters (see :class:`ConnectionStatistics`)."""
        uptime = 0.0
        if self._connected_at is not None:
            uptime = trio.current_time() - self._connected_at
        return self._totals.snapshot(
            self._session,
            state=self._state,
            uptime=uptime,
            attempts=self._backoff.attempts,
            messages_dropped=self._outbox.dropped,
            send_buffered=len(self._outbox),
        )

    def _check_usable(self) -> None:
        if self._terminal is not None:
            raise self._terminal

    def _emit(self, event: StateChange) -> None:
        if self._events_in is not None:
            self._events_in.send_nowait(event)
        else:
            self._events_early.append(event)

    # -- supervisor ------------------------------------------------------------

    async def _supervise(self) -> None:
        with self._supervisor_scope:
            await self._reconnect_loop()

    async def _reconnect_loop(self) -> None:
        backoff = self._backoff
        while True:
            attempt = backoff.next_attempt
            self._state = "connecting"
            self._emit(Connecting(attempt))
            backoff.attempt_started(trio.current_time())
            error = await self._attempt(attempt)
            was_connected = self._connected_at is not None
            unconfirmed = self._settle_unconfirmed()
            self._mark_down()
            code, reason = (
                (error.code, error.reason) if isinstance(error, ConnectionLost) else (None, "")
            )
            self._emit(Disconnected(error, code, reason, was_connected, unconfirmed))
            logger.info("link %s: %s", "lost" if was_connected else "attempt failed", error)
            decision = backoff.failed(trio.current_time(), error)
            if isinstance(decision, GiveUp):
                undelivered = self._outbox.drain_all()
                gave_up = ReconnectGaveUp(error, backoff.attempts, undelivered, decision.why)
                self._terminal = gave_up
                self._state = "gave_up"
                self._inbox.close(gave_up)
                self._wake_waiters()
                self._emit(GaveUp(gave_up))
                logger.warning("gave up: %s", gave_up)
                return
            self._state = "waiting"
            self._emit(WaitingToReconnect(decision.delay, decision.attempt))
            await trio.sleep(decision.delay)

    def _settle_unconfirmed(self) -> tuple[Message, ...]:
        """Messages written on the lost link that the peer never confirmed.

        With ``options.resend_unconfirmed`` they go back to the front of the
        outbox (at-least-once); otherwise they are only reported.
        """
        ledger = self._session.ledger if self._session is not None else None
        if ledger is None:
            return ()
        unconfirmed = ledger.take_unconfirmed()
        if unconfirmed and self._options.resend_unconfirmed:
            self._outbox.put_back(*unconfirmed)
        return unconfirmed

    def _mark_down(self) -> None:
        self._connected_at = None
        session, self._session = self._session, None
        if session is not None:
            self._totals.absorb(session)

    async def _attempt(self, attempt: int) -> BaseException:
        """One connection attempt and, if it opens, the life of that link.

        Returns the error that ended it (never raises, except Cancelled).
        """
        self._session = None
        try:
            if self._options.transport is Transport.TRIO_WEBSOCKET:
                async with trio.open_nursery() as link_nursery:
                    # trio-websocket's reader must outlive a cancellation long enough
                    # to complete a polite close, so its nursery is shielded and this
                    # attempt's own scope is cancelled explicitly by _begin_close().
                    link_nursery.cancel_scope.shield = True
                    try:
                        await self._open_and_run(link_nursery, attempt)
                    finally:
                        link_nursery.cancel_scope.cancel()
            else:
                await self._open_and_run(None, attempt)  # the direct link has no task
            if self._closing:
                # Cancelled by _begin_close(): let the supervisor's own cancellation finish it.
                await trio.lowlevel.checkpoint()
        except BaseExceptionGroup as group:
            if not group.split(Exception)[0]:
                raise
            return self._session_error() or first_error(group)
        except Exception as exc:
            return self._session_error() or translate_error(exc)
        return self._session_error() or ConnectionLost(1006, "link ended")

    def _session_error(self) -> BaseException | None:
        return self._session.end_error if self._session is not None else None

    async def _open_and_run(self, nursery: trio.Nursery | None, attempt: int) -> None:
        link: Link | None = None
        try:
            with trio.CancelScope() as self._attempt_scope:
                if self._closing:
                    self._attempt_scope.cancel()
                link = await open_link(
                    nursery, self._target, self._dial, self._options, self._policy.connect_timeout
                )
                await self._run_link(link, attempt)
        finally:
            if link is not None:
                if self._closing:
                    await link.close(1000, "", self._options.close_timeout)
                else:
                    await link.abort()

    async def _run_link(self, link: Link, attempt: int) -> NoReturn:
        session = LinkSession(
            link,
            heartbeat=self._heartbeat,
            options=self._options,
            inbox=self._inbox,
            outbox=self._outbox,
            codec=self._codec_factory() if self._codec_factory is not None else None,
            counters=self._totals.counters,
            emit=self._emit,
            clock=self._clock,
        )
        self._session = session
        step = None
        if self._on_connect is not None:
            step = functools.partial(self._run_on_connect, link, attempt)
        await session.run(step, functools.partial(self._on_connected, link, attempt))

    async def _run_on_connect(self, link: Link, attempt: int, stack: AsyncExitStack) -> None:
        self._inbox.set_hook_active(True)
        try:
            assert self._session is not None
            live = LiveLink(link, self._inbox, attempt, self._session)
            await stack.enter_async_context(run_on_connect(self._on_connect, live))
        finally:
            self._inbox.set_hook_active(False)

    def _wake_waiters(self) -> None:
        """Wake the tasks in ``wait_connected()`` (the state changed)."""
        if self._connected is not None:
            self._connected.set()
            self._connected = None

    def _on_connected(self, link: Link, attempt: int) -> None:
        self._totals.connects += 1
        self._connected_at = trio.current_time()
        self._backoff.connected(self._connected_at)
        self._state = "connected"
        self._wake_waiters()
        self._emit(Connected(attempt, link.subprotocol))
        logger.info("connected to %s (attempt %d)", self._target.host, attempt)

    # -- shutdown --------------------------------------------------------------

    def _begin_close(self) -> None:
        self._closing = True
        self._attempt_scope.cancel()
        self._supervisor_scope.cancel()

    def _finish_close(self) -> None:
        undelivered = self._outbox.drain_all()
        if self._terminal is None:
            self._terminal = ConnectionClosedError("the managed connection is closed")
            self._inbox.close(self._terminal)
        self._mark_down()
        self._state = "closed"
        self._wake_waiters()
        self._emit(Closed(undelivered))
        if self._events_in is None:
            self._open_events_channel()  # a late reader still gets every change
        assert self._events_in is not None
        self._events_in.close()


def _collapse(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The single exception to raise for a group (never a bare group)."""
    leaves = leaf_exceptions(group)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            for other in leaves:
                if other is not leaf and not isinstance(other, trio.Cancelled):
                    logger.error("also raised while closing: %r", other)
            return leaf
    return leaves[0]


@asynccontextmanager
async def open_managed_websocket(
    url: str,
    *,
    heartbeat: Heartbeat | None = None,
    reconnect: ReconnectPolicy | None = None,
    options: ConnectionOptions | None = None,
    on_connect: OnConnect | None = None,
    dial: Dial | None = None,
    rng: random.Random | None = None,
    codec: CodecFactory | None = None,
    heartbeat_clock: HeartbeatClock | None = None,
) -> AsyncIterator[ManagedWebSocket]:
    """Open a self-healing WebSocket connection to ``url`` for the block's duration.

    - ``heartbeat``: how liveness is proven (default ``Heartbeat.ping()``:
      RFC 6455 ping every 30 s, dead after 10 s without a pong or traffic).
    - ``reconnect``: backoff, limits and the close-code table.
    - ``options``: buffers, limits, close timeout, send rate, TLS, headers.
    - ``on_connect``: runs on every (re)connect before buffered messages flush;
      its failure fails the attempt.
    - ``dial``: opens the byte stream (default TCP/TLS to the URL); the test kit
      passes in-memory streams here.
    - ``rng``: the random source for jitter (seed it in tests).
    - ``heartbeat_clock``: a shared :class:`HeartbeatClock` (see
      :func:`open_heartbeat_clock`) that times the heartbeats of many
      connections with one timer; default: a timer per connection.
    - ``codec``: a factory of per-link :class:`Codec` objects for protocols that
      frame messages (SockJS arrays...); default: none.

    The block is entered at once, without waiting for the first connection
    (use :meth:`ManagedWebSocket.wait_connected`). Leaving it cancels every
    task and timer and closes the socket within ``options.close_timeout``.
    Raises :class:`UsageError` for a bad URL or argument, before any I/O.
    """
    conn = ManagedWebSocket(
        url,
        heartbeat=heartbeat if heartbeat is not None else Heartbeat.ping(),
        reconnect=reconnect if reconnect is not None else ReconnectPolicy(),
        options=options if options is not None else ConnectionOptions(),
        on_connect=on_connect,
        dial=dial,
        rng=rng,
        codec=codec,
        heartbeat_clock=heartbeat_clock,
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn._supervise)
            try:
                yield conn
            finally:
                conn._begin_close()
    except BaseExceptionGroup as group:
        raise _collapse(group) from None
    finally:
        conn._finish_close()
