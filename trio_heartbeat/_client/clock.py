"""A shared heartbeat clock: one timer for the heartbeats of many connections.

In trio every timer that fires is a cancellation delivered to a sleeping task,
which costs more than the heartbeat it schedules once thousands of connections
each keep their own. A :class:`HeartbeatClock` keeps one timer: heartbeat
tasks park on it with :meth:`HeartbeatClock.sleep_until`, and its task wakes
every task that is due at once, at most every ``resolution`` seconds (a
heartbeat is sent at most ``resolution`` late; it is never early).

Use it for many connections in one process::

    async with open_heartbeat_clock() as clock:
        async with open_managed_websocket(url, heartbeat_clock=clock) as ws: ...
"""

from __future__ import annotations

import heapq
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import count

import trio

from trio_heartbeat._core.validate import positive
from trio_heartbeat.errors import UsageError

__all__ = ["HeartbeatClock", "open_heartbeat_clock"]


class HeartbeatClock:
    """Wakes parked tasks at their deadlines, coalesced to ``resolution`` seconds."""

    def __init__(self, resolution: float) -> None:
        if not positive.test(resolution):
            raise UsageError(f"resolution must be {positive.allowed} (seconds), got {resolution!r}")
        self.resolution = resolution
        self._heap: list[tuple[float, int, trio.lowlevel.Task]] = []
        self._seq = count()
        self._cancelled: set[int] = set()
        self._timer = trio.CancelScope()
        self._floor = -math.inf  # no wake-up before this (coalescing)
        self.wakeups = 0

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (a ``trio.current_time()`` value), or a little later."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if deadline <= trio.current_time():
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        task = trio.lowlevel.current_task()
        seq = next(self._seq)
        heapq.heappush(self._heap, (deadline, seq, task))
        if deadline < self._timer.deadline:
            self._timer.deadline = max(deadline, self._floor)

        def abort(_: object) -> trio.lowlevel.Abort:
            self._cancelled.add(seq)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def run(self) -> None:
        """The clock's task: fire due sleepers, then sleep until the next one."""
        heap, cancelled = self._heap, self._cancelled
        while True:
            first = heap[0][0] if heap else math.inf
            self._timer = trio.CancelScope(deadline=max(first, self._floor))
            with self._timer:
                await trio.sleep_forever()
            now = trio.current_time()
            self.wakeups += 1
            while heap and heap[0][0] <= now:
                _, seq, task = heapq.heappop(heap)
                if seq in cancelled:
                    cancelled.discard(seq)
                else:
                    trio.lowlevel.reschedule(task)
            # Coalesce: the next wake-up is at least one resolution away.
            self._floor = now + self.resolution


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
