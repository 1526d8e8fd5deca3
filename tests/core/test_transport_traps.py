"""Each known trio-websocket trap, neutralised by our transport module (one test each).

(The unanswered-upgrade trap is in test_reconnect.py, the unread-queue trap in
test_buffers.py.)
"""

from __future__ import annotations

import contextlib

import trio
import trio.testing

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from trio_heartbeat.testing import Direction, Faults, open_memory_network


async def _echo_stream(stream: trio.abc.Stream) -> None:
    import trio_websocket

    from tests.core.memserver import echo

    async with trio.open_nursery() as nursery:
        request = await trio_websocket.wrap_server_stream(nursery, stream)
        ws = await request.accept()
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            await echo(ws)
        nursery.cancel_scope.cancel()


async def test_pings_continue_after_lost_pongs(autojump_clock: trio.testing.MockClock) -> None:
    """A ping whose pong never came must not block the next one (unique payloads)."""
    faults = Faults()
    async with (
        open_memory_network(_echo_stream, faults=faults) as network,
        th.open_managed_websocket(
            "ws://x/",
            heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=30.0),
            dial=network.dial,
        ) as ws,
    ):
        await ws.wait_connected()
        faults.drop_heartbeats(Direction.TO_CLIENT)  # pongs vanish
        await trio.sleep(5.5)
        faults.heal()
        await trio.sleep(2.0)
        stats = ws.statistics()
        assert ws.state == "connected"
    assert stats.heartbeats_sent == 7  # one per second, none blocked by an unanswered one
    assert stats.heartbeats_answered == 7  # a later pong acknowledges the earlier pings too


async def test_pong_waiters_die_with_their_link(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, transport: th.Transport
) -> None:
    """trio-websocket does not wake a ping waiter when the link drops: ours end with the link."""
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(100.0),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        await trio.testing.wait_all_tasks_blocked()
        baseline = trio.lowlevel.current_statistics().tasks_living
        echo_server.last.freeze()  # pings now wait forever for their pongs
        async for event in ws.state_changes:
            if isinstance(event, th.WaitingToReconnect):
                break
        await trio.testing.wait_all_tasks_blocked()
        # the link's pump is gone (its keeper runs in the supervisor's task)
        # and, over trio-websocket, its reader and the task hosting it
        own = 3 if transport is th.Transport.TRIO_WEBSOCKET else 1
        assert trio.lowlevel.current_statistics().tasks_living <= baseline - own


async def test_dead_peer_is_aborted_not_awaited_for_60_s(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(0.5),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        echo_server.last.freeze()
        async for event in ws.state_changes:
            if isinstance(event, th.WaitingToReconnect):
                break
        assert trio.current_time() == 2.0  # detection and teardown at the bound, not 62 s
