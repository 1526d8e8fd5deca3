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


async def test_the_peers_close_code_survives_a_pong_that_cannot_be_written() -> None:
    """A ping, then the peer's close (4001), then it hangs up: our pong fails to go
    out, and the link still ends with the peer's code, as on WEBSOCKETS (the
    reconnect policy judges that code), not with 1006."""
    from trio_heartbeat._transport.common import ObservedStream
    from trio_heartbeat._transport.direct import DirectLink

    client, server = trio.testing.memory_stream_pair()
    link = DirectLink(ObservedStream(client), None, th.ConnectionOptions())
    await server.send_all(b"\x89\x00" + b"\x88\x05\x0f\xa1bye")  # ping, close 4001 "bye"
    await server.aclose()  # our writes now fail
    try:
        await link.receive()
    except th.ConnectionLost as exc:
        assert (exc.code, exc.reason) == (4001, "bye")
    else:
        raise AssertionError("the close was not reported")
