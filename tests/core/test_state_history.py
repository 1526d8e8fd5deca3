"""The unread state-change history is bounded, and what it leaves out is reported."""

from __future__ import annotations

import trio
import trio.testing

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from tests.core.test_reconnect import drain_events

EVERY_SECOND = th.ReconnectPolicy(wait_initial=1.0, wait_max=1.0, full_jitter=False)
ONE_ATTEMPT = [th.Connecting, th.Disconnected, th.WaitingToReconnect]


async def test_a_never_read_history_stays_bounded_and_reports_the_gap(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    options = th.ConnectionOptions(max_unread_state_changes=10)
    async with th.open_managed_websocket(
        "ws://x/", reconnect=EVERY_SECOND, options=options, dial=echo_server.dial
    ) as ws:
        await trio.sleep(100.5)  # 101 refused attempts, 3 changes each
        attempts = len(echo_server.dial_times)
        assert attempts == 101
        assert ws._history.unread() == 10
        first = drain_events(ws)
        assert [type(e) for e in first[:3]] == ONE_ATTEMPT
        assert len(first) == 10 and not any(isinstance(e, th.StateChangesDropped) for e in first)
        await trio.sleep(1.0)  # one more attempt, now that there is room
        then = drain_events(ws)
    assert then[0] == th.StateChangesDropped(3 * attempts - 10)
    assert [type(e) for e in then[1:]] == ONE_ATTEMPT
    assert then[1].attempt == attempts + 1  # type: ignore[union-attr]
    assert isinstance(drain_events(ws)[-1], th.Closed)


async def test_the_end_is_kept_past_the_limit(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    options = th.ConnectionOptions(max_unread_state_changes=4)
    policy = th.ReconnectPolicy(max_attempts=5, wait_initial=1.0, full_jitter=False)
    async with th.open_managed_websocket(
        "ws://x/", reconnect=policy, options=options, dial=echo_server.dial
    ) as ws:
        await trio.sleep(100.0)
    events = drain_events(ws)
    assert len(events) == 4 + 3  # four kept, then the gap, GaveUp and Closed
    assert isinstance(events[4], th.StateChangesDropped)
    assert isinstance(events[5], th.GaveUp) and isinstance(events[6], th.Closed)
    kept_attempt_changes = 4 + events[4].count
    assert kept_attempt_changes == 5 * 3 - 1  # the last attempt: no WaitingToReconnect


async def test_closing_the_channel_stops_the_recording_not_the_connection(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket(
        "ws://x/", reconnect=EVERY_SECOND, dial=echo_server.dial
    ) as ws:
        await ws.wait_connected()
        ws.state_changes.close()
        ws.reconnect_now()  # a Disconnected and more, with nowhere to go
        await trio.sleep(5.0)
        await ws.wait_connected()
        await ws.send("still here")
        assert await ws.receive() == "still here"
        assert ws.statistics().reconnects >= 1


def test_the_limit_leaves_room_for_a_change_and_the_report_of_a_gap() -> None:
    import pytest

    with pytest.raises(th.UsageError, match="max_unread_state_changes"):
        th.ConnectionOptions(max_unread_state_changes=1)
    assert th.ConnectionOptions(max_unread_state_changes=2).max_unread_state_changes == 2
