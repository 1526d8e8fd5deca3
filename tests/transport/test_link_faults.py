"""Frame faults at the link level, over both engines: the peer's fault is never a close code."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, switching_protocols
from trio_heartbeat._transport.links import open_link, parse_url


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
    link = await open_link(nursery, parse_url("ws://x/"), srv.dial, options, 10.0)
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
    with pytest.raises(th.ConnectionLost):
        await link.send("the link is gone")
    await link.abort()
