"""Engine.IO and Socket.IO clients over in-memory fake servers, in virtual time."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import Handler, MemoryServer
from trio_heartbeat.adapters.engineio import EngineIOCodec, open_engineio
from trio_heartbeat.adapters.socketio import RequestTimeout, open_socketio
from trio_heartbeat.protocols import engineio as eio
from trio_heartbeat.protocols import socketio as sio

URL = "ws://x/engine.io/?EIO=4&transport=websocket"


def open_frame(ping_interval: float = 1.0, ping_timeout: float = 1.0) -> str:
    packet = eio.EngineOpen(sid="s1", ping_interval=ping_interval, ping_timeout=ping_timeout)
    frame = eio.encode_packet(packet)
    assert isinstance(frame, str)
    return frame


def engine_server(
    pongs: list[float], *, pinging: bool = True, ping_interval: float = 1.0, greeting: str = ""
) -> Handler:
    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(open_frame(ping_interval))
        if greeting:
            await ws.send_message(greeting)

        async def ping() -> None:
            while pinging:
                await trio.sleep(ping_interval)
                await ws.send_message("2")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ping)
            while True:
                frame = await ws.get_message()
                if frame == "3":
                    pongs.append(trio.current_time())
                elif frame == "4bye":
                    await ws.send_message("1")
                elif isinstance(frame, bytes) or frame.startswith("4"):
                    await ws.send_message(frame)

    return handler


def test_engineio_codec() -> None:
    codec = EngineIOCodec()
    with pytest.raises(th.RemoteProtocolError):
        codec.decode("4early")
    assert list(codec.decode(open_frame())) == [] and codec.opened.is_set()
    assert list(codec.decode("4hi")) == ["hi"] and list(codec.decode(b"\x00")) == [b"\x00"]
    assert list(codec.decode("6")) == [] and list(codec.decode("3")) == []
    for bad in ("2probe", "5", "9", open_frame()):
        with pytest.raises(th.RemoteProtocolError):
            codec.decode(bad)
    with pytest.raises(th.SessionEnded):
        codec.decode("1")
    assert codec.encode(["x"]) == "4x" and codec.encode([b"y"]) == b"y"


async def test_engineio_echo_pongs_and_dead_after_bound(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    pongs: list[float] = []
    srv = MemoryServer(nursery, engine_server(pongs))
    async with open_engineio(
        URL,
        ping_interval=1.0,
        ping_timeout=1.0,
        reconnect=th.ReconnectPolicy.fixed(0.5),
        dial=srv.dial,
    ) as client:
        await client.send("hello")
        await client.send(b"\x01\x02")
        assert await client.receive() == "hello"
        assert await client.receive() == b"\x01\x02"
        assert client.open_packet is not None and client.open_packet.sid == "s1"
        await trio.sleep(3.5)
        assert pongs == [1.0, 2.0, 3.0]
        srv.last.freeze()  # silent from 3.5: last ping at 3.0, dead at 5.0
        await trio.sleep(2.1)  # not 2.0: the redial happens at exactly t = 5.5
        assert srv.dial_times == [0.0, 5.5]


async def test_engineio_adopts_the_servers_ping_timing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Configured 10 s + 5 s, but the server announces 30 s + 1 s: the link uses 31 s."""
    srv = MemoryServer(nursery, engine_server([], ping_interval=30.0))
    async with open_engineio(
        URL,
        ping_interval=10.0,
        ping_timeout=5.0,
        reconnect=th.ReconnectPolicy.fixed(100.0),
        dial=srv.dial,
    ) as client:
        await client.ws.wait_connected()
        await trio.sleep(70.0)  # pings at 30 and 60: alive, though 15 s passed in silence
        assert client.ws.statistics().connects == 1
        srv.last.freeze()  # the last ping was at 60: dead at 60 + 31
        lost_at = None
        async for event in client.ws.state_changes:
            if isinstance(event, th.Disconnected):
                lost_at = trio.current_time()
                assert isinstance(event.cause, th.PeerUnresponsive)
                break
    assert lost_at == 91.0
    assert srv.dial_times == [0.0]


async def test_engineio_server_close_is_not_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    srv = MemoryServer(nursery, engine_server([]))
    async with open_engineio(URL, ping_interval=1.0, ping_timeout=1.0, dial=srv.dial) as client:
        await client.send("bye")
        with pytest.raises(th.ReconnectGaveUp) as info:
            await client.receive()
    assert isinstance(info.value.last_error, th.SessionEnded)
    assert srv.dials == 1


def socketio_server(log: list[str], *, refuse: bool = False, kick_on: str = "kick") -> Handler:
    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(open_frame())
        decoder = sio.SioDecoder()
        while True:
            frame = await ws.get_message()
            assert isinstance(frame, str)
            if frame == "3":
                continue
            log.append(frame)
            packet = decoder.receive(frame[1:])
            if isinstance(packet, sio.SioConnect):
                if refuse:
                    await ws.send_message('444{"message":"not allowed"}')
                else:
                    await ws.send_message('40{"sid":"abc"}')
            elif isinstance(packet, sio.SioEvent):
                if packet.name == kick_on:
                    await ws.send_message("41")
                elif packet.name == "slow":
                    continue
                elif packet.ack_id is not None:
                    await ws.send_message(sio.encode_ack(packet.ack_id, *packet.args))
                else:
                    for out in sio.encode_packet(sio.SioEvent(packet.name, (*packet.args, b"!"))):
                        await ws.send_message(out)

    return handler


async def test_socketio_connect_emit_call_and_binary_events(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []
    srv = MemoryServer(nursery, socketio_server(log))
    async with open_socketio(
        URL, auth={"token": "t"}, ping_interval=1.0, ping_timeout=1.0, dial=srv.dial
    ) as client:
        await client.emit("chat", "hello", {"n": 1})
        assert await client.call("add", 1, 2) == (1, 2)
        event = await client.next_event()
        assert (event.name, event.args) == ("chat", ("hello", {"n": 1}, b"!"))
        assert client.sid == "abc"
        start = trio.current_time()
        with pytest.raises(RequestTimeout):
            await client.call("slow", timeout=2.0)
        assert trio.current_time() - start == 2.0
        with pytest.raises(th.UsageError):
            await client.emit("connect")
    assert log[0] == '40{"token":"t"}'
    assert log[1] == '42["chat","hello",{"n":1}]'
    assert json.loads(log[2][3:]) == ["add", 1, 2] and log[2].startswith("420")


async def test_socketio_server_disconnect_ends_the_session(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    srv = MemoryServer(nursery, socketio_server([]))
    async with open_socketio(URL, ping_interval=1.0, ping_timeout=1.0, dial=srv.dial) as client:
        with pytest.raises(th.ConnectionLost):
            await client.call("kick")
        with pytest.raises(th.ReconnectGaveUp) as info:
            await client.next_event()
    assert isinstance(info.value.last_error, th.SessionEnded)
    assert srv.dials == 1


async def test_socketio_connect_error_is_not_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    srv = MemoryServer(nursery, socketio_server([], refuse=True))
    async with open_socketio(URL, ping_interval=1.0, ping_timeout=1.0, dial=srv.dial) as client:
        with pytest.raises(th.ReconnectGaveUp) as info:
            await client.ws.wait_connected()
    assert "not allowed" in str(info.value.last_error)
    assert srv.dials == 1
