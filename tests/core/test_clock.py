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


async def test_an_alarm_moved_later_does_not_wake_its_task_early(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    woke: list[float] = []
    async with th.open_heartbeat_clock() as clock:
        alarm = clock.alarm()

        async def sleeper() -> None:
            alarm.deadline = 1.0
            await alarm.sleep()
            woke.append(trio.current_time())

        nursery.start_soon(sleeper)
        await trio.sleep(0.5)
        alarm.move(3.0)  # later: the entry at 1.0 is re-filed, the task sleeps on
        await trio.sleep(2.0)
        assert woke == []
        alarm.move(2.75)  # earlier than the entry at 3.0: a new entry
        await trio.sleep(1.0)
        assert woke == [2.75]
        assert clock.wakeups == 3  # 1.0 (re-filed), 2.75, and the stale 3.0 (wakes no task)


async def test_an_alarm_cancels_the_scope_it_guards_when_its_deadline_passes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with th.open_heartbeat_clock() as clock:
        alarm = clock.alarm()
        with trio.CancelScope() as guarded:
            alarm.guard(1.0, guarded)
            alarm.move(2.0)  # moved later while guarding
            await trio.sleep(5.0)
        assert guarded.cancelled_caught and trio.current_time() == 2.0
        with trio.CancelScope() as done:
            alarm.guard(3.0, done)
            await trio.sleep(0.5)
            alarm.unguard()  # the work finished in time
            await trio.sleep(1.0)
        assert not done.cancelled_caught and trio.current_time() == 3.5


async def test_an_alarm_alone_moves_its_sleep_and_guards_with_cancel_scopes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    from trio_heartbeat._client.clock import ScopeAlarm

    alarm = ScopeAlarm()
    alarm.deadline = 1.0

    async def mover() -> None:
        await trio.sleep(0.5)
        alarm.move(1.5)

    nursery.start_soon(mover)
    await alarm.sleep()
    assert trio.current_time() == 1.5
    with trio.CancelScope() as guarded:
        alarm.guard(2.0, guarded)
        alarm.move(2.5)
        await trio.sleep(5.0)
    assert guarded.cancelled_caught and trio.current_time() == 2.5


async def test_awkward_deadlines_are_never_early_nor_more_than_a_resolution_late(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Deadlines that are no exact multiple of the resolution in binary (0.07, 0.1...)."""
    import random

    rng = random.Random(3)
    dues = sorted({round(rng.uniform(0.0, 3.0), 2) for _ in range(100)} | {0.3, 0.7, 2.1})
    woke: dict[float, float] = {}
    async with th.open_heartbeat_clock(resolution=0.07) as clock, trio.open_nursery() as nursery:

        async def sleeper(due: float) -> None:
            await clock.sleep_until(due)
            woke[due] = trio.current_time()

        for due in dues:
            nursery.start_soon(sleeper, due)
    assert sorted(woke) == dues
    assert all(due <= woke[due] <= due + 0.07 + 1e-9 for due in dues)
    assert clock.wakeups <= 3.0 / 0.07 + 2  # one per bucket at most
