"""One task keeps a link: heartbeats and the liveness deadline, in exact virtual time."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.core.memserver import MemoryServer


class StallingStream(trio.abc.Stream):
    """A client stream whose writes block forever once stalled (a full socket buffer)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.stalled = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.stalled:
            await trio.sleep_forever()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("shared_clock", [False, True], ids=["alone", "shared-clock"])
async def test_a_blocked_heartbeat_write_does_not_stall_the_deadline(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, shared_clock: bool
) -> None:
    streams: list[StallingStream] = []
    stack = AsyncExitStack()
    clock = await stack.enter_async_context(th.open_heartbeat_clock()) if shared_clock else None

    async def dial() -> trio.abc.Stream:
        streams.append(StallingStream(await echo_server.dial()))
        return streams[-1]

    async with (
        stack,
        th.open_managed_websocket(
            "ws://x/",
            heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
            reconnect=th.ReconnectPolicy.fixed(100.0),
            dial=dial,
            heartbeat_clock=clock,
        ) as ws,
    ):
        await ws.wait_connected()
        assert trio.current_time() == 0.0
        echo_server.last.freeze()  # the peer neither reads nor answers ...
        streams[-1].stalled = True  # ... and our writes block (its window is full)
        async for event in ws.state_changes:
            if isinstance(event, th.Disconnected):
                break
        # the heartbeat at 1.0 never got out; dead one reply timeout later
        assert trio.current_time() == 2.0
        assert isinstance(event.cause, th.PeerUnresponsive)


async def test_an_idle_connection_runs_two_tasks(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, transport: th.Transport
) -> None:
    await trio.testing.wait_all_tasks_blocked()
    before = trio.lowlevel.current_statistics().tasks_living
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        await trio.sleep(3.5)  # heartbeats go out and come back meanwhile
        await trio.testing.wait_all_tasks_blocked()
        living = trio.lowlevel.current_statistics().tasks_living - before
        server = 2  # the memory server's handler and trio-websocket's reader
        # ours: the supervisor (which also keeps heartbeats and the deadline) and
        # the pump; over trio-websocket also its reader and the task hosting it
        ours = 4 if transport is th.Transport.TRIO_WEBSOCKET else 2
        assert living == server + ours
        assert ws.statistics().heartbeats_answered == 3
