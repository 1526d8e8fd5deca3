"""Noticing that the machine slept (pure: readings are arguments).

trio's clock (``CLOCK_MONOTONIC`` on Linux) stops while the machine is
suspended, so after a laptop sleeps for an hour every deadline believes no time
passed, while the NAT or the server dropped the connection long ago. A *source*
of suspended time (a function returning the seconds spent suspended since an
arbitrary origin; only its growth matters) is read every ``check_interval``
seconds; a growth of at least ``threshold`` between two readings is a wake-up.
On a wake-up the link is probed at once (an RFC 6455 ping answered within
``probe_timeout`` seconds, or the link is dropped and reconnected at once),
instead of waiting out the full heartbeat timeout.

The sources live in the runtime (``trio_heartbeat._client.suspend``): on Linux
``CLOCK_BOOTTIME - CLOCK_MONOTONIC`` (exact: only a suspend moves it); elsewhere
wall-clock minus monotonic progress, a heuristic that a wall-clock step (NTP,
the user) also moves. That is safe: a wake-up only triggers a probe, which a
healthy link answers, so a clock step never kills a healthy link.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from trio_heartbeat._core import validate as v

__all__ = ["SuspendCheck", "SuspendDetector"]


@attrs.frozen(kw_only=True)
class SuspendCheck:
    """Suspend/wake awareness of a managed connection (seconds as floats).

    - ``check_interval``: how often the source is read while a link is up (one
      cheap wake-up per interval per connection, coalesced by a shared
      ``HeartbeatClock``; never per message).
    - ``threshold``: growth of suspended time between two readings that counts
      as a wake-up (smaller growths are clock noise).
    - ``probe_timeout``: how long the wake-up probe may go unanswered before
      the link is dropped and reconnected at once. Its pong is the only answer:
      give it room for your largest message on your slowest link.
    - ``source``: returns the seconds spent suspended since any fixed origin;
      None for the platform's (see the module docstring). Tests inject one.

    Raises :class:`~trio_heartbeat.errors.UsageError` for a bad field.
    """

    check_interval: float = attrs.field(default=1.0, validator=v.positive)
    threshold: float = attrs.field(default=2.0, validator=v.positive)
    probe_timeout: float = attrs.field(default=2.0, validator=v.positive)
    source: Callable[[], float] | None = attrs.field(
        default=None, validator=v.optional(v.callable_value)
    )


class SuspendDetector:
    """Turns successive readings of a suspended-time source into wake-ups."""

    __slots__ = ("_last", "threshold", "wakeups")

    def __init__(self, threshold: float, first_reading: float) -> None:
        self.threshold = threshold
        self._last = first_reading
        self.wakeups = 0

    def observe(self, reading: float) -> float | None:
        """A new reading: the seconds slept since the last one if that is a wake-up, else None.

        Growth is measured between consecutive readings, so slow drift of the
        source never adds up to a false wake-up; a reading going backwards (a
        wall clock stepped back) is simply the new baseline.
        """
        slept = reading - self._last
        self._last = reading
        if slept >= self.threshold:
            self.wakeups += 1
            return slept
        return None
