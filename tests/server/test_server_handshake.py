"""The server's opening handshake: a peer that leaves early is let go at once;
settings have one owner (in-memory streams, virtual time)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.server.helpers import Ends, running
from trio_heartbeat.errors import UsageError
from trio_heartbeat.server import (
    Accept,
    Reject,
    ServerHeartbeat,
    ServerOptions,
    UpgradeRequest,
    open_heartbeat_server,
)

BEAT = ServerHeartbeat.ping(60.0)
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize(
    "sent",
    [b"", UPGRADE[:30], b"NOT HTTP AT ALL\r\n\r\n"],
    ids=["nothing", "half-a-request", "garbage"],
)
async def test_a_peer_that_leaves_during_the_handshake_is_let_go_at_once(
    autojump_clock: trio.testing.MockClock, sent: bytes
) -> None:
    options = ServerOptions(handshake_timeout=10.0)
    async with running(Ends(), BEAT, options=options) as (server, nursery):
        client, server_side = trio.testing.memory_stream_pair()
        done = trio.Event()

        async def serve() -> None:
            await server.handle_stream(server_side)
            done.set()

        nursery.start_soon(serve)
        if sent:
            await client.send_all(sent)
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().handshaking == (0 if sent.startswith(b"NOT") else 1)
        await client.aclose()
        await done.wait()
        assert trio.current_time() == 0.0  # not handshake_timeout later
        stats = server.statistics()
        assert (stats.handshaking, stats.handshake_failures, stats.accepted) == (0, 1, 0)


async def test_authorize_is_cancelled_when_the_peer_leaves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cancelled_at: list[float] = []

    async def slow_authorize(request: UpgradeRequest) -> Accept | Reject:
        try:
            await trio.sleep(8.0)
        except trio.Cancelled:
            cancelled_at.append(trio.current_time())
            raise
        return Accept()

    async with running(Ends(), BEAT, authorize=slow_authorize) as (server, nursery):
        client, server_side = trio.testing.memory_stream_pair()
        nursery.start_soon(server.handle_stream, server_side)
        await client.send_all(UPGRADE)
        await trio.sleep(2.0)
        assert server.statistics().handshaking == 1
        await client.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert cancelled_at == [2.0]
        assert server.statistics().handshaking == 0


async def test_authorize_counts_against_the_handshake_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def never(request: UpgradeRequest) -> Accept | Reject:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    options = ServerOptions(handshake_timeout=3.0)
    async with running(Ends(), BEAT, options=options, authorize=never) as (server, _):
        client, server_side = trio.testing.memory_stream_pair()
        await client.send_all(UPGRADE)
        await server.handle_stream(server_side)
        assert trio.current_time() == 3.0
        assert server.statistics().handshake_failures == 1
        assert await client.receive_some() == b""  # closed, no answer


async def test_the_old_keyword_arguments_still_work_but_not_with_options(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_heartbeat_server(Ends(), close_timeout=1.5, send_timeout=2.0) as server:
        assert server.options == ServerOptions(close_timeout=1.5, send_timeout=2.0)
    with pytest.raises(UsageError, match="options"):
        async with open_heartbeat_server(Ends(), options=ServerOptions(), close_timeout=1.0):
            pass
    with pytest.raises(UsageError, match="unknown"):
        async with open_heartbeat_server(Ends(), send_queue=3):  # type: ignore[call-arg]
            pass
    with pytest.raises(UsageError):
        async with open_heartbeat_server(Ends(), options={"send_timeout": 1.0}):  # type: ignore[arg-type]
            pass
