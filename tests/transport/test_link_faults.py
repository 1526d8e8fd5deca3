"""Frame faults at the link level, over both engines: the peer's fault is never a close code."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, switching_protocols
from trio_heartbeat._transport.links import open_link


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"\x83\x00", th.RemoteProtocolError),  # reserved opcode
        (b"\xc1\x00", th.RemoteProtocolError),  # reserved bit RSV1 set, no extension
        (b"\x81\x05" + b"x" * 5, th.MessageTooBig),  # over max_message_size=4
    ],
    ids=["opcode", "rsv1", "too-big"],
)
async def test_a_write_after_our_close_is_a_1006_loss_and_receive_names_the_fault(
    frame: bytes,
    error: type[th.RemoteProtocolError],
    transport: th.Transport,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """trio-websocket's reader closes before our pump looks: a writer that notices first
    must not end the link with a close code (1002 stops) the peer never sent."""

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(switching_protocols(request) + frame)
        await trio.sleep_forever()

    srv = RawServer(nursery, server)
    options = th.ConnectionOptions(transport=transport, max_message_size=4)
    link = await open_link(nursery, th.Endpoint("ws://x/"), options, 10.0, dial=srv.dial)
    await trio.testing.wait_all_tasks_blocked()  # trio-websocket's reader has seen the frame
    lost = None
    try:
        await link.send("written after the bad frame arrived")
    except th.ConnectionLost as exc:
        lost = exc
    if transport is th.Transport.TRIO_WEBSOCKET:  # its reader already closed the link
        assert lost is not None and lost.code == 1006
        assert lost.reason.startswith("link ended: ")
    else:  # the direct link parses frames only when asked to receive
        assert lost is None
    with pytest.raises(error) as info:
        await link.receive()
    assert type(info.value) is error
    with pytest.raises(th.ConnectionLost) as after:
        await link.send("the link is gone")
    assert after.value.code == 1006  # the peer sent no close frame
    await link.abort()


@pytest.mark.parametrize("then_close", [False, True], ids=["held-open", "then-eof"])
async def test_messages_before_a_broken_frame_are_delivered_first(
    then_close: bool,
    transport: th.Transport,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Found by the frame fuzz: the direct link dropped what arrived with the bad frame."""

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        good = b"\x81\x05hello\x82\x00"  # "hello", then b""
        await stream.send_all(switching_protocols(request) + good + b"\x83\x00")
        if not then_close:
            await trio.sleep_forever()

    srv = RawServer(nursery, server)
    options = th.ConnectionOptions(transport=transport)
    link = await open_link(nursery, th.Endpoint("ws://x/"), options, 10.0, dial=srv.dial)
    assert await link.receive() == "hello"
    assert await link.receive() == b""
    with pytest.raises(th.RemoteProtocolError) as info:
        await link.receive()
    assert str(info.value) == "broken WebSocket frame from the peer: Invalid opcode 0x3"
    with pytest.raises(th.ConnectionLost) as after:  # the error is raised once
        await link.receive()
    assert after.value.code == 1006
    assert after.value.reason == f"link ended: {info.value}"
    with pytest.raises(th.ConnectionLost):
        await link.send("the link is gone")
    await link.abort()


async def test_messages_before_a_failed_pong_are_delivered_first(
    transport: th.Transport, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Found by the frame fuzz: a message, a ping, then the peer is gone; the pong
    cannot be written, and the direct link used to drop the message with the link."""

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(switching_protocols(request) + b"\x82\x03abc\x89\x00")

    srv = RawServer(nursery, server)
    options = th.ConnectionOptions(transport=transport)
    link = await open_link(nursery, th.Endpoint("ws://x/"), options, 10.0, dial=srv.dial)
    await trio.testing.wait_all_tasks_blocked()  # the server side is closed by now
    assert await link.receive() == b"abc"
    with pytest.raises(th.ConnectionLost) as info:
        await link.receive()
    assert info.value.code == 1006
    await link.abort()
