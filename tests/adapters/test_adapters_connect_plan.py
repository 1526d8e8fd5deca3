"""The adapters on the per-attempt connect plan: fresh SockJS sessions, Tradovate tokens."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from trio_heartbeat.adapters.sockjs import fresh_sockjs_url, open_sockjs, sockjs_url
from trio_heartbeat.adapters.tradovate import open_tradovate
from trio_heartbeat.protocols import tradovate as wire

FIXED = th.ReconnectPolicy.fixed(1.0, min_uptime=5.0)


async def test_fresh_sockjs_session_per_attempt(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    paths: list[str] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        paths.append(ws.path)
        await ws.send_message("o")
        await trio.sleep(10.0)
        await ws.send_message('c[3000,"Go away!"]')

    srv = MemoryServer(nursery, server)
    async with open_sockjs(
        fresh_sockjs_url("ws://x/echo", rng=random.Random(3)), reconnect=FIXED, dial=srv.dial
    ) as ws:
        await trio.sleep(25.0)
        assert ws.statistics().connects == 3
    twin = random.Random(3)
    expected = [sockjs_url("ws://x/echo", rng=twin) for _ in range(3)]
    assert ["ws://x" + path for path in paths] == expected
    assert len(set(paths)) == 3


def test_fresh_sockjs_url_validates_at_once() -> None:
    with pytest.raises(th.UsageError):
        fresh_sockjs_url("http://x/echo")
    with pytest.raises(th.UsageError):
        fresh_sockjs_url("ws://x/echo", session_length=0)


class TokenServer:
    """A Tradovate-like server: accepts each token once, ends every link after ``lifetime``."""

    def __init__(self, lifetime: float = 10.0) -> None:
        self.tokens: list[str] = []
        self.lifetime = lifetime

    async def handler(self, ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("o")
        frame = wire.decode_client_frame(await ws.get_message())
        assert isinstance(frame, wire.Request) and frame.url == "authorize"
        token = str(frame.body)
        fresh = token not in self.tokens
        self.tokens.append(token)
        await ws.send_message(wire.encode_server_frame([wire.Response(0, 200 if fresh else 401)]))
        with trio.move_on_after(self.lifetime):
            while True:
                await ws.get_message()
        await ws.aclose(1011, "restart")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_tradovate_token_from_a_callable_per_reconnect(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: str
) -> None:
    fake = TokenServer()
    srv = MemoryServer(nursery, fake.handler)
    issued: list[str] = []

    def next_token() -> str:
        issued.append(f"tok-{len(issued) + 1}")
        return issued[-1]

    async def next_token_async() -> str:
        await trio.lowlevel.checkpoint()
        return next_token()

    token = next_token if kind == "sync" else next_token_async
    async with open_tradovate("ws://x/v1/websocket", token, reconnect=FIXED, dial=srv.dial) as c:
        await trio.sleep(25.0)
        assert c.ws.statistics().connects == 3
    assert fake.tokens == ["tok-1", "tok-2", "tok-3"]


async def test_tradovate_fixed_token_is_refused_after_a_reconnect(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = TokenServer()
    srv = MemoryServer(nursery, fake.handler)
    async with open_tradovate("ws://x/v1/websocket", "once", reconnect=FIXED, dial=srv.dial) as c:
        await trio.sleep(25.0)
        assert c.ws.statistics().connects == 1  # every later authorize is refused
    assert fake.tokens[:3] == ["once"] * 3


async def test_tradovate_token_callable_failures(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = TokenServer(lifetime=100.0)
    srv = MemoryServer(nursery, fake.handler)
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("token service down, key=SECRET")
        return "good"

    async with open_tradovate("ws://x/v1/websocket", flaky, reconnect=FIXED, dial=srv.dial) as c:
        await c.ws.wait_connected()
        changes = []
        while True:
            try:
                changes.append(c.ws.state_changes.receive_nowait())
            except trio.WouldBlock:
                break
    (failed,) = [e for e in changes if isinstance(e, th.Disconnected)]
    assert isinstance(failed.cause, th.ConnectError) and "SECRET" not in str(failed.cause)
    assert fake.tokens == ["good"]

    def unauthorized() -> str:
        raise th.HandshakeRejected(401)

    with pytest.raises(th.ReconnectGaveUp) as info:
        async with open_tradovate(
            "ws://x/v1/websocket", unauthorized, reconnect=FIXED, dial=srv.dial
        ) as c:
            await c.next_event()
    assert isinstance(info.value.last_error, th.HandshakeRejected)
    assert info.value.attempts == 1
