"""The direct link over our frame codec: what goes out, and when, around a broken frame."""

from __future__ import annotations

import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, switching_protocols
from trio_heartbeat._transport.links import open_link


async def test_a_reply_to_the_messages_before_a_broken_frame_still_goes_out(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Autobahn 3.2 / 4.1.3 strictly: echo what came before the bad frame, then fail (1002)."""
    seen: list[object] = []
    done = trio.Event()

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(switching_protocols(request) + b"\x81\x05hello\xa1\x00\x89\x00")
        peer = Connection(ConnectionType.SERVER)
        while not any(isinstance(e, CloseConnection) for e in seen):
            peer.receive_data(await stream.receive_some(1024))
            seen.extend(peer.events())
        done.set()

    srv = RawServer(nursery, server)
    link = await open_link(
        nursery, th.Endpoint("ws://x/"), th.ConnectionOptions(), 10.0, dial=srv.dial
    )
    assert await link.receive() == "hello"
    await link.send("echo: hello")  # the bad frame (RSV2) is in our buffer, not yet judged
    try:
        await link.receive()
    except th.RemoteProtocolError as exc:
        assert "Reserved bit" in str(exc)
    else:
        raise AssertionError("the broken frame was not reported")
    await done.wait()
    assert [type(e) for e in seen] == [TextMessage, CloseConnection]
    assert isinstance(seen[0], TextMessage) and seen[0].data == "echo: hello"
    assert isinstance(seen[1], CloseConnection) and seen[1].code == 1002
    await link.abort()
