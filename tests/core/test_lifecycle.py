"""Opening, closing, cancellation and errors of the managed connection."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer, echo
from tests.core.test_reconnect import drain_events


def living_tasks() -> int:
    return trio.lowlevel.current_statistics().tasks_living


async def test_leaving_the_block_leaves_no_task_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        server = MemoryServer(nursery, echo)
        before = living_tasks()
        async with th.open_managed_websocket(
            "ws://x/",
            heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
            dial=server.dial,
        ) as ws:
            await ws.wait_connected()
            await trio.sleep(5.5)  # pings, pong waiters, watchdog all active
            assert living_tasks() > before + 3
        assert ws.state == "closed"
        await trio.testing.wait_all_tasks_blocked()
        assert living_tasks() == before  # the client's tasks and the server's handler are gone
        nursery.cancel_scope.cancel()


async def test_cancelling_the_surrounding_scope_tears_down_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        server = MemoryServer(nursery, echo)
        baseline = living_tasks()
        with trio.move_on_after(3.0) as scope:
            async with th.open_managed_websocket(
                "ws://x/",
                heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
                dial=server.dial,
            ) as ws:
                await ws.receive()  # blocks until cancelled
        assert scope.cancelled_caught
        assert trio.current_time() == 3.0  # the polite close got its answer at once
        await trio.testing.wait_all_tasks_blocked()
        server_tasks_gone = living_tasks() <= baseline
        nursery.cancel_scope.cancel()
    assert server_tasks_gone
    assert ws.state == "closed"


async def test_close_is_bounded_by_close_timeout_when_peer_is_frozen(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.disabled(),
        options=th.ConnectionOptions(close_timeout=2.0),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        echo_server.last.freeze()
        t0 = trio.current_time()
    assert trio.current_time() - t0 == 2.0


async def test_close_sends_1000_to_the_server(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    codes: list[int] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            assert exc.reason is not None
            codes.append(exc.reason.code)

    srv = MemoryServer(nursery, server)
    async with th.open_managed_websocket("ws://x/", dial=srv.dial) as ws:
        await ws.wait_connected()
    await trio.testing.wait_all_tasks_blocked()
    assert codes == [1000]


async def test_body_exception_comes_out_unwrapped(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):  # not an ExceptionGroup
        async with th.open_managed_websocket("ws://x/", dial=echo_server.dial) as ws:
            await ws.wait_connected()
            raise Boom


async def test_use_after_close_is_a_clear_error(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket("ws://x/", dial=echo_server.dial) as ws:
        await ws.send("a")
        assert await ws.receive() == "a"
    with pytest.raises(th.ConnectionClosedError):
        await ws.send("late")
    with pytest.raises(th.ConnectionClosedError):
        await ws.receive()
    events = drain_events(ws)
    assert isinstance(events[-1], th.Closed)
    # every state change arrived, in order
    assert [type(e).__name__ for e in events] == ["Connecting", "Connected", "Closed"]


async def test_async_iteration_ends_when_closed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def three(ws: trio_websocket.WebSocketConnection) -> None:
        for i in range(3):
            await ws.send_message(str(i))
        await trio.sleep_forever()

    srv = MemoryServer(nursery, three)
    got: list[str | bytes] = []
    async with th.open_managed_websocket("ws://x/", dial=srv.dial) as ws:
        async for message in ws:
            got.append(message)
            if len(got) == 3:
                break
    assert got == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("http://example.com/", {}),
        ("ws:///nohost", {}),
        ("ws://host:99999/", {}),
        ("ws://host/", {"heartbeat": 30}),
        ("ws://host/", {"reconnect": "forever"}),
        ("ws://host/", {"on_connect": "auth"}),
    ],
)
async def test_bad_arguments_fail_before_any_io(url: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(th.UsageError):
        async with th.open_managed_websocket(url, **kwargs):  # type: ignore[arg-type]
            pytest.fail("entered the block")


async def test_send_rejects_non_messages(echo_server: MemoryServer) -> None:
    async with th.open_managed_websocket("ws://x/", dial=echo_server.dial) as ws:
        with pytest.raises(th.UsageError):
            await ws.send(42)  # type: ignore[arg-type]


async def test_rtt_longer_than_interval(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    class Laggy(trio.abc.Stream):
        """Delivers the client's bytes to the server 1.5 s late (order kept)."""

        def __init__(self, inner: trio.abc.Stream) -> None:
            self.inner = inner
            self.send_ch, self.recv_ch = trio.open_memory_channel[tuple[float, bytes]](1000)

        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            await self.inner.send_all(data)

        async def wait_send_all_might_not_block(self) -> None:
            pass

        async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
            data = await self.inner.receive_some(max_bytes)
            await trio.sleep(1.5)
            return data

        async def aclose(self) -> None:
            await self.inner.aclose()

    async def dial() -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()

        async def serve() -> None:
            async with trio.open_nursery() as n:
                request = await trio_websocket.wrap_server_stream(n, Laggy(server))
                ws = await request.accept()
                await echo(ws)

        nursery.start_soon(serve)
        return client

    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=5.0),
        options=th.ConnectionOptions(close_timeout=0.1),
        dial=dial,
    ) as ws:
        await ws.wait_connected()  # at t = 1.5: the upgrade request was late too
        await trio.sleep(10.2)
        stats = ws.statistics()
        assert ws.state == "connected"
    assert stats.heartbeats_sent == 10
    assert stats.rtt_last is not None and stats.rtt_last >= 1.5
    assert stats.heartbeats_missed == 0


async def test_late_wakeup_consumes_arrived_data_before_declaring_death(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Bytes that arrived while the process was busy past the deadline save the link.

    The server's tick lands in the client's receive buffer at t = 1.9; then the
    process "stalls" for 0.5 s (a synchronous clock jump: no task runs), so the
    watchdog wakes up late, at 2.4, past its 2.0 deadline, with the tick unread.
    """

    async def tick_then_stall(ws: trio_websocket.WebSocketConnection) -> None:
        for _ in range(5):
            await trio.sleep(1.9)
            await ws.send_message("tick")
            autojump_clock.jump(0.5)

    srv = MemoryServer(nursery, tick_then_stall)
    with trio.fail_after(60):
        async with th.open_managed_websocket(
            "ws://x/", heartbeat=th.Heartbeat.inbound_traffic(silence_timeout=2.0), dial=srv.dial
        ) as ws:
            for _ in range(5):
                assert await ws.receive() == "tick"
            assert ws.statistics().connects == 1
            assert srv.dials == 1
