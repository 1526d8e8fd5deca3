"""The shared heartbeat clock: one timer for many connections, in virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.core.memserver import MemoryServer


async def test_many_connections_share_one_clock(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_heartbeat_clock(resolution=0.05) as clock, trio.open_nursery() as nursery:
        conns: list[th.ManagedWebSocket] = []

        async def one(delay: float) -> None:
            await trio.sleep(delay)
            async with th.open_managed_websocket(
                "ws://x/",
                heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
                dial=echo_server.dial,
                heartbeat_clock=clock,
            ) as ws:
                conns.append(ws)
                await trio.sleep_forever()

        for i in range(20):
            nursery.start_soon(one, i * 0.01)  # connected within 0.2 s of each other
        await trio.sleep(10.5)
        stats = [c.statistics() for c in conns]
        # every connection got its 10 heartbeats, all answered ...
        assert all(s.heartbeats_sent == 10 and s.heartbeats_answered == 10 for s in stats)
        # ... from far fewer timer firings than heartbeats (0.05 s coalescing)
        assert 10 <= clock.wakeups <= 10 * (0.2 / 0.05 + 1) + 2
        nursery.cancel_scope.cancel()


async def test_heartbeats_are_never_early_and_at_most_one_resolution_late(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    pings: list[float] = []

    async def clock_user() -> None:
        async with th.open_heartbeat_clock(resolution=0.25) as clock:
            for due in (1.0, 1.1, 2.0, 2.6):
                await clock.sleep_until(due)
                pings.append(trio.current_time())

    await clock_user()
    assert pings[0] == 1.0  # the first due time fires exactly
    for got, due in zip(pings, (1.0, 1.1, 2.0, 2.6), strict=True):
        assert due <= got <= due + 0.25


async def test_cancelled_sleepers_leave_the_clock(autojump_clock: trio.testing.MockClock) -> None:
    async with th.open_heartbeat_clock() as clock:
        with trio.move_on_after(0.5):
            await clock.sleep_until(5.0)
        assert trio.current_time() == 0.5
        await clock.sleep_until(1.0)
        assert 1.0 <= trio.current_time() <= 1.01


def test_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError):
        th.HeartbeatClock(0.0)


async def test_heartbeat_clock_argument_is_checked(echo_server: MemoryServer) -> None:
    with pytest.raises(th.UsageError):
        async with th.open_managed_websocket(
            "ws://x/",
            dial=echo_server.dial,
            heartbeat_clock="shared",  # type: ignore[arg-type]
        ):
            pass
