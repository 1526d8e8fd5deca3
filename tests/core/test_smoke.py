import trio

import trio_heartbeat as th
from tests.core.memserver import MemoryServer, echo


async def test_echo_roundtrip(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        server = MemoryServer(nursery, echo)
        async with th.open_managed_websocket(
            "ws://example.test/",
            heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
            dial=server.dial,
        ) as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"
            await trio.sleep(10.5)
            stats = ws.statistics()
            assert stats.heartbeats_sent == 10
            assert stats.heartbeats_answered == 10
        nursery.cancel_scope.cancel()
