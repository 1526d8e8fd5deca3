"""ReconnectPolicy.stall_spread: waits that a stall ended together are spread out again."""

from __future__ import annotations

import math
import random
import statistics

import pytest

import trio_heartbeat as th
from trio_heartbeat._core.reconnect import STALL_TOLERANCE, Backoff, ReconnectAfter

JITTERED = th.ReconnectPolicy(wait_initial=0.2, wait_max=2.0, full_jitter=True)


def test_the_extension_is_bounded_by_the_spread_and_the_waits_own_range() -> None:
    rng = random.Random(1)
    draws = [JITTERED.stall_extension(0.05, 5, rng) for _ in range(2000)]
    assert min(draws) > 0.0 and max(draws) <= 6 * 0.05
    assert statistics.mean(draws) == pytest.approx(0.15, rel=0.1)  # uniform on [0, 0.3]
    # A long stall: at most the range the wait was drawn from (retry 1: 0.2 s).
    assert max(JITTERED.stall_extension(60.0, 1, rng) for _ in range(200)) <= 0.2


@pytest.mark.parametrize(
    ("policy", "lateness"),
    [
        (JITTERED, STALL_TOLERANCE),  # trio's own scheduling, not a stall
        (th.ReconnectPolicy.fixed(3.0), 1.0),  # no jitter: the schedule stays exact
        (th.ReconnectPolicy(stall_spread=0.0), 1.0),  # turned off
    ],
)
def test_no_extension(policy: th.ReconnectPolicy, lateness: float) -> None:
    assert policy.stall_extension(lateness, 3, random.Random(2)) == 0.0


def test_a_backoff_extends_only_after_a_failure() -> None:
    backoff = Backoff(JITTERED, random.Random(3))
    assert backoff.waited_late(1.0) == 0.0
    backoff.attempt_started(0.0)
    assert isinstance(backoff.failed(0.0, th.ConnectError("refused")), ReconnectAfter)
    assert 0.0 < backoff.waited_late(0.01) <= 0.06


def _storm_peak(policy: th.ReconnectPolicy, stall_at: float, stall: float, seed: int) -> int:
    """Peak handshakes per 100 ms of 1,000 ideal clients back after a 1 s outage, the
    process stalled ``stall`` seconds from ``stall_at`` (waits due then end after it)."""
    bins: dict[int, int] = {}
    refused, lost = th.ConnectError("refused"), th.ConnectionLost(1006)
    for i in range(1000):
        backoff = Backoff(policy, random.Random(seed * 7919 + i))
        backoff.attempt_started(-10.0)
        backoff.connected(-10.0)
        t = -1.0
        decision = backoff.failed(t, lost)
        for _ in range(100):
            assert isinstance(decision, ReconnectAfter)
            t += decision.delay
            if stall_at <= t < stall_at + stall:
                woke = stall_at + stall
                t = woke + backoff.waited_late(woke - t)
            backoff.attempt_started(t)
            if t >= 0.0:
                index = math.floor(t / 0.1)
                bins[index] = bins.get(index, 0) + 1
                break
            decision = backoff.failed(t, refused)
    return max(bins.values())


def test_a_stall_during_a_storm_raises_the_peak_by_about_a_sixth_not_by_two_thirds() -> None:
    no_spread = th.ReconnectPolicy(wait_initial=0.2, wait_max=2.0, stall_spread=0.0)
    ideal = statistics.median(_storm_peak(JITTERED, 0.0, 0.0, seed) for seed in range(3))
    worst_spread, worst_bunched = 0.0, 0.0
    for stall_at in (0.0, 0.1, 0.2):
        spread = statistics.median(_storm_peak(JITTERED, stall_at, 0.1, s) for s in range(3))
        bunched = statistics.median(_storm_peak(no_spread, stall_at, 0.1, s) for s in range(3))
        worst_spread = max(worst_spread, spread / ideal)
        worst_bunched = max(worst_bunched, bunched / ideal)
    assert worst_bunched > 1.5
    assert worst_spread <= 1.25
