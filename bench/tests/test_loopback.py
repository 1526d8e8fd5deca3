"""The benchmark's real-socket parts: the server process and the black-hole proxy."""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import open_websocket_url

from bench._common import ServerProcess
from bench._proxy import open_blackhole_proxy

pytestmark = pytest.mark.loopback


async def test_server_echo_source_stats_and_kill() -> None:
    srv = ServerProcess(log_name="server-test.log")
    try:
        await trio.to_thread.run_sync(srv.start)
        pids = srv.pids
        assert len(pids) == 1
        with trio.fail_after(20):
            async with open_websocket_url(srv.url) as ws:
                await ws.send_message(b"ping-32")
                assert await ws.get_message() == b"ping-32"
            async with open_websocket_url(f"{srv.url}source/70000/3") as ws:
                got = [await ws.get_message() for _ in range(3)]
            assert got == [b"x" * 70000] * 3
            async with open_websocket_url(f"{srv.url}stats") as ws:
                stats = json.loads(await ws.get_message())
        assert len(stats["handshakes"]) == 2  # /stats itself is not counted
        assert stats["pid"] == pids[0]
    finally:
        srv.stop()
    assert srv.pids == []


async def test_blackhole_proxy_forwards_then_drops_without_closing() -> None:
    async def echo(stream: trio.SocketStream) -> None:
        async with stream:
            async for data in stream:
                await stream.send_all(data)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, echo, 0)
        port = listeners[0].socket.getsockname()[1]
        with trio.fail_after(10):
            async with open_blackhole_proxy(port) as proxy:
                client = await trio.open_tcp_stream("127.0.0.1", proxy.port)
                await client.send_all(b"hello")
                assert await client.receive_some(100) == b"hello"
                proxy.blackhole()
                assert proxy.blackholed
                await client.send_all(b"lost")
                while proxy.dropped_bytes < 4:  # noqa: ASYNC110 (bounded poll of a counter)
                    await trio.sleep(0.01)
                with trio.move_on_after(0.2) as scope:
                    await client.receive_some(100)  # neither data nor EOF comes back
                assert scope.cancelled_caught
                await client.aclose()
        nursery.cancel_scope.cancel()
