"""probe_now(), reconnect_now() and suspend/wake awareness, in virtual time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer, echo, sink
from tests.core.test_reconnect import drain_events
from trio_heartbeat._client.suspend import wall_clock_source

PING = th.Heartbeat.ping(interval=30.0, reply_timeout=10.0)


def lost(events: list[th.StateChange]) -> list[th.Disconnected]:
    return [e for e in events if isinstance(e, th.Disconnected)]


def waits(events: list[th.StateChange]) -> list[float]:
    return [e.delay for e in events if isinstance(e, th.WaitingToReconnect)]


async def test_probe_now_answered_keeps_the_link_unanswered_reconnects_at_once(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket("ws://x/", heartbeat=PING, dial=echo_server.dial) as ws:
        await ws.wait_connected()
        await trio.sleep(5.0)
        assert ws.probe_now(timeout=2.0)  # answered: nothing happens
        await trio.sleep(5.0)
        assert lost(drain_events(ws)) == []
        echo_server.last.freeze()  # half-open: the pong never comes
        assert ws.probe_now(timeout=2.0)
        assert ws.probe_now(timeout=2.0)  # one in flight: not doubled
        await trio.sleep(2.5)
        assert ws.state == "connected"
        events = drain_events(ws)
        await ws.send("still here")
        with trio.fail_after(1.0):
            assert await ws.receive() == "still here"
    (down,) = lost(events)
    assert isinstance(down.cause, th.PeerUnresponsive) and down.cause.bound == 2.0
    assert "probe" in str(down.cause)
    assert waits(events) == [0.0]
    assert echo_server.dial_times == [0.0, 12.0]  # 10 s + 2 s, not 30 s + 10 s


async def test_probe_now_without_a_link_does_nothing(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    async with th.open_managed_websocket("ws://x/", dial=echo_server.dial) as ws:
        await trio.sleep(0.1)
        assert not ws.probe_now()
        with pytest.raises(th.UsageError):
            ws.probe_now(timeout=0.0)


async def test_reconnect_now_drops_a_live_link_and_keeps_the_buffer(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    policy = th.ReconnectPolicy.fixed(30.0)
    async with th.open_managed_websocket(
        "ws://x/", heartbeat=PING, reconnect=policy, dial=echo_server.dial
    ) as ws:
        await ws.wait_connected()
        await trio.sleep(5.0)
        ws.reconnect_now()
        ws.send_nowait("queued")
        with trio.fail_after(1.0):
            assert await ws.receive() == "queued"
        events = drain_events(ws)
    (down,) = lost(events)
    assert type(down.cause) is th.ConnectionLost and down.code == 1006
    assert down.reason == "reconnect requested by the application"
    assert waits(events) == [0.0]
    assert echo_server.dial_times == [0.0, 5.0]


async def test_reconnect_now_with_a_code_closes_politely_then_reconnects(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    closes: list[tuple[int, str | None]] = []

    async def record_close(ws: trio_websocket.WebSocketConnection) -> None:
        try:
            await echo(ws)
        except trio_websocket.ConnectionClosed as exc:
            assert exc.reason is not None
            closes.append((exc.reason.code, exc.reason.reason))

    srv = MemoryServer(nursery, record_close)
    async with th.open_managed_websocket("ws://x/", heartbeat=PING, dial=srv.dial) as ws:
        await ws.wait_connected()
        await trio.sleep(5.0)
        with pytest.raises(
            th.UsageError, match=r"^reconnect_now\(code=\.\.\.\) must be a close code"
        ):
            ws.reconnect_now(code=1006)  # reserved: never sent
        with pytest.raises(
            th.UsageError, match=r"^probe_now\(timeout=\.\.\.\) must be a number > 0"
        ):
            ws.probe_now(0)
        ws.reconnect_now(code=4001, reason="cycling")
        await ws.send("again")
        with trio.fail_after(1.0):
            assert await ws.receive() == "again"
        events = drain_events(ws)
    assert closes[0] == (4001, "cycling")
    (down,) = lost(events)
    assert down.code == 4001 and waits(events) == [0.0]
    assert srv.dial_times == [0.0, 5.0]


async def test_reconnect_now_cuts_the_backoff_wait_short(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    policy = th.ReconnectPolicy.fixed(30.0)
    async with th.open_managed_websocket("ws://x/", reconnect=policy, dial=echo_server.dial) as ws:
        await trio.sleep(10.0)
        assert ws.state == "waiting"
        echo_server.refuse = False  # the network is back
        ws.send_nowait("queued")
        ws.reconnect_now()
        with trio.fail_after(1.0):
            assert await ws.receive() == "queued"
        assert ws.statistics().connects == 1
    assert echo_server.dial_times == [0.0, 10.0]


async def test_reconnect_now_during_an_attempt_leaves_later_backoff_alone(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.accept_delay = 1.0
    policy = th.ReconnectPolicy.fixed(30.0)
    async with th.open_managed_websocket(
        "ws://x/", heartbeat=PING, reconnect=policy, dial=echo_server.dial
    ) as ws:
        await trio.sleep(0.5)
        ws.reconnect_now()  # connecting already: nothing to do
        await ws.wait_connected()
        await trio.sleep(5.0)
        echo_server.last.freeze()
        await trio.sleep(60.0)
        assert waits(drain_events(ws))[:1] == [30.0]  # the policy's delay, not 0


async def test_reconnect_now_after_close_raises(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket("ws://x/", dial=echo_server.dial) as ws:
        pass
    with pytest.raises(th.ConnectionClosedError):
        ws.reconnect_now()


# -- suspend / wake ------------------------------------------------------------


def open_watched(
    dial: Callable[[], Awaitable[trio.abc.Stream]], source: Callable[[], float], probe: float
) -> AbstractAsyncContextManager[th.ManagedWebSocket]:
    """A connection checking ``source`` every 1 s (wake-up: 2 s more suspended)."""
    check = th.SuspendCheck(check_interval=1.0, threshold=2.0, probe_timeout=probe, source=source)
    return th.open_managed_websocket("ws://x/", heartbeat=PING, dial=dial, suspend=check)


class SuspendSource:
    """The injectable source: seconds suspended, moved by the test."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self) -> float:
        return self.total


async def test_wake_after_a_suspend_drains_probes_and_reconnects(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The machine sleeps an hour at t=4.5 (trio's clock stands still); a message sat in
    the socket and the server is gone. The next check (t=5.0) sees the suspend; the
    message is delivered, but it does not keep the link: the probe is unanswered and
    the link is dropped at 5.0 + 1.5 -- not at the 30 s + 10 s the heartbeat allows."""
    source = SuspendSource()
    woke = trio.Event()

    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        if len(srv.streams) == 1:
            await woke.wait()
            await ws.send_message("sat in the socket")
            srv.last.freeze()
        await trio.sleep_forever()

    srv = MemoryServer(nursery, handler)
    async with open_watched(srv.dial, source, 1.5) as ws:
        await ws.wait_connected()
        await trio.sleep(4.5)
        source.total += 3600.0
        woke.set()
        with trio.fail_after(1.0):
            assert await ws.receive() == "sat in the socket"  # nothing lost
        await trio.sleep(2.5)
        events = drain_events(ws)
        assert ws.state == "connected"
    (down,) = lost(events)
    assert isinstance(down.cause, th.PeerUnresponsive) and down.cause.bound == 1.5
    assert "wake-up probe" in str(down.cause)
    assert waits(events) == [0.0]
    assert srv.dial_times == [0.0, 6.5]


async def test_wake_during_a_backoff_wait_reconnects_at_once(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Asleep while waiting 300 s to reconnect: on waking, the wait is over."""
    source = SuspendSource()
    echo_server.refuse = True
    check = th.SuspendCheck(check_interval=1.0, threshold=2.0, source=source)
    policy = th.ReconnectPolicy.fixed(300.0)
    async with th.open_managed_websocket(
        "ws://x/", reconnect=policy, dial=echo_server.dial, suspend=check
    ) as ws:
        await trio.sleep(10.5)
        source.total += 3600.0
        echo_server.refuse = False
        with trio.fail_after(5.0):
            await ws.wait_connected()
    assert echo_server.dial_times == [0.0, 11.0]


async def test_wall_clock_step_without_suspend_keeps_a_healthy_link(
    echo_server: MemoryServer,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The heuristic source sees an NTP step as a suspend: it probes, the link answers."""
    wall_offset = [1.7e9]
    source = wall_clock_source(
        wall=lambda: wall_offset[0] + trio.current_time(), monotonic=trio.current_time
    )
    caplog.set_level(logging.INFO, logger="trio_heartbeat")
    async with open_watched(echo_server.dial, source, 1.0) as ws:
        await ws.wait_connected()
        await trio.sleep(3.2)
        wall_offset[0] += 3600.0  # the wall clock steps an hour forward
        await trio.sleep(20.0)
        events = drain_events(ws)
        assert ws.statistics().connects == 1
    assert lost(events) == []
    woke = [r for r in caplog.records if "probing the link" in r.getMessage()]
    assert len(woke) == 1  # the probe did happen, and was answered


async def test_small_growth_is_not_a_wake_up(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Below the threshold nothing is probed: a frozen server is not noticed early."""
    source = SuspendSource()
    srv = MemoryServer(nursery, sink)
    async with open_watched(srv.dial, source, 1.0) as ws:
        await ws.wait_connected()
        await trio.sleep(2.5)
        srv.last.freeze()
        source.total += 1.9
        await trio.sleep(20.0)
        assert lost(drain_events(ws)) == []


def test_suspend_must_be_a_suspend_check() -> None:
    with pytest.raises(th.UsageError):
        th.ManagedWebSocket(
            "ws://x/",
            heartbeat=PING,
            reconnect=th.ReconnectPolicy(),
            options=th.ConnectionOptions(),
            on_connect=None,
            dial=None,
            rng=None,
            suspend=1.0,  # type: ignore[arg-type]
        )
