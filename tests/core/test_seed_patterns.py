"""Each heartbeat pattern users bring from other clients, in virtual time, with exact times."""

from __future__ import annotations

import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer


def _events(ws: th.ManagedWebSocket) -> list[th.StateChange]:
    out: list[th.StateChange] = []
    while True:
        try:
            out.append(ws.state_changes.receive_nowait())
        except trio.WouldBlock:
            return out


async def test_tradovate_empty_array_every_2_5_s(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, str | bytes]] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("o")

        async def heartbeats() -> None:
            await trio.sleep(1.0)
            await ws.send_message('a[{"e":"props"}]')
            while True:
                await trio.sleep(2.0)
                await ws.send_message("h")

        async with trio.open_nursery() as n:
            n.start_soon(heartbeats)
            while True:
                message = await ws.get_message()
                seen.append((trio.current_time(), message))

    srv = MemoryServer(nursery, server)
    async with th.open_managed_websocket(
        "ws://md.example/v1/websocket", heartbeat=th.Heartbeat.tradovate(), dial=srv.dial
    ) as ws:
        assert await ws.receive() == "o"
        assert await ws.receive() == 'a[{"e":"props"}]'  # "h" frames never reach the app
        await trio.sleep(9.1)
        assert [(t, m) for t, m in seen] == [(2.5, "[]"), (5.0, "[]"), (7.5, "[]"), (10.0, "[]")]
        assert ws.state == "connected"


async def test_talo_text_heartbeat_every_25_s_echo_swallowed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[float] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            message = await ws.get_message()
            if message == "v1.heartbeat":
                seen.append(trio.current_time())
                await trio.sleep(0.2)
                await ws.send_message("v1.heartbeat")
            else:
                await ws.send_message("echo:" + str(message))

    srv = MemoryServer(nursery, server)
    async with th.open_managed_websocket(
        "ws://api.example/", heartbeat=th.Heartbeat.talo(), dial=srv.dial
    ) as ws:
        await trio.sleep(60.0)
        await ws.send("hi")
        assert await ws.receive() == "echo:hi"  # the two echoed heartbeats were swallowed
        stats = ws.statistics()
    assert seen == [25.0, 50.0]
    assert stats.heartbeats_sent == 2 and stats.heartbeats_answered == 2
    assert stats.rtt_last is not None and abs(stats.rtt_last - 0.2) < 1e-9


async def test_ws_style_ping_every_30_s(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=30.0, reply_timeout=10.0),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        await trio.sleep(29.9)
        assert ws.statistics().heartbeats_sent == 0
        await trio.sleep(0.2)  # t = 30.1
        assert ws.statistics().heartbeats_sent == 1
        assert ws.statistics().heartbeats_answered == 1
        await trio.sleep(30.0)  # t = 60.1
        assert ws.statistics().heartbeats_sent == 2
        assert ws.statistics().heartbeats_missed == 0


async def test_heartcheck_idle_probe_then_reconnect_after_3_s(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    probes: list[float] = []

    async def silent(ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            if await ws.get_message() == "probe":
                probes.append(trio.current_time())

    srv = MemoryServer(nursery, silent)
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.idle_probe("probe", interval=10.0, reply_timeout=11.0),
        reconnect=th.ReconnectPolicy.fixed(3.0),
        dial=srv.dial,
    ) as ws:
        await trio.sleep(50.0)
        events = _events(ws)
    # probe at 10, dead at 21, reconnect at 24; probe at 34, dead at 45, reconnect at 48
    assert probes == [10.0, 34.0]
    assert srv.dial_times == [0.0, 24.0, 48.0]
    disconnects = [e for e in events if isinstance(e, th.Disconnected)]
    assert [type(e.cause) for e in disconnects] == [th.PeerUnresponsive, th.PeerUnresponsive]
    waits = [e.delay for e in events if isinstance(e, th.WaitingToReconnect)]
    assert waits == [3.0, 3.0]
    # never two reconnect loops: connects strictly alternate with disconnects
    kinds = [type(e).__name__ for e in events if isinstance(e, (th.Connected, th.Disconnected))]
    assert kinds == ["Connected", "Disconnected", "Connected", "Disconnected", "Connected"]


async def test_heartcheck_any_message_resets_idle_timer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    probes: list[float] = []

    async def chatty(ws: trio_websocket.WebSocketConnection) -> None:
        async def talk() -> None:
            for _ in range(3):
                await trio.sleep(6.0)
                await ws.send_message("news")

        async with trio.open_nursery() as n:
            n.start_soon(talk)
            while True:
                if await ws.get_message() == "probe":
                    probes.append(trio.current_time())
                    await ws.send_message("pong")

    srv = MemoryServer(nursery, chatty)
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.idle_probe("probe", interval=10.0, reply_timeout=11.0),
        dial=srv.dial,
    ) as ws:
        await trio.sleep(40.0)
        assert ws.state == "connected"
    # news at 6, 12, 18 keeps it from probing until 28; the reply at 28 resets to 38
    assert probes == [28.0, 38.0]


async def test_binary_0x01_server_heartbeat_answered_and_watched(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    answers: list[float] = []
    stop_at = 17.0

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        async def beat() -> None:
            while trio.current_time() + 5.0 < stop_at:
                await trio.sleep(5.0)
                await ws.send_message(b"\x01")

        async with trio.open_nursery() as n:
            n.start_soon(beat)
            while True:
                if await ws.get_message() == b"\x01":
                    answers.append(trio.current_time())

    srv = MemoryServer(nursery, server)
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.server_sent(
            b"\x01", interval=5.0, silence_timeout=6.0, answer=b"\x01"
        ),
        reconnect=th.ReconnectPolicy.fixed(100.0),
        dial=srv.dial,
    ) as ws:
        await trio.sleep(30.0)
        events = _events(ws)
    assert answers == [5.0, 10.0, 15.0]
    lost = [e for e in events if isinstance(e, th.Disconnected)]
    assert len(lost) == 1
    # last heartbeat at 15 s: dead at 15 + 5 + 1 = 21 s
    assert isinstance(lost[0].cause, th.PeerUnresponsive)
    waits = [e for e in events if isinstance(e, th.WaitingToReconnect)]
    assert waits and srv.dial_times == [0.0]


async def test_half_open_peer_detected_at_exact_bound(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    lost_at: list[float] = []
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(60.0),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        await trio.sleep(0.5)
        echo_server.last.freeze()  # socket stays open, bytes stop both ways
        async for event in ws.state_changes:
            if isinstance(event, th.Disconnected):
                lost_at.append(trio.current_time())
                assert isinstance(event.cause, th.PeerUnresponsive)
                assert event.code == 1006
                break
    # ping at 1.0 unanswered; dead at exactly 1.0 + 1.0
    assert lost_at == [2.0]
