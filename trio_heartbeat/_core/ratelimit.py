"""A token bucket, pure: how long to wait before the next message may go out."""

from __future__ import annotations

from trio_heartbeat._core import validate as v

__all__ = ["LogThrottle", "TokenBucket"]

# Float slack: a bucket 1e-12 short of a token counts as full, so that a caller
# never spins on sleeps too short to move the clock.
_EPSILON = 1e-9


class TokenBucket:
    """At most ``rate`` messages per second on average, ``burst`` at once.

    Call :meth:`wait_time` with the current time; when it returns 0.0 call
    :meth:`take`. Never drops: callers wait the returned number of seconds.
    """

    def __init__(self, rate: float, burst: int, *, now: float) -> None:
        v.argument("TokenBucket(rate=...)", v.positive_finite, rate)
        v.argument("TokenBucket(burst=...)", v.positive_int, burst)
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one message may go out (0.0: now)."""
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def take(self, now: float) -> None:
        """Spend one message's token at ``now``."""
        self._refill(now)
        self._tokens = max(self._tokens - 1.0, 0.0)


class LogThrottle:
    """At most one report per ``interval`` seconds of a repeating event (a log line).

    :meth:`report` with the current time answers None (stay quiet) or how many
    events were held back since the last report. The first event is always
    reported.
    """

    __slots__ = ("_held_back", "_interval", "_last")

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: float | None = None
        self._held_back = 0

    def report(self, now: float) -> int | None:
        """An event at ``now``: None to stay quiet, else the count held back before it."""
        if self._last is not None and now - self._last < self._interval:
            self._held_back += 1
            return None
        held_back, self._held_back, self._last = self._held_back, 0, now
        return held_back
