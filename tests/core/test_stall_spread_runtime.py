"""The supervisor spreads waits a stall ended late (virtual time: the clock jumps past them)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.core.memserver import MemoryServer


async def _next(changes: trio.MemoryReceiveChannel[th.StateChange], kind: type) -> Any:
    while not isinstance(change := await changes.receive(), kind):
        pass
    return change


async def _lateness_then_next_attempt(
    server: MemoryServer,
    clock: trio.testing.MockClock,
    policy: th.ReconnectPolicy,
    during_stall: Callable[[th.ManagedWebSocket], object] = lambda ws: None,
    after: Callable[[th.WaitingToReconnect], object] = lambda change: None,
) -> tuple[float, float]:
    """Stall the process 0.3 s past the first backoff wait (``during_stall(ws)`` runs
    before anything else does); return (the wait, how much later than wait + stall the
    next attempt came). ``after`` gets the next ``WaitingToReconnect``."""
    server.refuse = True
    async with th.open_managed_websocket(
        "ws://x/", reconnect=policy, dial=server.dial, rng=random.Random(5)
    ) as ws:
        changes = ws.state_changes
        change = await _next(changes, th.WaitingToReconnect)
        waiting_since = trio.current_time()
        clock.jump(change.delay + 0.3)  # a stall: the wait's deadline passes unseen
        during_stall(ws)
        await _next(changes, th.Connecting)
        after(await _next(changes, th.WaitingToReconnect))
        return change.delay, server.dial_times[1] - (waiting_since + change.delay + 0.3)


async def test_a_wait_ended_late_by_a_stall_waits_a_random_share_more(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    policy = th.ReconnectPolicy(wait_initial=1.0, wait_max=10.0)
    _, extra = await _lateness_then_next_attempt(echo_server, autojump_clock, policy)
    # Up to 6 x 0.3 s, at most the wait's own range (retry 1: 1 s).
    assert 0.0 < extra <= min(6 * 0.3, 1.0)


@pytest.mark.parametrize(
    "policy",
    [
        th.ReconnectPolicy(wait_initial=1.0, wait_max=10.0, stall_spread=0.0),
        th.ReconnectPolicy(wait_initial=1.0, wait_max=10.0, full_jitter=False),
    ],
    ids=["off", "no-jitter"],
)
async def test_without_spread_or_jitter_the_attempt_follows_the_stall_at_once(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, policy: th.ReconnectPolicy
) -> None:
    _, extra = await _lateness_then_next_attempt(echo_server, autojump_clock, policy)
    assert extra == pytest.approx(0.0, abs=1e-9)


async def test_reconnect_now_during_a_stalled_wait_is_not_extended(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    policy = th.ReconnectPolicy(wait_initial=1.0, wait_max=10.0)
    later: list[th.WaitingToReconnect] = []
    _, extra = await _lateness_then_next_attempt(
        echo_server, autojump_clock, policy, lambda ws: ws.reconnect_now(), later.append
    )
    assert extra == pytest.approx(0.0, abs=1e-9)  # asked for at once: no spreading
    assert later[0].delay > 0  # the request was used up by that wait
