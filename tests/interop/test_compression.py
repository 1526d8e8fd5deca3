"""permessage-deflate over Transport.WEBSOCKETS against real servers on 127.0.0.1:
Python ``websockets`` (compression on by default) and Node ``ws`` with perMessageDeflate."""

from __future__ import annotations

import pytest
import trio

import trio_heartbeat as th
from tests.interop.conftest import InteropServers, ServerProcess

pytestmark = pytest.mark.interop

COMPRESSED = th.ConnectionOptions(
    transport=th.Transport.WEBSOCKETS,
    compression=th.PerMessageDeflate(client_max_window_bits=12, mem_level=4),
)
TEXT = "heartbeat " * 5000  # 50,000 characters that compress well
BLOB = bytes(100_000)


async def echo_compressed(server: ServerProcess) -> th.ConnectionStatistics:
    with trio.fail_after(20):
        async with th.open_managed_websocket(
            server.url,
            heartbeat=th.Heartbeat.ping(interval=0.2, reply_timeout=2.0),
            options=COMPRESSED,
        ) as ws:
            for _ in range(3):  # context takeover: later messages reuse the window
                await ws.send(TEXT)
                assert await ws.receive() == TEXT
                await ws.send(BLOB)
                assert await ws.receive() == BLOB
            await trio.sleep(0.5)  # heartbeats (uncompressed control frames) on the way
            stats = ws.statistics()
    assert stats.heartbeats_answered >= 1
    return stats


async def test_websockets_server_compresses_both_ways(interop_servers: InteropServers) -> None:
    server = await interop_servers.websockets(ping_interval=0.3, ping_timeout=2.0)
    stats = await echo_compressed(server)
    (connect,) = server.events("connect")
    assert connect["extensions"] == ["permessage-deflate"]
    payload = 3 * (len(TEXT) + len(BLOB))
    assert stats.bytes_out < payload / 20 and stats.bytes_in < payload / 20


async def test_node_ws_with_per_message_deflate(interop_servers: InteropServers) -> None:
    server = await interop_servers.ws(extra_args=["--per-message-deflate", "1"])
    stats = await echo_compressed(server)
    (connect,) = server.events("connect")
    assert connect["extensions"] == "permessage-deflate"
    payload = 3 * (len(TEXT) + len(BLOB))
    assert stats.bytes_out < payload / 20 and stats.bytes_in < payload / 20


async def test_without_the_option_nothing_is_compressed(interop_servers: InteropServers) -> None:
    server = await interop_servers.websockets(ping_interval=0.3, ping_timeout=2.0)
    options = th.ConnectionOptions(transport=th.Transport.WEBSOCKETS)
    with trio.fail_after(20):
        async with th.open_managed_websocket(server.url, options=options) as ws:
            await ws.send(BLOB)
            assert await ws.receive() == BLOB
            stats = ws.statistics()
    (connect,) = server.events("connect")
    assert connect["extensions"] == []
    assert stats.bytes_out > len(BLOB)
