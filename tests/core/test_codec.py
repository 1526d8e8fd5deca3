"""The codec seam: framing, batching, protocol errors and server-ended sessions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from tests.core.test_reconnect import drain_events
from tests.transport.rawserver import RawServer, close_code, switching_protocols


class ArrayCodec:
    """A toy SockJS-like framing: inbound ``a[...]`` arrays, outbound JSON arrays."""

    def decode(self, message: str | bytes) -> Iterable[str | bytes]:
        if message == "bye":
            raise th.SessionEnded(1000, "server said bye")
        if isinstance(message, str) and message.startswith("c"):
            code, reason = json.loads(message[1:])
            raise th.ConnectionLost(code, reason)
        if not isinstance(message, str) or not message.startswith("a"):
            raise th.RemoteProtocolError(f"unknown frame {message!r}")
        return json.loads(message[1:])  # type: ignore[no-any-return]

    def encode(self, messages: Sequence[str | bytes]) -> str | bytes:
        return json.dumps(list(messages))


async def test_frames_are_split_and_batched(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    frames: list[str | bytes] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message('a["x","y","z"]')
        while True:
            frames.append(await ws.get_message())

    srv = MemoryServer(nursery, server)
    srv.refuse = True
    async with th.open_managed_websocket(
        "ws://x/",
        codec=ArrayCodec,
        options=th.ConnectionOptions(send_batch_size=3),
        reconnect=th.ReconnectPolicy.fixed(1.0),
        dial=srv.dial,
    ) as ws:
        for i in range(5):
            ws.send_nowait(f"m{i}")  # queued while the server refuses
        srv.refuse = False
        assert [await ws.receive() for _ in range(3)] == ["x", "y", "z"]
        await ws.drain()
        await trio.testing.wait_all_tasks_blocked()
        assert ws.statistics().messages_out == 5
    assert frames == ['["m0", "m1", "m2"]', '["m3", "m4"]']


async def test_bad_frame_is_counted_and_the_link_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("garbage")
        await trio.sleep_forever()

    srv = MemoryServer(nursery, server)
    async with th.open_managed_websocket(
        "ws://x/", codec=ArrayCodec, reconnect=th.ReconnectPolicy.fixed(1.0), dial=srv.dial
    ) as ws:
        await trio.sleep(2.5)
        stats = ws.statistics()
        causes = [e.cause for e in drain_events(ws) if isinstance(e, th.Disconnected)]
    assert stats.protocol_errors == 3
    assert all(isinstance(c, th.RemoteProtocolError) for c in causes)
    assert srv.dial_times == [0.0, 1.0, 2.0]


async def test_protocol_close_frame_goes_through_the_close_code_table(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message('c[1008, "no"]')
        await trio.sleep_forever()

    srv = MemoryServer(nursery, server)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket("ws://x/", codec=ArrayCodec, dial=srv.dial) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, th.ConnectionLost)
    assert info.value.last_error.code == 1008


async def test_session_ended_by_server_is_not_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message('a["last"]')
        await ws.send_message("bye")
        await trio.sleep_forever()

    srv = MemoryServer(nursery, server)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket("ws://x/", codec=ArrayCodec, dial=srv.dial) as ws:
            assert await ws.receive() == "last"
            await ws.receive()
    assert isinstance(info.value.last_error, th.SessionEnded)
    assert srv.dials == 1


async def test_message_the_codec_cannot_encode_is_dropped_and_reported(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    frames: list[str | bytes] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            frames.append(await ws.get_message())

    class Picky(ArrayCodec):
        def encode(self, messages: Sequence[str | bytes]) -> str | bytes:
            if any(isinstance(m, bytes) for m in messages):
                raise ValueError("text only")
            return super().encode(messages)

    srv = MemoryServer(nursery, server)
    async with th.open_managed_websocket("ws://x/", codec=Picky, dial=srv.dial) as ws:
        await ws.wait_connected()
        await ws.send(b"\xff")
        await ws.send("fine")
        await ws.drain()
        await trio.testing.wait_all_tasks_blocked()
        stats = ws.statistics()
        drops = [e for e in drain_events(ws) if isinstance(e, th.MessagesDropped)]
    assert frames == ['["fine"]']
    assert stats.messages_dropped == 1 and stats.connects == 1
    assert len(drops) == 1 and "text only" in drops[0].reason


async def test_broken_websocket_frame_is_a_counted_protocol_error(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """One contract over both engines: close 1002 sent, counted, retried by the policy."""
    replies: list[bytes] = []

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(switching_protocols(request))
        await stream.send_all(b"\x83\x00")  # opcode 3 is reserved: a broken frame
        replies.append(bytes(await stream.receive_some()))
        await trio.sleep_forever()

    srv = RawServer(nursery, server)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=th.ReconnectPolicy(max_attempts=2, wait_initial=0.1), dial=srv.dial
        ) as ws:
            await ws.receive()
    await trio.testing.wait_all_tasks_blocked()  # the server has read the last close
    err = info.value.last_error
    assert isinstance(err, th.RemoteProtocolError) and not isinstance(err, th.MessageTooBig)
    # The engine's own words follow the prefix (wsproto: "Invalid opcode 0x3").
    assert str(err).startswith("broken WebSocket frame from the peer: ")
    assert "opcode" in str(err).lower()
    assert ws.statistics().protocol_errors == 2
    assert [close_code(reply) for reply in replies] == [1002, 1002]
