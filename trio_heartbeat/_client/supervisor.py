"""The supervisor of a managed connection: connect, run the link, classify its
end, back off, again -- and the shutdown.

Mixed into :class:`~trio_heartbeat._client.connection.ManagedWebSocket`, which
owns the state; this class owns the loop that changes it::

    _reconnect_loop     Connecting -> _attempt -> Disconnected -> policy decides
    _attempt            plan -> open_link (dial, proxy, TLS, upgrade) -> LinkSession
    _finish_close       Closed(undelivered, unconfirmed), the terminal error
"""

from __future__ import annotations

import functools
import logging
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio

from trio_heartbeat._client.clock import HeartbeatClock
from trio_heartbeat._client.history import StateHistory
from trio_heartbeat._client.live_link import LiveLink, OnConnect, run_on_connect
from trio_heartbeat._client.plan import choose_endpoint
from trio_heartbeat._client.queues import Inbox, Outbox
from trio_heartbeat._client.session import LinkSession, OnConnectStep
from trio_heartbeat._client.suspend import WakeControl
from trio_heartbeat._client.totals import LinkTotals
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.codec import CodecFactory
from trio_heartbeat._core.delivery import Unconfirmed
from trio_heartbeat._core.endpoint import (
    ConnectPlan,
    Endpoint,
    Outcome,
)
from trio_heartbeat._core.events import (
    Closed,
    Connected,
    Connecting,
    ConnectionState,
    Disconnected,
    GaveUp,
    StateChange,
    Step,
    WaitingToReconnect,
)
from trio_heartbeat._core.groups import release_frames
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.options import ConnectionOptions, Transport
from trio_heartbeat._core.ratelimit import LogThrottle
from trio_heartbeat._core.reconnect import Backoff, ReconnectPolicy, StopReconnecting
from trio_heartbeat._core.redact import redact_to_origin
from trio_heartbeat._transport.links import (
    Dial,
    Link,
    first_error,
    open_link,
    translate_error,
)
from trio_heartbeat.errors import (
    ConnectionClosedError,
    ConnectionLost,
    HeartbeatError,
    ReconnectGaveUp,
)

if TYPE_CHECKING:  # the metrics module imports opentelemetry: only when used
    from trio_heartbeat.metrics import ConnectionRecorder

__all__ = ["Supervisor"]

logger = logging.getLogger("trio_heartbeat")

#: The attempt's scope where it needs none (stateless, so shared).
_NO_SCOPE: AbstractContextManager[object] = nullcontext()

Message = str | bytes

# Failed attempts and lost links are logged as a WARNING at most once per this
# many seconds per connection (the others at DEBUG, counted in the next warning).
FAILURE_LOG_INTERVAL = 30.0


class Supervisor:
    """The reconnect loop and shutdown of :class:`ManagedWebSocket` (a mixin: no state)."""

    # The state the loop moves (set first by ManagedWebSocket.__init__).
    __slots__ = (
        "_attempt_number",
        "_attempt_scope",
        "_closing",
        "_connected",
        "_connected_at",
        "_endpoint",
        "_endpoint_index",
        "_failure_log",
        "_previous",
        "_session",
        "_state",
        "_step",
        "_terminal",
    )

    _attempt_number: int  # of the link up now (set before its session starts)
    _attempt_scope: trio.CancelScope
    _backoff: Backoff
    _clock: HeartbeatClock | None
    _closing: bool
    _codec_factory: CodecFactory | None
    _connected: trio.Event | None
    _connected_at: float | None
    _dial: Dial | None
    _endpoint: Endpoint | None
    _endpoint_index: int | None
    _history: StateHistory
    _failure_log: LogThrottle | None
    _heartbeat: Heartbeat
    _inbox: Inbox
    _on_connect: OnConnect | None
    _options: ConnectionOptions
    _outbox: Outbox
    _plan: ConnectPlan
    _policy: ReconnectPolicy
    _previous: Outcome | None
    _recorder: ConnectionRecorder | None
    _session: LinkSession | None
    _state: ConnectionState
    _step: Step
    _supervisor_scope: trio.CancelScope
    _terminal: BaseException | None
    _totals: LinkTotals
    _wake: WakeControl

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _emit(self, event: StateChange) -> None:
        raise NotImplementedError

    async def _supervise(self) -> None:
        with self._supervisor_scope:
            await self._reconnect_loop()

    async def _reconnect_loop(self) -> None:
        backoff = self._backoff
        while True:
            attempt = backoff.next_attempt
            self._state, self._step = ConnectionState.CONNECTING, Step.CONNECT
            backoff.attempt_started(trio.current_time())
            error = await self._attempt(attempt)
            # The error is kept (state changes, the next attempt's context): not
            # the finished link's frames and everything they refer to.
            release_frames(error, explained=isinstance(error, HeartbeatError))
            was_connected = self._connected_at is not None
            worked = was_connected and (
                trio.current_time() - (self._connected_at or 0.0) >= self._policy.min_uptime
            )
            unconfirmed, abandoned = self._settle_unconfirmed()
            self._mark_down()
            code, reason = (
                (error.code, error.reason) if isinstance(error, ConnectionLost) else (None, "")
            )
            change = Disconnected(
                error, code, reason, was_connected, unconfirmed, abandoned, step=self._step
            )
            self._emit(change)
            self._previous = Outcome(self._endpoint_index, error, worked)
            decision = backoff.failed(trio.current_time(), error)
            if isinstance(decision, StopReconnecting):
                undelivered = self._outbox.drain_all()
                why, step = decision.why, self._step
                gave_up = ReconnectGaveUp(error, backoff.attempts, undelivered, why, step)
                self._terminal = gave_up
                self._state = ConnectionState.GAVE_UP
                self._inbox.close(gave_up)
                self._wake_waiters()
                self._emit(GaveUp(gave_up))
                logger.warning("connection to %s %s", redact_to_origin(self.url), gave_up)
                return
            delay = self._wake.reconnect_delay(decision.delay)
            self._log_failure(change, delay)
            self._state = ConnectionState.WAITING
            self._emit(WaitingToReconnect(delay, decision.attempt))
            due = trio.current_time() + delay
            # A stall (the process did not run) ends every wait due meanwhile at
            # once; jitter spreads them out again (ReconnectPolicy.stall_spread).
            # Not after "at once" (no wait, or one cut short): that was asked for.
            if await self._wake.wait(delay) and delay > 0:
                extension = backoff.waited_late(trio.current_time() - due)
                if extension:
                    await self._wake.wait(extension)

    def _log_failure(self, change: Disconnected, delay: float) -> None:
        """A WARNING with the reason, at most one per FAILURE_LOG_INTERVAL (others: DEBUG)."""
        if self._failure_log is None:
            self._failure_log = LogThrottle(FAILURE_LOG_INTERVAL)
        held_back = self._failure_log.report(trio.current_time())
        what = "link lost" if change.was_connected else "connection attempt failed"
        if held_back is None:
            logger.debug("%s: %s; retrying in %.3g s", what, change.summary, delay)
            return
        more = f" ({held_back} more failure(s) since the last warning)" if held_back else ""
        logger.warning(
            "%s to %s: %s; retrying in %.3g s%s",
            what,
            redact_to_origin(self.url),
            change.summary,
            delay,
            more,
        )

    def _settle_unconfirmed(self) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
        """Messages written on the lost link that the peer never confirmed.

        Returns them and those of them abandoned. With
        ``options.resend_unconfirmed`` they go back to the front of the outbox
        (at-least-once), except those already re-sent ``options.max_resends``
        times: abandoned, counted and logged. Otherwise they are only reported.
        """
        entries = self._take_unconfirmed()
        unconfirmed = tuple(message for message, _ in entries)
        if not entries or not self._options.resend_unconfirmed:
            return unconfirmed, ()
        limit = self._options.max_resends + 1  # writes allowed per message
        again = [(message, writes) for message, writes in entries if writes < limit]
        abandoned = tuple(message for message, writes in entries if writes >= limit)
        if again:
            self._outbox.put_back(
                tuple(message for message, _ in again), tuple(writes for _, writes in again)
            )
        if abandoned:
            self._totals.counters.messages_abandoned += len(abandoned)
            logger.warning(
                "%d unconfirmed message(s) not re-sent: each was written %d times",
                len(abandoned),
                limit,
            )
        return unconfirmed, abandoned

    def _take_unconfirmed(self) -> tuple[Unconfirmed, ...]:
        ledger = self._session.ledger if self._session is not None else None
        return ledger.take_unconfirmed() if ledger is not None else ()

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
        return self._session_error() or ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "link ended")

    def _session_error(self) -> BaseException | None:
        return self._session.end_error if self._session is not None else None

    async def _choose_endpoint(self, attempt: int) -> Endpoint:
        """Ask the plan; emit ``Connecting`` (with the endpoint, None if the plan failed)."""
        backoff, now = self._backoff, trio.current_time()
        started = backoff.outage_started_at
        endpoint: Endpoint | None = None
        self._endpoint_index = None
        try:
            self._endpoint_index, endpoint = await choose_endpoint(
                self._plan,
                self._previous,
                attempt=attempt,
                total_attempts=backoff.attempts,
                outage_elapsed=now - started if started is not None else 0.0,
                timeout=self._options.connect_timeout,
            )
            self._endpoint = endpoint
        finally:
            self._emit(Connecting(attempt, endpoint))
        return endpoint

    async def _open_and_run(self, nursery: trio.Nursery | None, attempt: int) -> None:
        link: Link | None = None
        # The attempt's own scope only where the supervisor's cancellation cannot
        # reach it (trio-websocket's shielded nursery); elsewhere a scope less
        # per connection (memory at 10,000 connections).
        scope: AbstractContextManager[object] = _NO_SCOPE
        if nursery is not None:
            scope = self._attempt_scope = trio.CancelScope()
        try:
            with scope:
                if self._closing:
                    self._attempt_scope.cancel()
                endpoint = await self._choose_endpoint(attempt)
                link = await open_link(
                    nursery,
                    endpoint,
                    self._options,
                    self._options.connect_timeout,
                    dial=self._dial,
                    on_dialed=self._dialed,
                )
                self._attempt_number = attempt
                await self._new_session(link).run(self._on_connect_step(link), self._on_connected)
        finally:
            if link is not None:
                if self._closing:
                    await link.close(CloseCode.NORMAL_CLOSURE, "", self._options.close_timeout)
                else:
                    await link.abort()

    def _metrics_host(self) -> str:
        """The host metrics are reported under: the first endpoint's ("" with a factory)."""
        if self._endpoint is None:
            return ""
        return urlsplit(self._endpoint.url).hostname or ""

    def _dialed(self) -> None:
        """The byte stream is up (TCP, proxy, TLS); what fails after it is the HTTP upgrade."""
        self._step = Step.UPGRADE

    def _new_session(self, link: Link) -> LinkSession:
        """The session of a link that just opened (a plain call: no frame kept per link)."""
        self._step = Step.ON_CONNECT if self._on_connect is not None else Step.LINK
        self._session = LinkSession(
            link,
            heartbeat=self._heartbeat,
            options=self._options,
            inbox=self._inbox,
            outbox=self._outbox,
            codec=self._codec_factory() if self._codec_factory is not None else None,
            counters=self._totals.counters,
            emit=self._emit,
            clock=self._clock,
            wake=self._wake,
            on_rtt=self._recorder.rtt_sample if self._recorder is not None else None,
        )
        return self._session

    def _on_connect_step(self, link: Link) -> OnConnectStep | None:
        if self._on_connect is None:
            return None
        return functools.partial(self._run_on_connect, link, self._attempt_number)

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

    def _on_connected(self) -> None:
        assert self._session is not None
        link, attempt = self._session.link, self._attempt_number
        self._totals.connects += 1
        self._connected_at = trio.current_time()
        self._backoff.connected(self._connected_at)
        self._state, self._step = ConnectionState.CONNECTED, Step.LINK
        self._wake_waiters()
        self._emit(Connected(attempt, link.subprotocol, self._endpoint))
        logger.info("connected to %s (attempt %d)", redact_to_origin(self.url), attempt)

    # -- shutdown --------------------------------------------------------------

    def _begin_close(self) -> None:
        self._closing = True
        self._attempt_scope.cancel()
        self._supervisor_scope.cancel()

    def _finish_close(self) -> None:
        undelivered = self._outbox.drain_all()
        unconfirmed = tuple(message for message, _ in self._take_unconfirmed())
        if self._terminal is None:
            self._terminal = ConnectionClosedError("the managed connection is closed")
            self._inbox.close(self._terminal)
        self._mark_down()
        self._state = ConnectionState.CLOSED
        self._wake_waiters()
        self._emit(Closed(undelivered, unconfirmed))
        self._history.close()
