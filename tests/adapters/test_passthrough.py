"""Every core argument reaches the managed connection through each adapter, and
each adapter's open handshake is bounded by one ``open_timeout`` of the same shape."""

from __future__ import annotations

import inspect
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.adapters.test_engineio_socketio_clients import engine_server, socketio_server
from tests.adapters.test_sockjs_client import sockjs_server
from tests.adapters.test_tradovate_client import TOKEN, FakeTradovate
from tests.core.memserver import Handler, MemoryServer
from trio_heartbeat.adapters import (
    ManagedArguments,
    ProtocolSession,
    _base,
    open_protocol_websocket,
)
from trio_heartbeat.adapters.engineio import open_engineio
from trio_heartbeat.adapters.socketio import open_socketio
from trio_heartbeat.adapters.sockjs import open_sockjs
from trio_heartbeat.adapters.tradovate import open_tradovate
from trio_heartbeat.metrics import Metrics

Opener = Callable[..., AbstractAsyncContextManager[th.ManagedWebSocket]]


@asynccontextmanager
async def sockjs(url: str, **kwargs: Any) -> AsyncIterator[th.ManagedWebSocket]:
    async with open_sockjs(url, **kwargs) as ws:
        yield ws


@asynccontextmanager
async def tradovate(url: str, **kwargs: Any) -> AsyncIterator[th.ManagedWebSocket]:
    async with open_tradovate(url, TOKEN, **kwargs) as client:
        yield client.ws


@asynccontextmanager
async def engineio(url: str, **kwargs: Any) -> AsyncIterator[th.ManagedWebSocket]:
    async with open_engineio(url, ping_interval=1.0, ping_timeout=1.0, **kwargs) as client:
        yield client.ws


@asynccontextmanager
async def socketio(url: str, **kwargs: Any) -> AsyncIterator[th.ManagedWebSocket]:
    async with open_socketio(url, ping_interval=1.0, ping_timeout=1.0, **kwargs) as client:
        yield client.ws


def servers() -> dict[str, tuple[Opener, Callable[[], Handler]]]:
    return {
        "sockjs": (sockjs, lambda: sockjs_server([])),
        "tradovate": (tradovate, lambda: FakeTradovate().handler),
        "engineio": (engineio, lambda: engine_server([])),
        "socketio": (socketio, lambda: socketio_server([])),
    }


ADAPTERS = sorted(servers())


async def silent_server(ws: trio_websocket.WebSocketConnection) -> None:
    """A WebSocket server that never speaks the protocol (no open frame or packet)."""
    await trio.sleep_forever()


def test_passed_through_and_adapter_arguments_cover_the_core() -> None:
    core = set(inspect.signature(th.open_managed_websocket).parameters) - {"url"}
    passed = set(_base.ManagedArguments.__annotations__)
    assert passed | _base.ADAPTER_ARGUMENTS == core
    assert not passed & _base.ADAPTER_ARGUMENTS


@pytest.mark.parametrize(
    "adapter_function", [open_sockjs, open_tradovate, open_engineio, open_socketio]
)
def test_adapters_take_the_same_open_timeout(adapter_function: Callable[..., Any]) -> None:
    parameters = inspect.signature(adapter_function).parameters
    assert parameters["open_timeout"].default == _base.DEFAULT_OPEN_TIMEOUT
    assert parameters["on_connect"].default is None
    assert parameters["managed"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_every_core_argument_reaches_the_connection(
    adapter: str,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opener, handler = servers()[adapter]
    srv = MemoryServer(nursery, handler())
    seen: list[dict[str, Any]] = []
    real = _base.open_managed_websocket

    def spy(url: str, **kwargs: Any) -> AbstractAsyncContextManager[th.ManagedWebSocket]:
        seen.append(kwargs)
        return real(url, **kwargs)

    monkeypatch.setattr(_base, "open_managed_websocket", spy)
    links: list[th.LiveLink] = []
    async with th.open_heartbeat_clock() as clock:
        given: dict[str, Any] = {
            "reconnect": th.ReconnectPolicy.fixed(0.5),
            "options": th.ConnectionOptions(send_buffer_size=7),
            "dial": srv.dial,
            "rng": random.Random(3),
            "heartbeat_clock": clock,
            "resume": th.Resume(position_of=lambda message: None),
            "suspend": th.SuspendCheck(),
            "metrics": Metrics(),
        }
        assert set(given) == set(_base.ManagedArguments.__annotations__)
        async with opener("ws://x/path", on_connect=links.append, **given) as ws:
            await ws.wait_connected()
    [kwargs] = seen
    for name, value in given.items():
        assert kwargs[name] is value, name
    assert srv.dials == 1
    assert len(links) == 1 and links[0].attempt == 1  # the user's step ran after the protocol's


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_open_timeout_bounds_the_protocol_handshake(
    adapter: str, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    opener, _ = servers()[adapter]
    srv = MemoryServer(nursery, silent_server)
    srv.accept_delay = 1.0  # the WebSocket takes 1 s to open; the 2 s window starts after it
    policy = th.ReconnectPolicy(max_attempts=2, wait_initial=1.0, full_jitter=False)
    async with opener("ws://x/path", open_timeout=2.0, reconnect=policy, dial=srv.dial) as ws:
        with pytest.raises(th.ReconnectGaveUp) as info:
            await ws.wait_connected()
    assert isinstance(info.value.last_error, th.ConnectTimeout)
    assert info.value.last_error.timeout == 2.0
    assert srv.dial_times == [0.0, 4.0]


DURATIONS = [
    ("sockjs", "open_timeout"),
    ("tradovate", "open_timeout"),
    ("tradovate", "request_timeout"),
    ("tradovate", "authorize_timeout"),
    ("engineio", "open_timeout"),
    ("socketio", "open_timeout"),
    ("socketio", "ack_timeout"),
]


@pytest.mark.parametrize(("adapter", "name"), DURATIONS)
@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "1", None])
async def test_bad_duration_is_a_usage_error_naming_it(adapter: str, name: str, bad: Any) -> None:
    opener, _ = servers()[adapter]
    with pytest.raises(th.UsageError, match=f"^{name} must be"):
        async with opener("ws://x/path", **{name: bad}):
            pass


@pytest.mark.parametrize("name", ["ping_interval", "ping_timeout"])
@pytest.mark.parametrize("function", [open_engineio, open_socketio])
async def test_bad_ping_setting_is_a_usage_error(name: str, function: Callable[..., Any]) -> None:
    with pytest.raises(th.UsageError, match=f"^{name} must be a finite number > 0, got .25.$"):
        async with function("ws://x/path", **{name: "25"}):
            pass


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_unknown_keyword_is_a_usage_error(adapter: str) -> None:
    opener, _ = servers()[adapter]
    with pytest.raises(th.UsageError, match="recconect"):
        async with opener("ws://x/path", recconect=None):
            pass


async def test_socketio_open_timeout_covers_open_packet_and_connect(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    from tests.adapters.test_engineio_socketio_clients import open_frame

    async def slow_server(ws: trio_websocket.WebSocketConnection) -> None:
        await trio.sleep(1.5)
        await ws.send_message(open_frame())
        assert await ws.get_message() == "40"
        await trio.sleep(1.0)  # 2.5 s in all: each step alone would fit in 2 s
        await ws.send_message('40{"sid":"abc"}')
        await trio.sleep_forever()

    srv = MemoryServer(nursery, slow_server)
    policy = th.ReconnectPolicy(max_attempts=1)
    async with open_socketio(
        "ws://x/path", open_timeout=2.0, reconnect=policy, dial=srv.dial
    ) as client:
        with pytest.raises(th.ReconnectGaveUp) as info:
            await client.ws.wait_connected()
        assert trio.current_time() == 2.0
    assert isinstance(info.value.last_error, th.ConnectTimeout)


class GreetingCodec:
    """A codec for a made-up protocol whose server says ``hello`` first."""

    def __init__(self) -> None:
        self.greeted = trio.Event()

    def decode(self, message: str | bytes) -> list[str | bytes]:
        if message == "hello" and not self.greeted.is_set():
            self.greeted.set()
            return []
        return [message]

    def encode(self, messages: Sequence[str | bytes]) -> str | bytes:
        return messages[0]


class GreetingSession(ProtocolSession[GreetingCodec]):
    def make_codec(self) -> GreetingCodec:
        return GreetingCodec()

    async def handshake(self, codec: GreetingCodec, link: th.LiveLink | None) -> None:
        await codec.greeted.wait()


async def test_a_new_adapter_is_a_session_and_one_call(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def greeter(ws: trio_websocket.WebSocketConnection) -> None:
        await trio.sleep(1.0)
        await ws.send_message("hello")
        while True:
            await ws.send_message(await ws.get_message())

    srv = MemoryServer(nursery, greeter)
    session = GreetingSession(open_timeout=2.0)
    managed: ManagedArguments = {"dial": srv.dial}
    async with open_protocol_websocket(
        "ws://x/",
        adapter="open_greeting",
        session=session,
        heartbeat=th.Heartbeat.disabled(),
        managed=managed,
    ) as ws:
        ws.send_nowait("queued before the greeting")
        assert await ws.receive() == "queued before the greeting"
        assert trio.current_time() == 1.0
