"""The Tradovate client over an in-memory fake Tradovate server, in virtual time."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from trio_heartbeat.adapters.tradovate import Event, RequestTimeout, Response, open_tradovate
from trio_heartbeat.protocols import tradovate as wire

URL = "ws://x/v1/websocket"
TOKEN = "s3cret-token-value"


class FakeTradovate:
    """Answers authorize (status ``auth_status``), echoes ``echo`` requests, ignores ``slow``."""

    def __init__(self, auth_status: int = 200) -> None:
        self.auth_status = auth_status
        self.requests: list[wire.Request] = []
        self.heartbeats: list[float] = []
        self.live: list[trio_websocket.WebSocketConnection] = []

    async def handler(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.live.append(ws)
        await ws.send_message("o")
        while True:
            frame = wire.decode_client_frame(await ws.get_message())
            if isinstance(frame, wire.ClientHeartbeat):
                self.heartbeats.append(trio.current_time())
                continue
            self.requests.append(frame)
            if frame.url == "authorize":
                out: list[Response | Event] = [Response(frame.id, self.auth_status)]
            elif frame.url == "echo":
                out = [Event("props", {"before": frame.id}), Response(frame.id, 200, frame.body)]
            elif frame.url == "kick":
                await ws.send_message('c[1008,"Policy"]')
                continue
            else:
                continue
            await ws.send_message(wire.encode_server_frame(out))


async def test_authorize_request_events_and_heartbeat(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeTradovate()
    srv = MemoryServer(nursery, fake.handler)
    async with open_tradovate(URL, TOKEN, dial=srv.dial) as client:
        first = await client.request("echo", body={"a": 1}, query="q=1")
        second = await client.request("echo", body="raw")
        assert (first.id, first.status, first.data) == (1, 200, '{"a":1}')
        assert (second.id, second.data) == (2, "raw")
        assert [await client.next_event() for _ in range(2)] == [
            Event("props", {"before": 1}),
            Event("props", {"before": 2}),
        ]
        await trio.sleep(6)
        assert TOKEN not in repr(client)
    assert fake.requests[0] == wire.Request("authorize", 0, "", TOKEN)
    assert fake.requests[1] == wire.Request("echo", 1, "q=1", '{"a":1}')
    # "[]" every 2.5 s from the moment the socket opened.
    assert fake.heartbeats[:2] == [2.5, 5.0]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


async def test_request_timeout_then_lost_connection(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeTradovate()
    srv = MemoryServer(nursery, fake.handler)
    async with open_tradovate(
        URL, TOKEN, reconnect=th.ReconnectPolicy.fixed(1.0), dial=srv.dial
    ) as client:
        start = trio.current_time()
        with pytest.raises(RequestTimeout, match="'slow' within 3 s"):
            await client.request("slow", timeout=3.0)
        assert trio.current_time() - start == 3.0

        async def drop_link() -> None:
            await trio.testing.wait_all_tasks_blocked()
            await fake.live[-1].aclose()

        nursery.start_soon(drop_link)
        with pytest.raises(th.ConnectionLost, match="before the response"):
            await client.request("slow")
        # Reconnected and re-authorized; the per-connection counter starts again at 1.
        response = await client.request("echo", body="again")
        assert response.id == 1 and response.data == "again"
    assert [r.url for r in fake.requests].count("authorize") == 2


async def test_failed_authorization_fails_the_attempt(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeTradovate(auth_status=401)
    srv = MemoryServer(nursery, fake.handler)
    async with open_tradovate(
        URL,
        TOKEN,
        reconnect=th.ReconnectPolicy(max_attempts=2, wait_initial=1.0, full_jitter=False),
        dial=srv.dial,
    ) as client:
        with pytest.raises(th.ReconnectGaveUp) as info:
            await client.request("echo")
    assert isinstance(info.value.last_error, th.ConnectError)
    assert "status 401" in str(info.value.last_error)
    assert TOKEN not in str(info.value)
    assert srv.dial_times == [0.0, 1.0]


async def test_close_frame_follows_the_close_code_table(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeTradovate()
    srv = MemoryServer(nursery, fake.handler)
    async with open_tradovate(URL, TOKEN, dial=srv.dial) as client:
        with pytest.raises(th.ConnectionLost):
            await client.request("kick")
        with pytest.raises(th.ReconnectGaveUp) as info:
            await client.next_event()
    last = info.value.last_error
    assert isinstance(last, th.ConnectionLost) and (last.code, last.reason) == (1008, "Policy")


async def test_malformed_item_is_a_protocol_error(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("o")
        await ws.get_message()
        await ws.send_message('a[{"s":200,"i":0}]')
        await ws.send_message('a[{"what":1}]')
        await trio.sleep_forever()

    srv = MemoryServer(nursery, handler)
    async with open_tradovate(
        URL, TOKEN, reconnect=th.ReconnectPolicy.fixed(1.0), dial=srv.dial
    ) as client:
        await trio.sleep(1.5)
        assert client.ws.statistics().protocol_errors == 2


async def test_arguments_are_checked() -> None:
    with pytest.raises(th.UsageError):
        async with open_tradovate(URL, ""):
            pass
    with pytest.raises(th.UsageError):
        async with open_tradovate(URL, TOKEN, options=th.ConnectionOptions(send_batch_size=2)):
            pass
