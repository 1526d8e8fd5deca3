"""The keeper of one link: heartbeats when due, and the end of the link when the
liveness deadline passed.

A mixin of :class:`~trio_heartbeat._client.session.LinkSession` (which owns the
state it declares): one task sleeping on one alarm, which replies move later
without waking it. While it writes a heartbeat the alarm guards the write with
the deadline, so a peer that stopped reading cannot stall the deadline with a
full socket buffer.
"""

from __future__ import annotations

import logging
import math

import trio

from trio_heartbeat._client.clock import Alarm
from trio_heartbeat._client.queues import Inbox
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.delivery import DeliveryLedger
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.liveness import Liveness
from trio_heartbeat._transport.links import Link
from trio_heartbeat.errors import ConnectionLost, PeerUnresponsive, UsageError

__all__ = ["SETTLE_CHECKPOINTS", "Keeper"]

logger = logging.getLogger("trio_heartbeat")

# Checkpoints the watchdog takes before declaring death, so that bytes which
# already arrived (while the process was busy) are read first.
SETTLE_CHECKPOINTS = 3
# How far past ``now`` a heartbeat write is allowed when the deadline passes
# just as it is due: the current scheduling step (a write that must wait is cut).
_THIS_STEP = 1e-9


class Keeper:
    """Heartbeats and the liveness deadline of a link session (see the module docstring)."""

    # Set by LinkSession.__init__; the keeper's own state.
    __slots__ = ("_beats", "_guard", "_held", "_writing")

    _alarm: Alarm
    _beats: int
    _guard: trio.CancelScope
    _heartbeat: Heartbeat
    _held: bool
    _inbox: Inbox
    _reply_window: float
    _tasks: trio.Nursery | None
    _writing: bool
    ledger: DeliveryLedger | None
    link: Link
    liveness: Liveness

    def _record_end(self, exc: BaseException) -> None:
        raise NotImplementedError

    async def _keep(self) -> None:
        """Send heartbeats when due and end the link when the liveness deadline passed.

        One task and one alarm: it sleeps until the next heartbeat or the
        deadline, whichever is first; a reply moves the deadline later without
        waking it (the alarm is re-filed when its old time comes). While it
        writes a heartbeat, the alarm guards the write with the deadline.
        """
        liveness, stream, alarm = self.liveness, self.link.stream, self._alarm
        interval = self._heartbeat.interval
        try:
            while True:
                with trio.CancelScope() as self._guard:
                    while True:
                        liveness.observe_traffic(stream.last_receive)
                        now = trio.current_time()
                        if interval is not None and liveness.next_heartbeat_deadline() <= now:
                            await self._send_heartbeat(probe=False)
                        elif self._dead_deadline() <= now:
                            await self._deadline_passed()
                        else:
                            alarm.deadline = self._wake_time(now)
                            await alarm.sleep()
                # The deadline passed during a heartbeat write (the guard fired).
                cut, self._writing = self._writing, False
                await self._deadline_passed()  # raises PeerUnresponsive if the peer is dead
                if cut:  # not dead after all, but part of a frame may be on the wire
                    raise ConnectionLost(
                        CloseCode.ABNORMAL_CLOSURE, "heartbeat write cut short at the deadline"
                    )
        except Exception as exc:
            self._record_end(exc)

    def _dead_deadline(self) -> float:
        """The liveness deadline in force (``inf`` while the inbox is full: we stopped reading)."""
        if self._held or not self._heartbeat.detects_death:
            return math.inf
        return self.liveness.dead_deadline()

    def _wake_time(self, now: float) -> float:
        """When the keeper must look again: the next heartbeat or the deadline."""
        wake = self._dead_deadline()
        interval = self._heartbeat.interval
        if interval is not None:
            # Never sleep past one interval: in idle mode the due time can come closer.
            wake = min(wake, self.liveness.next_heartbeat_deadline(), now + interval)
        return wake

    async def _deadline_passed(self) -> None:
        """The deadline passed: hold it while the inbox is full, else drain, then end the link."""
        liveness, stream = self.liveness, self.link.stream
        if self._inbox.full:
            # We stopped reading (the application is behind): the silence is ours.
            self._held = True
            assert self._tasks is not None
            self._tasks.start_soon(self._hold_while_full)
            return
        # Looks dead: first let bytes that already arrived be read.
        for _ in range(SETTLE_CHECKPOINTS):
            await trio.lowlevel.checkpoint()
        liveness.observe_traffic(stream.last_receive)
        now = trio.current_time()
        liveness.expire(now)
        if liveness.is_dead(now):
            bound = liveness.dead_bound()
            logger.info("peer unresponsive for %g s: aborting the link", bound)
            proof = self._heartbeat.any_traffic_proves_life
            # The link is aborted on the way out (no polite close to a dead peer).
            raise PeerUnresponsive(bound, "inbound traffic" if proof else "heartbeat")

    async def _hold_while_full(self) -> None:
        """Wait until the application reads again; that instant counts as life."""
        try:
            await self._inbox.wait_not_full()
            self.liveness.observe_heartbeat(trio.current_time())
        finally:
            self._held = False
        self._rearm_watchdog()

    async def _send_heartbeat(self, *, probe: bool) -> None:
        """Send one client heartbeat; a ``probe`` only asks the ledger's confirmation.

        A probe is outside the schedule: the liveness machine does not see it
        (its reply still proves life). A scheduled heartbeat is written by the
        keeper, so its write is bounded by the liveness deadline: a peer that
        stopped reading cannot stall the deadline with a full socket buffer.
        """
        hb, link, liveness, ledger = self._heartbeat, self.link, self.liveness, self.ledger
        self._beats += 1
        now = trio.current_time()
        if hb.payload is None:
            token = self._beats.to_bytes(8, "big")
            if ledger is not None:
                ledger.heartbeat_written(token, probe=probe)
            if probe:
                await link.send_ping(token, self._reply_window)
                return
            liveness.heartbeat_sent(now, token)
            write = link.send_ping(token, self._reply_window)
        else:
            if ledger is not None and hb.reply is not None:
                ledger.heartbeat_written(self._beats, probe=probe)
            if probe:
                await link.send(hb.payload)
                return
            liveness.heartbeat_sent(now)
            write = link.send(hb.payload)
        # Guarded by the deadline; one passing at this very instant still lets a
        # write that needs no wait go out (the check that follows drains first).
        self._writing = True
        self._alarm.guard(max(self._dead_deadline(), now + _THIS_STEP), self._guard)
        await write
        self._writing = False
        self._alarm.unguard()

    def set_silence_timeout(self, seconds: float) -> None:
        """Change this link's silence bound (see ``LiveLink.set_silence_timeout``)."""
        if not self._heartbeat.detects_death:
            raise UsageError("set_silence_timeout needs a Heartbeat with a deadline to move")
        self.liveness.set_silence_timeout(seconds)
        self._rearm_watchdog()

    def _rearm_watchdog(self) -> None:
        """Move the keeper's alarm to the current deadline (cheap: no wake-up)."""
        alarm = self._alarm
        if self._writing:  # the guard of a write only ever moves later
            alarm.move(max(self._dead_deadline(), alarm.deadline))
        else:
            alarm.move(self._wake_time(trio.current_time()))
