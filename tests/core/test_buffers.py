"""Outgoing and incoming buffers, pacing, and what proves life, in virtual time."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from tests.core.test_reconnect import drain_events


def recorder(into: list[tuple[float, str | bytes]]) -> MemoryServer.handler.__class__:  # type: ignore[name-defined]
    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            message = await ws.get_message()
            into.append((trio.current_time(), message))

    return handler


async def test_full_buffer_raises_by_default_while_down(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    async with th.open_managed_websocket(
        "ws://x/", options=th.ConnectionOptions(send_buffer_size=3), dial=echo_server.dial
    ) as ws:
        for i in range(3):
            await ws.send(str(i))
        with pytest.raises(th.SendBufferFull):
            await ws.send("3")
        assert ws.statistics().send_buffered == 3
        events_before_close = drain_events(ws)
    closed = [e for e in drain_events(ws) if isinstance(e, th.Closed)]
    assert closed == [th.Closed(("0", "1", "2"))]  # undelivered messages are reported
    assert not any(isinstance(e, th.MessagesDropped) for e in events_before_close)


async def test_drop_oldest_is_counted_and_reported(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, str | bytes]] = []
    srv = MemoryServer(nursery, recorder(seen))
    srv.refuse = True
    options = th.ConnectionOptions(send_buffer_size=3, overflow=th.Overflow.DROP_OLDEST)
    async with th.open_managed_websocket(
        "ws://x/", options=options, reconnect=th.ReconnectPolicy.fixed(1.0), dial=srv.dial
    ) as ws:
        for i in range(5):
            await ws.send(str(i))
        srv.refuse = False
        await ws.wait_connected()
        await ws.drain()
        await trio.sleep(0.1)
        stats = ws.statistics()
        drops = [e for e in drain_events(ws) if isinstance(e, th.MessagesDropped)]
    assert [m for _, m in seen] == ["2", "3", "4"]
    assert stats.messages_dropped == 2
    assert len(drops) == 2


async def test_drop_warnings_are_throttled_with_a_count_of_the_rest(
    echo_server: MemoryServer,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flood of drops logs one WARNING per DROP_LOG_INTERVAL, counting the held-back ones."""
    caplog.set_level(logging.WARNING, logger="trio_heartbeat")
    echo_server.refuse = True
    options = th.ConnectionOptions(send_buffer_size=1, overflow=th.Overflow.DROP_OLDEST)
    async with th.open_managed_websocket(
        "ws://x/", options=options, reconnect=th.ReconnectPolicy.fixed(100.0), dial=echo_server.dial
    ) as ws:
        for i in range(101):  # 100 drops at once
            ws.send_nowait(str(i))
        await trio.sleep(29.0)
        ws.send_nowait("early")  # still inside the interval: held back
        await trio.sleep(1.0)
        ws.send_nowait("late")  # 30 s after the first warning
        assert ws.statistics().messages_dropped == 102
    drops = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("send buffer full")
    ]
    assert drops == [
        "send buffer full: dropped the oldest message",
        "send buffer full: dropped the oldest message (100 more dropped since the last warning)",
    ]


async def test_send_applies_back_pressure_while_connected(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    options = th.ConnectionOptions(send_buffer_size=2, send_rate=10.0)
    async with th.open_managed_websocket("ws://x/", options=options, dial=echo_server.dial) as ws:
        await ws.wait_connected()
        for i in range(10):
            await ws.send(str(i))  # waits for room instead of raising
        with pytest.raises(th.SendBufferFull):
            for i in range(10):
                ws.send_nowait(str(i))  # the non-blocking twin overflows


async def test_send_rate_limit_delays_but_never_heartbeats(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, str | bytes]] = []
    srv = MemoryServer(nursery, recorder(seen))
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.text("hb", interval=0.5, reply_timeout=5.0),
        options=th.ConnectionOptions(send_rate=1.0),
        dial=srv.dial,
    ) as ws:
        await ws.wait_connected()
        for i in range(4):
            ws.send_nowait(f"m{i}")
        await trio.sleep(3.2)
    data = [(t, m) for t, m in seen if m != "hb"]
    beats = [t for t, m in seen if m == "hb"]
    assert data == [(0.0, "m0"), (1.0, "m1"), (2.0, "m2"), (3.0, "m3")]
    assert beats == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]


async def test_receive_is_one_stream_across_reconnects(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    counter = iter(range(100))

    async def talk_then_drop(ws: trio_websocket.WebSocketConnection) -> None:
        n = next(counter)
        await ws.send_message(f"hello {n}")
        await trio.sleep(1.0)
        await ws.aclose(1012, "restart")

    srv = MemoryServer(nursery, talk_then_drop)
    async with th.open_managed_websocket(
        "ws://x/", reconnect=th.ReconnectPolicy.fixed(0.5), dial=srv.dial
    ) as ws:
        got = [await ws.receive() for _ in range(3)]
        assert ws.statistics().reconnects == 2
    assert got == ["hello 0", "hello 1", "hello 2"]


async def test_slow_large_message_is_not_a_false_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    class Trickle(trio.abc.Stream):
        """Server stream whose writes dribble out 1 KiB every 0.5 s."""

        def __init__(self, inner: trio.abc.Stream) -> None:
            self.inner = inner

        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            view = memoryview(data)
            for start in range(0, len(view), 1024):
                await self.inner.send_all(view[start : start + 1024])
                await trio.sleep(0.5)

        async def wait_send_all_might_not_block(self) -> None:
            await self.inner.wait_send_all_might_not_block()

        async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
            return await self.inner.receive_some(max_bytes)

        async def aclose(self) -> None:
            await self.inner.aclose()

    async def dial() -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()

        async def serve() -> None:
            async with trio.open_nursery() as n:
                request = await trio_websocket.wrap_server_stream(n, server)
                ws = await request.accept()
                ws._stream = Trickle(server)  # only the message itself trickles
                await ws.send_message(b"x" * 100_000)  # ~49 s to arrive
                await trio.sleep_forever()

        nursery.start_soon(serve)
        return client

    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.inbound_traffic(silence_timeout=2.0),
        reconnect=th.ReconnectPolicy.never(),
        dial=dial,
    ) as ws:
        message = await ws.receive()
        assert len(message) == 100_000
        assert trio.current_time() > 40.0  # it really took long, with no timeout
        assert ws.statistics().connects == 1


async def test_app_not_reading_does_not_stall_pongs_or_kill_the_link(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def flood(ws: trio_websocket.WebSocketConnection) -> None:
        for i in range(50):
            await ws.send_message(f"event {i}")
        await trio.sleep_forever()

    srv = MemoryServer(nursery, flood)
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        options=th.ConnectionOptions(receive_buffer_size=10),
        dial=srv.dial,
    ) as ws:
        await trio.sleep(30.0)  # the application reads nothing for 30 s
        assert ws.state == "connected"
        assert ws.statistics().connects == 1
        got = [await ws.receive() for _ in range(50)]
    assert got == [f"event {i}" for i in range(50)]


async def test_buffered_unread_messages_kept_for_the_app_then_error(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def say_and_reject(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("last words")
        await ws.aclose(1008, "banned")

    srv = MemoryServer(nursery, say_and_reject)
    with pytest.raises(th.ReconnectGaveUp):
        async with th.open_managed_websocket("ws://x/", dial=srv.dial) as ws:
            await trio.sleep(1.0)
            assert ws.state == "gave_up"
            assert await ws.receive() == "last words"  # delivered before the error
            await ws.receive()


async def test_drain_raises_when_the_connection_gives_up_first(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    policy = th.ReconnectPolicy(max_attempts=3, wait_initial=1.0, full_jitter=False)
    with pytest.raises(th.ReconnectGaveUp) as info, trio.fail_after(100):
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, dial=echo_server.dial
        ) as ws:
            ws.send_nowait("never written")
            await ws.drain()
    assert info.value.undelivered == ("never written",)
