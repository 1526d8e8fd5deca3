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

import logging
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_heartbeat._client.clock import HeartbeatClock
from trio_heartbeat._client.controls import LinkControls
from trio_heartbeat._client.history import StateHistory
from trio_heartbeat._client.live_link import LiveLink, OnConnect, run_on_connect
from trio_heartbeat._client.queues import Inbox, Outbox, not_text
from trio_heartbeat._client.session import LinkSession
from trio_heartbeat._client.supervisor import Supervisor
from trio_heartbeat._client.suspend import WakeControl
from trio_heartbeat._client.totals import LinkTotals
from trio_heartbeat._core.codec import CodecFactory
from trio_heartbeat._core.endpoint import (
    ConnectPlan,
    Endpoint,
    EndpointFactory,
    Outcome,
)
from trio_heartbeat._core.events import (
    ConnectionState,
    ConnectionStatistics,
    MessagesDropped,
    StateChange,
    Step,
)
from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._core.ratelimit import LogThrottle
from trio_heartbeat._core.reconnect import Backoff, ReconnectPolicy
from trio_heartbeat._core.redact import redact_to_origin
from trio_heartbeat._core.resume import Resume, ResumeTracker
from trio_heartbeat._core.suspend import SuspendCheck
from trio_heartbeat._transport.links import Dial, parse_url
from trio_heartbeat.errors import (
    ConnectionClosedError,
    UsageError,
)

if TYPE_CHECKING:  # the metrics module imports opentelemetry: only when used
    from trio_heartbeat.metrics import Metrics

__all__ = [
    "ConnectTarget",
    "LiveLink",
    "ManagedWebSocket",
    "OnConnect",
    "open_managed_websocket",
    "run_on_connect",
]

logger = logging.getLogger("trio_heartbeat")


Message = str | bytes

# "send buffer full" drops are logged as a WARNING at most once per this many
# seconds per connection, with the count of drops since the previous warning.
DROP_LOG_INTERVAL = 30.0

_CONNECTED = ConnectionState.CONNECTED  # looked up once: send() is the hot path

ConnectTarget = str | Endpoint | Sequence[str | Endpoint] | EndpointFactory
"""Where to connect: a URL, an Endpoint, several of them (tried in turn), or a
factory called before every attempt (see :class:`AttemptContext`)."""


class ManagedWebSocket(Supervisor, LinkControls):
    """A WebSocket connection kept alive for the duration of an ``async with``.

    Create it with :func:`open_managed_websocket`. Thread-unsafe, like all of
    trio; use it from tasks of one trio run.
    """

    __slots__ = (
        "_backoff",
        "_clock",
        "_codec_factory",
        "_dial",
        "_drop_log",
        "_heartbeat",
        "_history",
        "_inbox",
        "_on_connect",
        "_options",
        "_outbox",
        "_plan",
        "_policy",
        "_recorder",
        "_supervisor_scope",
        "_totals",
        "_wake",
    )

    def __init__(
        self,
        url: ConnectTarget,
        *,
        heartbeat: Heartbeat,
        reconnect: ReconnectPolicy,
        options: ConnectionOptions,
        on_connect: OnConnect | None,
        dial: Dial | None,
        rng: random.Random | None,
        codec: CodecFactory | None = None,
        heartbeat_clock: HeartbeatClock | None = None,
        resume: Resume[Any] | None = None,
        suspend: SuspendCheck | None = None,
        metrics: Metrics | None = None,
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
        if dial is not None and not callable(dial):
            raise UsageError("dial must be an async callable returning a trio Stream")
        if rng is not None and not isinstance(rng, random.Random):
            raise UsageError(f"rng must be a random.Random, got {type(rng).__name__}")
        if codec is not None and not callable(codec):
            raise UsageError("codec must be a factory: a callable returning a Codec")
        self._codec_factory = codec
        if heartbeat_clock is not None and not isinstance(heartbeat_clock, HeartbeatClock):
            raise UsageError("heartbeat_clock must come from open_heartbeat_clock()")
        self._clock = heartbeat_clock
        if reconnect.connect_timeout is not None:  # the deprecated spelling wins when given
            options = attrs.evolve(options, connect_timeout=reconnect.connect_timeout)
        self._plan = ConnectPlan.from_target(url)
        for endpoint in self._plan.endpoints:  # fixed ones fail now, before any I/O
            parse_url(endpoint.url, options.extra_headers + endpoint.extra_headers)
        self._endpoint: Endpoint | None = self._plan.endpoints[0] if self._plan.endpoints else None
        self._endpoint_index: int | None = None
        self._previous: Outcome | None = None
        self._heartbeat = heartbeat
        self._policy = reconnect
        self._options = options
        self._on_connect = on_connect
        self._dial = dial
        self._backoff = Backoff(reconnect, rng)
        self._outbox = Outbox(options.send_buffer_size, options.overflow)
        self._inbox = Inbox(options.receive_buffer_size)
        self._inbox.resume = ResumeTracker(resume) if resume is not None else None
        self._wake = WakeControl(suspend)
        self._recorder = None if metrics is None else metrics.recorder(self._metrics_host(), self)
        self._history = StateHistory(options.max_unread_state_changes)
        self._state = ConnectionState.CONNECTING
        self._step = Step.CONNECT  # what the current attempt or link is doing
        self._failure_log: LogThrottle | None = None  # made at the first failure
        self._drop_log: LogThrottle | None = None  # made at the first dropped message
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
        return f"<ManagedWebSocket {redact_to_origin(self.url)} {self._state}>"

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint of the current (or last) attempt; None before a factory's first answer."""
        return self._endpoint

    @property
    def url(self) -> str:
        """The URL of :attr:`endpoint` ("" before a factory's first answer)."""
        return self._endpoint.url if self._endpoint is not None else ""

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState` (a ``str``: ``"connected"``...)."""
        return self._state

    @property
    def state_changes(self) -> trio.MemoryReceiveChannel[StateChange]:
        """Every state change since the start, in order, none lost silently.

        At most ``options.max_unread_state_changes`` wait unread; while that
        many do, later ones are not kept and a ``StateChangesDropped`` with
        their count stands in their place (``GaveUp``, ``Closed`` and a
        ``Disconnected`` that hands back messages are always kept). The channel
        ends after ``Closed``; closing it stops the recording.
        """
        return self._history.channel

    def send_nowait(self, message: Message) -> None:
        """Queue ``message`` for sending, in order, now or after the next (re)connect.

        When the buffer is full, ``options.overflow`` decides: raise
        :class:`SendBufferFull` (default), or drop the oldest buffered message
        (counted, and reported as a ``MessagesDropped`` state change).
        Raises :class:`ConnectionClosedError` after the block was left and
        :class:`ReconnectGaveUp` after the policy gave up; :class:`UsageError`
        for a ``str`` that is not valid text (a lone surrogate has no UTF-8).
        """
        if not isinstance(message, (str, bytes)):
            raise UsageError(f"messages are str or bytes, got {type(message).__name__}")
        if isinstance(message, str) and not message.isascii():
            try:
                message.encode()  # checked now: a queued message fails no later write
            except UnicodeEncodeError as exc:
                raise not_text(exc) from None
        self._check_usable()
        if self._outbox.put(message):
            self._emit(MessagesDropped(1, "send buffer full (drop_oldest)"))
            self._log_drop()
        if self._session is not None:
            self._session.ensure_writer()

    def _log_drop(self) -> None:
        """A WARNING for a dropped message, at most one per DROP_LOG_INTERVAL; the
        drops held back meanwhile are counted in the next one (and in statistics)."""
        if self._drop_log is None:
            self._drop_log = LogThrottle(DROP_LOG_INTERVAL)
        held_back = self._drop_log.report(trio.current_time())
        if held_back is not None:
            more = f" ({held_back} more dropped since the last warning)" if held_back else ""
            logger.warning("send buffer full: dropped the oldest message%s", more)

    async def send(self, message: Message) -> None:
        """Like :meth:`send_nowait`, but while the link is up and the buffer is
        full, wait for room (back-pressure) instead of overflowing. The buffer
        also fills while ``options.unconfirmed_window`` messages await a
        heartbeat reply: nothing is written until one confirms some.

        While the link is up and nothing is queued, the message is written in
        the caller's task (no hand-over to the writer task); while the writer
        task is writing queued messages (not waiting for a heartbeat reply or
        the send rate), the message is queued behind them (in call order) and
        the caller waits until the writer is done with them. If the caller is
        cancelled in the middle of that write (possible only while the peer
        is not reading), part of a frame may be on the wire: the link is then
        aborted and the message goes out again after the reconnect.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        session = self._session
        if (
            session is not None
            and session.can_send_now
            and self._state is _CONNECTED
            and isinstance(message, (str, bytes))
        ):
            await session.send_now(message)  # the common case: nothing queued
            return
        await self._send_queued(message)

    async def _send_queued(self, message: Message) -> None:
        """:meth:`send` when the link is down, or messages are queued before it."""
        while True:
            session = self._session
            if (
                session is not None
                and session.can_send_now
                and self._state is _CONNECTED
                and isinstance(message, (str, bytes))
            ):
                await session.send_now(message)
                return
            if self._state is not _CONNECTED or not self._outbox.full:
                break
            await self._outbox.wait_not_full()
        draining = session is not None and self._state is _CONNECTED and session.writer_draining
        self.send_nowait(message)  # queued in call order, behind what the writer drains
        if draining:
            # The writer task is writing what was queued and will be done soon:
            # wait for it, so that the next send() writes in the caller's task
            # again (else every later message would go through the writer, at
            # the cost of a task switch each). Cancellable; the message stays
            # queued and goes out.
            await self._outbox.wait_progress()
        else:
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
        while self._state is not ConnectionState.CONNECTED:
            if self._connected is None:
                self._connected = trio.Event()
            await self._connected.wait()
            self._check_usable()

    def statistics(self) -> ConnectionStatistics:
        """A snapshot of the counters (see :class:`ConnectionStatistics`)."""
        uptime = 0.0
        if self._connected_at is not None:
            uptime = trio.current_time() - self._connected_at
        stats = self._totals.snapshot(
            self._session,
            state=self._state,
            uptime=uptime,
            attempts=self._backoff.attempts,
            messages_dropped=self._outbox.dropped,
            send_buffered=len(self._outbox),
        )
        tracker = self._inbox.resume
        if tracker is not None:
            stats = attrs.evolve(stats, duplicates_dropped=tracker.duplicates_dropped)
        return stats

    def _check_usable(self) -> None:
        if self._terminal is not None:
            raise self._terminal

    def _emit(self, event: StateChange) -> None:
        if self._recorder is not None:
            self._recorder.event(event)
        self._history.record(event)


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
    url: ConnectTarget,
    *,
    heartbeat: Heartbeat | None = None,
    reconnect: ReconnectPolicy | None = None,
    options: ConnectionOptions | None = None,
    on_connect: OnConnect | None = None,
    dial: Dial | None = None,
    rng: random.Random | None = None,
    codec: CodecFactory | None = None,
    heartbeat_clock: HeartbeatClock | None = None,
    resume: Resume[Any] | None = None,
    suspend: SuspendCheck | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[ManagedWebSocket]:
    """Open a self-healing WebSocket connection to ``url`` for the block's duration.

    - ``url``: a ``ws://``/``wss://`` URL; an :class:`Endpoint` (URL plus extra
      headers, subprotocols, TLS context, proxy); a list of them, tried in turn
      after failures (the one that works is kept); or a callable, sync or
      async, called before every attempt with an :class:`AttemptContext` and
      returning an Endpoint or a URL (fresh tokens, session ids). A
      ``HeartbeatError`` it raises is classified by the policy (e.g. a 401
      stops); any other exception fails the attempt, which is retried.

    - ``heartbeat``: how liveness is proven (default ``Heartbeat.ping()``:
      RFC 6455 ping every 30 s, dead after 10 s without a pong or traffic).
    - ``reconnect``: backoff, limits and the close-code table.
    - ``options``: buffers, limits, connect and close timeouts, send rate, TLS, headers.
    - ``on_connect``: runs on every (re)connect before buffered messages flush;
      its failure fails the attempt.
    - ``dial``: opens the byte stream, replacing the whole dial step (default:
      TCP, proxy and TLS for each endpoint); the test kit passes in-memory
      streams here.
    - ``rng``: the random source for jitter (seed it in tests).
    - ``heartbeat_clock``: a shared :class:`HeartbeatClock` (see
      :func:`open_heartbeat_clock`) that times the heartbeats of many
      connections with one timer; default: a timer per connection.
    - ``codec``: a factory of per-link :class:`Codec` objects for protocols that
      frame messages (SockJS arrays...); default: none.
    - ``resume``: read a position from each inbound message (:class:`Resume`)
      to resume a numbered stream: the on-connect step gets the last delivered
      one (``LiveLink.resume_position``) and replayed duplicates are dropped.
    - ``suspend``: notice that the machine slept (:class:`SuspendCheck`) and
      probe the link at once on waking; default: off.
    - ``metrics``: OpenTelemetry instruments (``trio_heartbeat.metrics.Metrics``).

    The block is entered at once, without waiting for the first connection
    (use :meth:`ManagedWebSocket.wait_connected`). Leaving it cancels every
    task and timer and closes the socket within ``options.close_timeout``.
    Raises :class:`UsageError` for a bad URL or argument, before any I/O.
    Proxies: ``options.proxy``, an endpoint's ``proxy``, else the environment.
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
        resume=resume,
        suspend=suspend,
        metrics=metrics,
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
