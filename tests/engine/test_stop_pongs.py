"""The testing aid behind the CLI's --stop-pongs-after, on each engine that has it:
a link answers N pings in all, then none; trio-websocket's link refuses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio

import trio_heartbeat as th
from tests.engine.rawserver import RawServer, frame, memory_pair
from trio_heartbeat._client.live_link import LiveLink
from trio_heartbeat._transport.common import ObservedStream, Target, parse_url
from trio_heartbeat._transport.direct import direct_handshake
from trio_heartbeat._transport.pump import PumpedLink
from trio_heartbeat._transport.trio_websocket import TrioWebsocketLink
from trio_heartbeat._transport.websockets_engine import websockets_handshake

TEXT, PING, PONG = 0x1, 0x9, 0xA
Handshake = Callable[[ObservedStream, Target, th.ConnectionOptions], Awaitable[PumpedLink]]
ENGINES: dict[str, tuple[Handshake, th.ConnectionOptions]] = {
    "direct": (direct_handshake, th.ConnectionOptions()),
    "websockets": (websockets_handshake, th.ConnectionOptions(transport=th.Transport.WEBSOCKETS)),
}


async def open_link(engine: str) -> tuple[PumpedLink, RawServer]:
    handshake, options = ENGINES[engine]
    stream, server = memory_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.accept)
        link = await handshake(stream, parse_url("ws://example.test/"), options)
    return link, server


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_answers_n_pings_in_all_then_none(engine: str) -> None:
    link, server = await open_link(engine)
    await server.send(frame(PING, b"p1") + frame(TEXT, b"a"))
    assert await link.receive() == "a"
    link.stop_pongs_after(2)  # the ping answered already counts
    await server.send(frame(PING, b"p2") + frame(PING, b"p3") + frame(PING, b"p4"))
    await server.send(frame(TEXT, b"b"))
    assert await link.receive() == "b"  # unanswered pings do not stop receiving
    await link.send("end")
    assert await server.read_frames(3) == [(PONG, b"p1"), (PONG, b"p2"), (TEXT, b"end")]


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_zero_through_the_live_link_answers_none(engine: str) -> None:
    link, server = await open_link(engine)
    LiveLink(link, None, 1, None)._stop_pongs_after(0)  # type: ignore[arg-type]
    await server.send(frame(PING, b"p1") + frame(TEXT, b"a"))
    assert await link.receive() == "a"
    await link.send("end")
    assert await server.read_frames(1) == [(TEXT, b"end")]


def test_live_link_refuses_it_on_the_trio_websocket_link() -> None:
    assert not issubclass(TrioWebsocketLink, PumpedLink)  # it answers pings in its own task
    live = LiveLink(object(), None, 1, None)  # type: ignore[arg-type]
    with pytest.raises(th.UsageError, match="needs Transport"):
        live._stop_pongs_after(1)
