"""Client-side evidence for the reconnect storm: what each client's backoff actually did.

:class:`BackoffTrace` wraps the library's :class:`~trio_heartbeat._core.reconnect.Backoff`
methods (in the bench process only, for the duration of a ``with trace.installed():``) and
records, per connection, every ``attempt_started(now)``, ``failed(now) -> delay`` and
``connected(now)`` with the ``now`` the supervisor itself passed: the exact trio times of
the schedule, not when some observer task got round to looking.

:func:`summarise` turns one storm's records into the numbers that tell the causes apart:

- ``first_delay_*``: the delay the policy chose right after the loss (full jitter: uniform
  in [0, wait_initial]; an un-jittered immediate retry would show as 0 for everyone);
- ``late_*_ms``: how much later than the policy asked each attempt really started (the
  process being too busy to run its timers on time);
- ``failed_attempt_*_ms``: how long a failed attempt took (a slow failure would
  re-synchronise the clients, a refused connect takes microseconds);
- ``scheduled_peak`` / ``started_peak`` / ``connected_peak``: peak per 100 ms bin, after
  the server is back, of when the successful attempts were *scheduled* by the policy, when
  they *started*, and when the client saw the handshake complete;
- ``cpu_pct``: the bench process's CPU over the storm, % of one core;
- ``loss_after_kill_p50_ms``: how long after the kill the clients saw their links drop
  (the outage they live through is shorter than kill-to-ready by this much);
- ``gc_passes`` / ``gc_max_pause_ms`` / ``gc_pause_total_ms``: passes of the cyclic garbage
  collector during the storm and how long they stopped the process.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Iterator
from typing import Any

from bench._common import percentile

BIN = 0.1


class BackoffTrace:
    """Records ``(connection id, kind, now, delay)`` for every Backoff call while installed."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, float, float]] = []
        #: ``(time.monotonic() at the start, seconds, generation, objects collected)`` of
        #: every pass of the cyclic garbage collector.
        self.gc_pauses: list[tuple[float, float, int, int]] = []
        #: ``time.monotonic()`` minus the trace's clock (trio's), as last seen.
        self.offset = math.nan

    @contextlib.contextmanager
    def installed(self) -> Iterator[BackoffTrace]:
        """Wrap ``Backoff.attempt_started``, ``failed`` and ``connected``; restore on exit."""
        from trio_heartbeat._core.reconnect import Backoff, ReconnectAfter

        originals = (Backoff.attempt_started, Backoff.failed, Backoff.connected)
        started, failed, connected = originals
        events = self.events

        trace = self

        def attempt_started(self: Backoff, now: float) -> None:
            trace.offset = time.monotonic() - now
            events.append((id(self), "attempt", now, math.nan))
            started(self, now)

        def on_failed(self: Backoff, now: float, error: BaseException) -> Any:
            decision = failed(self, now, error)
            delay = decision.delay if isinstance(decision, ReconnectAfter) else math.nan
            events.append((id(self), "failed", now, delay))
            return decision

        def on_connected(self: Backoff, now: float) -> None:
            events.append((id(self), "connected", now, math.nan))
            connected(self, now)

        gc_started = [0.0]
        pauses = self.gc_pauses

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.monotonic()
            else:
                took = time.monotonic() - gc_started[0]
                pauses.append((gc_started[0], took, info["generation"], info["collected"]))

        gc.callbacks.append(on_gc)
        Backoff.attempt_started = attempt_started  # type: ignore[method-assign]
        Backoff.failed = on_failed  # type: ignore[method-assign]
        Backoff.connected = on_connected  # type: ignore[method-assign]
        try:
            yield self
        finally:
            gc.callbacks.remove(on_gc)
            Backoff.attempt_started, Backoff.failed, Backoff.connected = originals  # type: ignore[method-assign]

    def losses(self, since: float) -> list[float]:
        """Each connection's first ``failed`` at or after ``since``: when it saw its link drop."""
        first: dict[int, float] = {}
        for client, kind, now, _ in self.events:
            if kind == "failed" and now >= since and client not in first:
                first[client] = now
        return list(first.values())

    def clear(self) -> None:
        """Forget what was recorded (between storms)."""
        self.events.clear()
        self.gc_pauses.clear()


def _peak(times: list[float], origin: float) -> float:
    bins: dict[int, int] = {}
    for t in times:
        index = max(0, math.floor((t - origin) / BIN))
        bins[index] = bins.get(index, 0) + 1
    return float(max(bins.values(), default=0))


def summarise(
    trace: BackoffTrace, kill_at: float, ready_at: float, cpu_s: float
) -> dict[str, float]:
    """The storm's client-side figures (see the module docstring); times in the trace's clock.

    ``kill_at`` / ``ready_at``: when the server was killed / was back, in that clock;
    ``cpu_s``: the process's CPU seconds from the kill to the end of the storm.
    """
    by_client: dict[int, list[tuple[str, float, float]]] = {}
    losses = trace.losses(kill_at)
    for client, kind, now, delay in trace.events:
        if now >= kill_at:
            by_client.setdefault(client, []).append((kind, now, delay))
    first_delays: list[float] = []
    late: list[float] = []
    failed_took: list[float] = []
    scheduled: list[float] = []
    started: list[float] = []
    connected: list[float] = []
    attempts = 0
    end = ready_at
    for history in by_client.values():
        asked_at = math.nan  # when the policy wants the next attempt
        attempt_at = math.nan
        seen_loss = False
        for kind, now, delay in history:
            if kind == "failed":
                if not seen_loss:
                    first_delays.append(delay)
                    seen_loss = True
                elif not math.isnan(attempt_at):
                    failed_took.append(now - attempt_at)
                asked_at = now + delay
            elif kind == "attempt":
                attempts += 1
                attempt_at = now
                if not math.isnan(asked_at):
                    late.append(now - asked_at)
            elif kind == "connected" and seen_loss:
                connected.append(now)
                started.append(attempt_at)
                scheduled.append(asked_at)
                end = max(end, now)
                break
    window = max(end - kill_at, 1e-9)
    pauses = [
        took
        for started_at, took, _, _ in trace.gc_pauses
        if kill_at <= started_at - trace.offset <= end
    ]
    return {
        "clients_traced": float(len(by_client)),
        "attempts_per_client": attempts / max(1, len(by_client)),
        "first_delay_mean_s": sum(first_delays) / len(first_delays) if first_delays else math.nan,
        "first_delay_min_s": min(first_delays, default=math.nan),
        "late_p50_ms": percentile(late, 50) * 1e3,
        "late_p99_ms": percentile(late, 99) * 1e3,
        "late_max_ms": max(late, default=math.nan) * 1e3,
        "failed_attempt_p50_ms": percentile(failed_took, 50) * 1e3,
        "failed_attempt_p99_ms": percentile(failed_took, 99) * 1e3,
        "scheduled_peak": _peak(scheduled, ready_at),
        "started_peak": _peak(started, ready_at),
        "connected_peak": _peak(connected, ready_at),
        "cpu_pct": 100.0 * cpu_s / window,
        "loss_after_kill_p50_ms": percentile([t - kill_at for t in losses], 50) * 1e3,
        "gc_passes": float(len(pauses)),
        "gc_max_pause_ms": max(pauses, default=0.0) * 1e3,
        "gc_pause_total_ms": sum(pauses) * 1e3,
    }
