"""Timers for the heartbeat task of a link: alone, or on one shared clock.

A link's keeper task (heartbeats and the liveness deadline) sleeps on an
*alarm*: a wake-up time that other tasks may move without waking it (a pong
moves the liveness deadline later at the cost of one attribute write). While
the keeper writes a heartbeat, the same alarm guards the write: it cancels the
write if the deadline passes first (a peer that stopped reading cannot stall
the deadline).

- :class:`ScopeAlarm` (no shared clock): the sleep is a ``CancelScope`` whose
  deadline is the alarm's; exact.
- :class:`ClockAlarm`, from :meth:`HeartbeatClock.alarm`: in trio every timer
  that fires is a cancellation delivered to a sleeping task, which costs more
  than the heartbeat it schedules once thousands of connections each keep
  their own. A :class:`HeartbeatClock` keeps one timer: alarms park in its
  buckets (one per multiple of ``resolution``), and its task wakes every task
  that is due at once, at most every ``resolution`` seconds (a wake-up is at
  most ``resolution`` late; it is never early). An alarm moved later is
  re-filed when its old time comes, without waking its task.

Use the clock for many connections in one process::

    async with open_heartbeat_clock() as clock:
        async with open_managed_websocket(url, heartbeat_clock=clock) as ws: ...
"""

from __future__ import annotations

import heapq
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import trio

from trio_heartbeat._core.validate import positive
from trio_heartbeat.errors import UsageError

__all__ = ["Alarm", "ClockAlarm", "HeartbeatClock", "ScopeAlarm", "open_heartbeat_clock"]

_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED


def _abort_sleep(_: object) -> trio.lowlevel.Abort:
    """A sleep ends on any cancellation (the alarm's deadline is one)."""
    return _SUCCEEDED


class Alarm(Protocol):
    """A movable wake-up time for one task (``deadline``: a ``trio.current_time()`` value).

    While *guarding* (between :meth:`guard` and :meth:`unguard`) the task is
    busy instead of asleep, and the alarm cancels the guarded scope if its
    deadline passes first.
    """

    deadline: float

    def move(self, deadline: float) -> None:
        """Wake (or cancel the guarded scope) at ``deadline`` instead: no task switch."""

    def guard(self, deadline: float, scope: trio.CancelScope) -> None:
        """Cancel ``scope`` if ``deadline`` passes before :meth:`unguard`."""

    def unguard(self) -> None:
        """Stop guarding (the guarded work is done)."""

    async def sleep(self) -> None:
        """Sleep until ``deadline`` (as moved meanwhile). A checkpoint."""


class ScopeAlarm:
    """An alarm of its own: a cancel scope per sleep, its deadline moved with the alarm."""

    __slots__ = ("_guarded", "_scope", "deadline")

    def __init__(self) -> None:
        self.deadline = math.inf
        self._scope: trio.CancelScope | None = None  # of the sleep
        self._guarded: trio.CancelScope | None = None

    def move(self, deadline: float) -> None:
        self.deadline = deadline
        scope = self._guarded or self._scope
        if scope is not None:
            scope.deadline = deadline

    def guard(self, deadline: float, scope: trio.CancelScope) -> None:
        self.deadline = scope.deadline = deadline
        self._guarded = scope

    def unguard(self) -> None:
        if self._guarded is not None:
            self._guarded.deadline = math.inf
            self._guarded = None

    async def sleep(self) -> None:
        with trio.CancelScope(deadline=self.deadline) as self._scope:
            try:
                # trio.sleep_forever() without its frame and abort closure: an
                # idle connection holds a few objects fewer.
                await trio.lowlevel.wait_task_rescheduled(_abort_sleep)
            finally:
                self._scope = None


class ClockAlarm:
    """An alarm on a :class:`HeartbeatClock` (made by :meth:`HeartbeatClock.alarm`)."""

    __slots__ = ("_clock", "_guarded", "_task", "deadline", "filed")

    def __init__(self, clock: HeartbeatClock) -> None:
        self._clock = clock
        self.deadline = math.inf
        # The time of the bucket holding this alarm's live entry (inf: none).
        self.filed = math.inf
        self._task: trio.lowlevel.Task | None = None  # the sleeping task
        self._guarded: trio.CancelScope | None = None

    def move(self, deadline: float) -> None:
        self.deadline = deadline
        if (self._task is not None or self._guarded is not None) and deadline < self.filed:
            self._clock.file(self, deadline)

    def guard(self, deadline: float, scope: trio.CancelScope) -> None:
        self._guarded = scope
        self.move(deadline)

    def unguard(self) -> None:
        self._guarded = None  # an entry left in a bucket is dropped or re-filed later

    async def sleep(self) -> None:
        deadline = self.deadline
        if deadline <= trio.current_time():
            await trio.lowlevel.checkpoint()
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        self._task = trio.lowlevel.current_task()
        if deadline < self.filed:
            self._clock.file(self, deadline)
        await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None  # its bucket entry is dropped when it comes up
        return _SUCCEEDED

    def fire(self, now: float) -> None:
        """Called by the clock when the live entry is due: wake, or re-file if moved later."""
        self.filed = math.inf
        task, guarded = self._task, self._guarded
        if task is None and guarded is None:
            return
        if self.deadline > now:
            self._clock.file(self, self.deadline)
        elif task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)
        elif guarded is not None:
            self._guarded = None
            guarded.cancel()


class HeartbeatClock:
    """Wakes parked tasks at their deadlines, coalesced to ``resolution`` seconds.

    Connections on it send their heartbeats and notice a dead peer at most
    ``resolution`` seconds late (never early).

    Alarms wait in buckets, one per multiple of ``resolution`` (a deadline goes
    to the first bucket at or after it): filing one is a list append, and the
    clock's heap holds one integer per bucket, not an entry per alarm. At
    10,000 connections an entry per heartbeat that lives until it is due
    would be garbage the collector's full passes have to walk.
    """

    def __init__(self, resolution: float) -> None:
        if not positive.test(resolution):
            raise UsageError(f"resolution must be {positive.allowed} (seconds), got {resolution!r}")
        self.resolution = resolution
        self._buckets: dict[int, list[ClockAlarm]] = {}
        self._keys: list[int] = []  # a heap of the buckets' numbers
        self._timer = trio.CancelScope()
        self.wakeups = 0

    def alarm(self) -> ClockAlarm:
        """A new alarm on this clock, for one task at a time."""
        return ClockAlarm(self)

    def file(self, alarm: ClockAlarm, deadline: float) -> None:
        """Put ``alarm`` in the bucket of ``deadline`` (its earlier entries go stale)."""
        if not math.isfinite(deadline):
            return
        resolution = self.resolution
        key = math.ceil(deadline / resolution)
        if key * resolution < deadline:  # rounding: never early
            key += 1
        due = key * resolution
        if alarm.filed == due:
            return  # already in that bucket
        alarm.filed = due
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [alarm]
            heapq.heappush(self._keys, key)
            if due < self._timer.deadline:
                self._timer.deadline = due
        else:
            bucket.append(alarm)

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (a ``trio.current_time()`` value), or a little later."""
        alarm = ClockAlarm(self)
        alarm.deadline = deadline
        await alarm.sleep()

    async def run(self) -> None:
        """The clock's task: fire the due buckets' alarms, then sleep until the next bucket."""
        keys, buckets, resolution = self._keys, self._buckets, self.resolution
        while True:
            self._timer = trio.CancelScope(deadline=keys[0] * resolution if keys else math.inf)
            with self._timer:
                await trio.lowlevel.wait_task_rescheduled(_abort_sleep)
            now = trio.current_time()
            self.wakeups += 1
            while keys and keys[0] * resolution <= now:
                key = heapq.heappop(keys)
                due = key * resolution
                for alarm in buckets.pop(key):
                    if alarm.filed == due:  # else stale: filed elsewhere since
                        alarm.fire(now)


@asynccontextmanager
async def open_heartbeat_clock(resolution: float = 0.01) -> AsyncIterator[HeartbeatClock]:
    """Run a :class:`HeartbeatClock` for the duration of the block.

    Connections given ``heartbeat_clock=clock`` must be closed before the
    block ends (open them inside it).
    """
    clock = HeartbeatClock(resolution)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(clock.run)
        try:
            yield clock
        finally:
            nursery.cancel_scope.cancel()
