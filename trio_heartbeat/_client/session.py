"""The life of one open link: its sibling tasks and the state they share.

A :class:`LinkSession` is made for every link that opens. In one nursery it
runs the pump (receives, swallows heartbeat traffic, queues application
messages), the keeper (:mod:`.keeper`: sends heartbeats when due and ends the
link when the liveness deadline passed, one task sleeping on one alarm, which
replies move later without waking it) and, only while messages are queued, the writer; the
on-connect step runs in the same nursery. Without an on-connect step the
keeper runs in the session's own task (one task fewer per connection). The
first task to fail records why and cancels the others, so a link ends with
exactly one cause (:attr:`LinkSession.end_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from typing import NoReturn

import trio

from trio_heartbeat._client.clock import Alarm, HeartbeatClock, ScopeAlarm
from trio_heartbeat._client.keeper import SETTLE_CHECKPOINTS, Keeper
from trio_heartbeat._client.queues import Inbox, Outbox, not_text
from trio_heartbeat._client.suspend import WakeControl, watch_for_wake
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.codec import Codec
from trio_heartbeat._core.delivery import DeliveryLedger, confirms_delivery
from trio_heartbeat._core.events import MessagesDropped, StateChange
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.liveness import Liveness
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._core.ratelimit import TokenBucket
from trio_heartbeat._transport.links import Link, translate_error
from trio_heartbeat.errors import ConnectionLost, PeerUnresponsive, RemoteProtocolError

__all__ = ["Counters", "LinkSession", "OnConnectStep"]

logger = logging.getLogger("trio_heartbeat")

Message = str | bytes
OnConnectStep = Callable[[AsyncExitStack], Awaitable[None]]

# Ping payloads of probes (heartbeat pings carry an 8-byte counter: never equal).
PROBE_PREFIX = b"probe"

_NO_STACK: AbstractAsyncContextManager[None] = nullcontext()


class Counters:
    """Message counters of a managed connection, over all its links."""

    __slots__ = ("messages_abandoned", "messages_in", "messages_out", "protocol_errors")

    def __init__(self) -> None:
        self.messages_in = 0
        self.messages_out = 0
        self.protocol_errors = 0
        self.messages_abandoned = 0


class LinkSession(Keeper):
    """One open link and its tasks. Create, then ``await run(...)`` (never returns)."""

    __slots__ = (
        "_alarm",
        "_bucket",
        "_close_with",
        "_counters",
        "_emit",
        "_heartbeat",
        "_inbox",
        "_on_rtt",
        "_options",
        "_outbox",
        "_probe_count",
        "_probes",
        "_reply_window",
        "_room",
        "_sleep_until",
        "_start_writer",
        "_tasks",
        "_tasks_scope",
        "_wake",
        "_writer_running",
        "codec",
        "end_error",
        "ledger",
        "link",
        "liveness",
    )

    def __init__(
        self,
        link: Link,
        *,
        heartbeat: Heartbeat,
        options: ConnectionOptions,
        inbox: Inbox,
        outbox: Outbox,
        codec: Codec | None,
        counters: Counters,
        emit: Callable[[StateChange], None],
        clock: HeartbeatClock | None = None,
        wake: WakeControl | None = None,
        on_rtt: Callable[[float], None] | None = None,
    ) -> None:
        now = trio.current_time()
        self.link = link
        self.liveness = Liveness(heartbeat, connected_at=now)
        self.codec = codec
        self.ledger = (
            DeliveryLedger(options.unconfirmed_window) if confirms_delivery(heartbeat) else None
        )
        # Set while the writer waits for a reply to make room in the ledger.
        self._room: trio.Event | None = None
        self._beats = 0  # heartbeats sent on this link (scheduled and probes)
        self.end_error: BaseException | None = None
        self._heartbeat = heartbeat
        self._options = options
        self._inbox = inbox
        self._outbox = outbox
        self._counters = counters
        self._emit = emit
        self._reply_window = heartbeat.reply_timeout or heartbeat.interval or float("inf")
        rate = options.send_rate
        self._bucket = None if rate is None else TokenBucket(rate, options.send_burst, now=now)
        self._tasks_scope: trio.CancelScope | None = None
        # The keeper's wake-up (heartbeat or deadline) and its bounded heartbeat write.
        self._alarm: Alarm = clock.alarm() if clock is not None else ScopeAlarm()
        self._guard = trio.CancelScope()  # the keeper's, cancelled by the alarm (see _keep)
        self._writing = False  # the keeper is writing a heartbeat
        self._held = False  # the deadline waits while the inbox is full
        self._start_writer: Callable[[], None] | None = None
        self._writer_running = False
        self._sleep_until = clock.sleep_until if clock is not None else trio.sleep_until
        self._wake = wake
        self._on_rtt = on_rtt
        self._tasks: trio.Nursery | None = None
        self._probes: dict[bytes, trio.Event] | None = None  # made by the first probe
        self._probe_count = 0
        self._close_with: tuple[int, str] | None = None
        link.on_pong = self._on_pong

    async def run(
        self, on_connect: OnConnectStep | None, connected: Callable[[], None]
    ) -> NoReturn:
        """Run the link's tasks, then ``on_connect``, then call ``connected()``.

        Returns only by raising: the error that ended the link. (One coroutine
        frame, not two: it is held for the life of every link.)
        """
        hb = self._heartbeat
        keeps = hb.interval is not None or hb.detects_death
        # An exit stack only when there is an on-connect step to keep entered.
        stack_cm = AsyncExitStack() if on_connect is not None else _NO_STACK
        try:
            async with stack_cm as stack, trio.open_nursery() as tasks:
                self._tasks_scope = tasks.cancel_scope
                self._tasks = tasks
                wake = self._wake
                if wake is not None and wake.check is not None:
                    tasks.start_soon(watch_for_wake, wake, self._sleep_until, self._on_wake)
                tasks.start_soon(self._pump)
                if on_connect is None:
                    self._start_writer = self._spawn_writer
                    self.ensure_writer()
                    connected()
                    if keeps:  # in this task: one task fewer per connection
                        await self._keep()
                else:
                    if keeps:
                        tasks.start_soon(self._keep)
                    try:
                        if stack is not None:
                            await on_connect(stack)
                    except Exception as exc:
                        self._record_end(exc)
                    else:
                        self._start_writer = self._spawn_writer
                        self.ensure_writer()
                        connected()
        finally:
            self._start_writer = None
            if self._close_with is not None:  # the tasks are done: the link is ours to close
                await self.link.close(*self._close_with, self._options.close_timeout)
        raise self.end_error or ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "link ended")

    def _record_end(self, exc: BaseException) -> None:
        """The first failure of a task: remember it and end the link."""
        if self.end_error is None:
            self.end_error = translate_error(exc)
        self._start_writer = None
        if self._tasks_scope is not None:
            self._tasks_scope.cancel()

    # -- sending ---------------------------------------------------------------

    def _spawn_writer(self) -> None:
        assert self._tasks is not None
        self._tasks.start_soon(self._writer, self.link)

    def ensure_writer(self) -> None:
        """Start the writer task if the link is up, work is queued and none runs.

        The writer exits when the outbox is empty, so an idle connection holds
        no writer task (memory per connection matters at 10,000 of them).
        """
        start = self._start_writer
        if start is not None and not self._writer_running:
            ledger = self.ledger
            if self._outbox.items or (ledger is not None and ledger.wants_probe()):
                self._writer_running = True
                start()

    @property
    def can_send_now(self) -> bool:
        """True when a message may be written in the caller's task, in order."""
        outbox, ledger = self._outbox, self.ledger
        return (
            self._start_writer is not None
            and not outbox.items
            and self.codec is None
            and self._bucket is None
            and not outbox.in_flight
            and not self._writer_running
            and (ledger is None or ledger.room > 0)
        )

    @property
    def writer_draining(self) -> bool:
        """True while the writer task writes queued messages and nothing but the
        socket holds it back (no full window, no send rate, no codec)."""
        ledger = self.ledger
        return (
            self._writer_running
            and self.codec is None
            and self._bucket is None
            and (ledger is None or ledger.room > 0)
        )

    async def send_now(self, message: Message) -> None:
        """Write ``message`` in the caller's task (see ``ManagedWebSocket.send``).

        Raises :class:`UsageError` for a ``str`` without UTF-8 (a lone
        surrogate), the link untouched. A probe owed (half the unconfirmed
        window written since the last heartbeat) goes out after the message,
        in this task too (handing it to the
        writer task would route every later message through that task; sent
        first, a sender arriving meanwhile could overtake the message).
        """
        outbox, ledger, link = self._outbox, self.ledger, self.link
        outbox.in_flight = True
        try:
            await link.send(message)
        except UnicodeEncodeError as exc:  # raised before a byte is written
            outbox.written()  # nothing taken: the link goes on
            raise not_text(exc) from None
        except ConnectionLost:
            outbox.put_back((message,))  # goes out after the reconnect
            return
        except BaseException:
            # Cancelled mid-write: part of the frame may be on the wire, so the
            # link cannot be trusted any more. Drop it; the message goes out
            # again after the reconnect.
            outbox.put_back((message,))
            with trio.CancelScope(shield=True):
                await link.abort()
            raise
        outbox.written()
        self._counters.messages_out += 1
        if ledger is not None:
            ledger.written(message, 1)
            if ledger.wants_probe():
                await self._probe_after_send(link)

    async def _probe_after_send(self, link: Link) -> None:
        """The probe :meth:`send_now` owes. The message is in the ledger: if the
        link fails now, it is replayed after the reconnect like any unconfirmed one."""
        try:
            await self._send_heartbeat(probe=True)
        except ConnectionLost:
            return  # the loss is the link's to report
        except BaseException:
            with trio.CancelScope(shield=True):  # part of the probe may be on the wire
                await link.abort()
            raise

    def _record_written(self, batch: tuple[Message, ...], writes: tuple[int, ...]) -> None:
        """``batch`` was written; ``writes``: how often each was written before."""
        if self.ledger is not None:
            for message, before in zip(batch, writes, strict=True):
                self.ledger.written(message, before + 1)
        self._counters.messages_out += len(batch)

    async def _writer(self, link: Link) -> None:
        """Write queued application messages in order, at the configured pace."""
        try:
            await self._write_queued(link)
        except Exception as exc:
            self._record_end(exc)
        finally:
            self._writer_running = False
            self._outbox.look_again()  # a sender waiting for this writer: it is gone

    async def _write_queued(self, link: Link) -> None:
        outbox, bucket, codec, ledger = self._outbox, self._bucket, self.codec, self.ledger
        while True:
            if ledger is not None:
                if ledger.wants_probe():
                    await self._send_heartbeat(probe=True)
                if outbox.items and not ledger.room:
                    await self._wait_for_room()
                    continue
            if not outbox.items:
                return
            if bucket is not None:
                wait = bucket.wait_time(trio.current_time())
                if wait > 0:
                    await trio.sleep(wait)
                    continue
                bucket.take(trio.current_time())
            if codec is None:
                message, written = outbox.take()
                batch: tuple[Message, ...] = (message,)
                writes: tuple[int, ...] = (written,)
                frame = message
            else:
                limit = self._options.send_batch_size
                batch, writes = outbox.take_batch(
                    limit if ledger is None else min(limit, ledger.room)
                )
                try:
                    frame = codec.encode(batch)
                except Exception as exc:
                    # A message the protocol cannot carry: dropped, counted and
                    # reported, never retried in a loop, never a reason to reconnect.
                    outbox.written()
                    outbox.dropped += len(batch)
                    self._emit(MessagesDropped(len(batch), f"codec could not encode: {exc}"))
                    logger.exception("dropped %d message(s) the codec cannot encode", len(batch))
                    continue
            try:
                await link.send(frame)
            except BaseException:
                outbox.put_back(batch, writes)
                raise
            outbox.written()
            self._record_written(batch, writes)

    async def _wait_for_room(self) -> None:
        """Wait until a heartbeat reply confirms messages (the window is full)."""
        self._room = room = trio.Event()
        self._outbox.look_again()  # a sender waiting for the writer: no longer soon
        await room.wait()

    def _confirmed(self) -> None:
        """A reply confirmed messages: wake the writer if it waits for room."""
        room = self._room
        if room is not None and self.ledger is not None and self.ledger.room:
            self._room = None
            room.set()

    # -- receiving -------------------------------------------------------------

    async def _pump(self) -> None:
        """Receive forever: swallow heartbeat traffic, queue application messages."""
        try:
            hb, link, liveness = self._heartbeat, self.link, self.liveness
            reply, server_payload, answer = hb.reply, hb.server_payload, hb.server_answer
            inbox, counters, codec = self._inbox, self._counters, self.codec
            while True:
                message = await link.receive()
                if reply is not None and message == reply:
                    # An echo of a probe proves life but answers none of the scheduled beats.
                    if self.ledger is None or self.ledger.reply():
                        rtt = liveness.observe_reply(trio.current_time())
                        if rtt is not None and self._on_rtt is not None:
                            self._on_rtt(rtt)
                    else:
                        liveness.observe_heartbeat(trio.current_time())
                    self._confirmed()
                    self._rearm_watchdog()
                    continue
                if server_payload is not None and message == server_payload:
                    liveness.observe_heartbeat(trio.current_time())
                    self._rearm_watchdog()
                    if answer is not None:
                        await link.send(answer)
                    continue
                if codec is None:
                    counters.messages_in += 1
                    await inbox.put(message)
                    continue
                for item in list(codec.decode(message)):  # a bad message delivers nothing
                    counters.messages_in += 1
                    await inbox.put(item)
        except RemoteProtocolError as exc:
            # A broken frame (wsproto) or message (codec): counted, logged once,
            # and the link ends; the reconnect policy takes it from there.
            self._counters.protocol_errors += 1
            logger.info("protocol error from the peer, ending the link: %s", exc)
            self._record_end(exc)
        except Exception as exc:
            self._record_end(exc)

    def _on_pong(self, token: bytes) -> None:
        """A pong arrived (called by the link while receiving)."""
        rtt = self.liveness.observe_reply(trio.current_time(), token)
        if rtt is not None and self._on_rtt is not None:
            self._on_rtt(rtt)
        if self.ledger is not None:
            self.ledger.reply(token)
            self._confirmed()
        self._rearm_watchdog()
        if self._probes:
            answered = self._probes.pop(token, None)
            if answered is not None:
                answered.set()

    # -- probes, wake-ups, reconnect at once ------------------------------------

    def start_probe(self, timeout: float, why: str) -> bool:
        """Probe the link now (see ``ManagedWebSocket.probe_now``); False if it is not up.

        A probe already in flight is not doubled.
        """
        if self._tasks is None or self.end_error is not None:
            return False
        if not self._probes:
            self._probe_count += 1
            token = PROBE_PREFIX + self._probe_count.to_bytes(8, "big")
            self._probes = {token: trio.Event()}
            self._tasks.start_soon(self._probe, token, timeout, why)
        return True

    async def _probe(self, token: bytes, timeout: float, why: str) -> None:
        """Drain what already arrived, ping, and end the link if no pong within ``timeout``.

        Only the probe's own pong answers it: bytes that sat in the socket (read
        while draining) prove nothing about now.
        """
        probes = self._probes
        assert probes is not None
        answered = probes[token]
        try:
            for _ in range(SETTLE_CHECKPOINTS):
                await trio.lowlevel.checkpoint()
            await self.link.send_ping(token, timeout)
            with trio.move_on_after(timeout):
                await answered.wait()
                return
            logger.warning("%s probe unanswered within %g s: reconnecting", why, timeout)
            if self._wake is not None:
                self._wake.reconnect_at_once()
            raise PeerUnresponsive(timeout, f"answer to the {why} probe")
        except Exception as exc:
            self._record_end(exc)
        finally:
            probes.pop(token, None)

    def _on_wake(self, slept: float) -> None:
        check = self._wake.check if self._wake is not None else None
        if check is not None:
            self.start_probe(check.probe_timeout, "wake-up")

    def end_for_reconnect(self, code: int | None = None, reason: str = "") -> None:
        """End this link now for an immediate reconnect: aborted, or closed
        politely with ``code`` and ``reason`` once its tasks are done."""
        if code is None:
            self._record_end(ConnectionLost(1006, "reconnect requested by the application"))
            return
        if self.end_error is None:
            self._close_with = (code, reason)
        self._record_end(ConnectionLost(code, reason or "closed by the application"))
