"""SockJS glue over in-memory servers, in virtual time."""

from __future__ import annotations

import logging
import random

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import Handler, MemoryServer
from trio_heartbeat.adapters.sockjs import SockJSCodec, open_sockjs, sockjs_heartbeat, sockjs_url
from trio_heartbeat.protocols import sockjs as wire

URL = "ws://x/echo/000/abc/websocket"


def test_sockjs_url_is_seeded_and_framed() -> None:
    url = sockjs_url("ws://h:1/echo/", rng=random.Random(7))
    assert url == sockjs_url("ws://h:1/echo", rng=random.Random(7))
    prefix, server, session, tail = url.rsplit("/", 3)
    assert prefix == "ws://h:1/echo" and tail == "websocket"
    assert len(server) == 3 and server.isdigit()
    assert len(session) == 16 and session.isalnum()
    assert sockjs_url("wss://h/p?x=1", rng=random.Random(1)).endswith("/websocket?x=1")
    assert url != sockjs_url("ws://h:1/echo", rng=random.Random(8))
    with pytest.raises(th.UsageError):
        sockjs_url("http://h/echo")
    with pytest.raises(th.UsageError):
        sockjs_url("ws://h/echo", session_length=0)


def test_heartbeat_preset() -> None:
    hb = sockjs_heartbeat(5.0, 2.0)
    assert hb.uses_ping_frames and hb.server_payload == "h" and hb.reply_timeout == 2.0


def test_codec_decodes_and_encodes() -> None:
    codec = SockJSCodec()
    with pytest.raises(th.RemoteProtocolError):
        codec.decode('a["early"]')  # before "o"
    assert list(codec.decode("o")) == [] and codec.opened.is_set()
    assert list(codec.decode("h")) == []
    assert list(codec.decode('a["x","y"]')) == ["x", "y"]
    with pytest.raises(th.RemoteProtocolError):
        codec.decode("a[1]")  # plain SockJS carries strings
    with pytest.raises(th.RemoteProtocolError):
        codec.decode("o")  # second open
    with pytest.raises(th.ConnectionLost) as info:
        codec.decode('c[3000,"Go away!"]')
    assert (info.value.code, info.value.reason) == (3000, "Go away!")
    assert codec.encode(["a", b"b"]) == '["a","b"]'
    with pytest.raises(th.UsageError):
        codec.encode([b"\xff"])
    json_codec = SockJSCodec(json_items=True)
    json_codec.decode("o")
    assert list(json_codec.decode('a[{"e":"x"},2]')) == ['{"e":"x"}', "2"]


def sockjs_server(frames_in: list[str], *, send_open: bool = True, greeting: str = "") -> Handler:
    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        if send_open:
            await ws.send_message("o")
        if greeting:
            await ws.send_message(greeting)
        while True:
            frame = await ws.get_message()
            assert isinstance(frame, str)
            frames_in.append(frame)
            messages = wire.decode_client_frame(frame)
            if messages == ("close me",):
                await ws.send_message(wire.encode_close(3000, "Go away!"))
                await trio.sleep_forever()
            if messages:
                await ws.send_message(wire.encode_server_messages(list(messages)))

    return handler


async def test_echo_batches_and_waits_for_open(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    frames: list[str] = []
    srv = MemoryServer(nursery, sockjs_server(frames, greeting="h"))
    srv.accept_delay = 1.0
    async with open_sockjs(
        URL,
        heartbeat=th.Heartbeat.disabled(),
        options=th.ConnectionOptions(send_batch_size=3),
        dial=srv.dial,
    ) as ws:
        for i in range(4):
            ws.send_nowait(f"m{i}")
        assert [await ws.receive() for _ in range(4)] == ["m0", "m1", "m2", "m3"]
    # Queued messages waited for "o"; then went out in order, batched.
    assert frames == ['["m0","m1","m2"]', '["m3"]']


async def test_open_timeout_fails_the_attempt(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    srv = MemoryServer(nursery, sockjs_server([], send_open=False))
    async with open_sockjs(
        URL,
        heartbeat=th.Heartbeat.disabled(),
        reconnect=th.ReconnectPolicy(max_attempts=2, wait_initial=1.0, full_jitter=False),
        open_timeout=2.0,
        dial=srv.dial,
    ) as ws:
        with pytest.raises(th.ReconnectGaveUp) as info:
            await ws.wait_connected()
    assert isinstance(info.value.last_error, th.ConnectTimeout)
    assert srv.dial_times == [0.0, 3.0]


async def test_close_frame_goes_to_the_policy_and_bad_frames_are_counted(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_heartbeat")  # each at INFO; WARNING: rate-limited
    srv = MemoryServer(nursery, sockjs_server([], greeting="o"))  # second "o": protocol error
    causes: list[BaseException | None] = []
    async with open_sockjs(
        URL,
        heartbeat=th.Heartbeat.disabled(),
        reconnect=th.ReconnectPolicy.fixed(1.0, close_codes={3000: th.CloseAction.STOP}),
        dial=srv.dial,
    ) as ws:
        await trio.sleep(2.5)
        assert ws.statistics().protocol_errors == 3
        srv.handler = sockjs_server([])
        await ws.wait_connected()
        await ws.send("close me")
        with pytest.raises(th.ReconnectGaveUp) as info:
            await ws.receive()
        while True:
            try:
                event = ws.state_changes.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(event, th.Disconnected):
                causes.append(event.cause)
    last = info.value.last_error
    assert isinstance(last, th.ConnectionLost) and (last.code, last.reason) == (3000, "Go away!")
    assert all(isinstance(c, th.RemoteProtocolError) for c in causes[:3])
    assert len([r for r in caplog.records if "protocol error" in r.getMessage()]) == 3


async def test_user_on_connect_runs_after_open(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    frames: list[str] = []
    srv = MemoryServer(nursery, sockjs_server(frames))
    seen: list[str | bytes] = []

    async def hello(link: th.LiveLink) -> None:
        await link.send('["hello"]')
        seen.append(await link.receive())

    async with open_sockjs(
        URL, heartbeat=th.Heartbeat.disabled(), on_connect=hello, dial=srv.dial
    ) as ws:
        await ws.wait_connected()
        await ws.send("after")
        assert await ws.receive() == "after"
    assert seen == ["hello"]
    assert frames == ['["hello"]', '["after"]']


async def test_silence_is_detected_with_the_preset(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    srv = MemoryServer(nursery, sockjs_server([]))
    async with open_sockjs(
        URL,
        heartbeat=sockjs_heartbeat(interval=1.0, reply_timeout=0.5),
        reconnect=th.ReconnectPolicy.fixed(0.25),
        dial=srv.dial,
    ) as ws:
        await ws.wait_connected()
        srv.last.freeze()
        await trio.sleep(5)
        stats = ws.statistics()
    assert stats.connects >= 1 and len(srv.dial_times) >= 2
    assert srv.dial_times[1] == pytest.approx(1.75)  # ping at 1.0, dead at 1.5, retry 0.25 later
