"""Suspend/wake awareness and "reconnect at once", shared by a connection and its links.

The sources of suspended time (see :mod:`trio_heartbeat._core.suspend`):

- :func:`boottime_source` (Linux): ``CLOCK_BOOTTIME - CLOCK_MONOTONIC``. Both
  clocks ignore wall-clock steps; only BOOTTIME counts time suspended, so the
  difference grows by exactly the time slept.
- :func:`wall_clock_source` (elsewhere): wall-clock progress minus monotonic
  progress. A heuristic: where the monotonic clock stops during sleep it sees
  a suspend, but a wall-clock step forward looks the same. It only ever causes
  a probe, which a healthy link answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import trio

from trio_heartbeat._core.suspend import SuspendCheck, SuspendDetector
from trio_heartbeat.errors import UsageError

__all__ = [
    "WakeControl",
    "boottime_source",
    "default_suspend_source",
    "wall_clock_source",
    "watch_for_wake",
]

logger = logging.getLogger("trio_heartbeat")

Source = Callable[[], float]


def boottime_source() -> Source:
    """Seconds suspended since boot, from ``CLOCK_BOOTTIME - CLOCK_MONOTONIC`` (Linux only)."""
    boottime, monotonic = time.CLOCK_BOOTTIME, time.CLOCK_MONOTONIC

    def read() -> float:
        return time.clock_gettime(boottime) - time.clock_gettime(monotonic)

    return read


def wall_clock_source(
    wall: Callable[[], float] | None = None, monotonic: Callable[[], float] | None = None
) -> Source:
    """Wall-clock minus monotonic progress (a heuristic: a clock step looks like a suspend).

    ``wall`` and ``monotonic`` default to ``time.time`` and ``time.monotonic``.
    """
    read_wall = wall if wall is not None else time.time
    read_monotonic = monotonic if monotonic is not None else time.monotonic

    def read() -> float:
        return read_wall() - read_monotonic()

    return read


def default_suspend_source() -> Source:
    """The platform's source: :func:`boottime_source` where it exists, else the heuristic."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return boottime_source()
    return wall_clock_source()


class WakeControl:
    """What a managed connection and its links share about waking up and reconnecting.

    ``skip_wait`` makes the next reconnect immediate (``reconnect_now()``, an
    unanswered probe); ``wait_scope`` is the current backoff sleep, cancelled
    by ``reconnect_now()``.
    """

    __slots__ = ("check", "skip_wait", "source", "wait_scope")

    def __init__(self, check: SuspendCheck | None) -> None:
        """Raises :class:`UsageError` if ``check`` is neither None nor a :class:`SuspendCheck`."""
        if check is not None and not isinstance(check, SuspendCheck):
            raise UsageError(f"suspend must be a SuspendCheck, got {type(check).__name__}")
        self.check = check
        self.source: Source | None = None
        if check is not None:
            self.source = check.source if check.source is not None else default_suspend_source()
        self.skip_wait = False
        self.wait_scope: trio.CancelScope | None = None

    def reconnect_delay(self, delay: float) -> float:
        """The backoff ``delay`` to sleep now: 0.0 once after an "at once" request."""
        if self.skip_wait:
            self.skip_wait = False
            return 0.0
        return delay

    async def wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds before reconnecting, cut short by ``reconnect_now()``
        and, with a suspend check, by a wake-up (the backoff's time passed in the
        real world while trio's clock stood still).

        Returns False when it was cut short (a request to reconnect at once is
        then used up), True when it slept its course.
        """
        with trio.CancelScope() as scope:
            self.wait_scope = scope
            if self.check is None or delay <= self.check.check_interval:
                await trio.sleep(delay)
            else:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch_for_wake, self, trio.sleep_until, self._woke_waiting)
                    await trio.sleep(delay)
                    nursery.cancel_scope.cancel()
        self.wait_scope = None
        if scope.cancel_called:  # even if its own deadline had passed as well
            self.skip_wait = False  # it was for this wait, which it has ended
            return False
        return True

    def _woke_waiting(self, slept: float) -> None:
        if self.wait_scope is not None:
            self.wait_scope.cancel()

    def reconnect_at_once(self) -> None:
        """The next reconnect (or the one being waited for) happens without delay."""
        self.skip_wait = True
        if self.wait_scope is not None:
            self.wait_scope.cancel()


async def watch_for_wake(
    control: WakeControl,
    sleep_until: Callable[[float], Awaitable[None]],
    on_wake: Callable[[float], None],
) -> None:
    """Read the source every ``check_interval`` s; call ``on_wake(seconds_slept)`` on a wake-up.

    A source that raises is logged once and no longer read (the link is not
    harmed by a broken clock).
    """
    check, source = control.check, control.source
    assert check is not None and source is not None
    try:
        detector = SuspendDetector(check.threshold, source())
        while True:
            await sleep_until(trio.current_time() + check.check_interval)
            slept = detector.observe(source())
            if slept is not None:
                logger.info("woke after about %.3g s suspended: probing the link", slept)
                on_wake(slept)
    except Exception:
        logger.exception("the suspend source failed: suspend detection is off for this link")
