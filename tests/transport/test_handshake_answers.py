"""Hostile answers to the upgrade, over both engines: only our errors, decided on the head.

Virtual time, in-memory peers that answer with raw bytes (``RawServer``).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, accept_token, switching_protocols

BROKEN_101 = {
    "no Upgrade header": (
        lambda req: (
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_token(req) + b"\r\n\r\n"
        ),
        "Missing header, 'Upgrade: websocket'",
    ),
    "wrong Sec-WebSocket-Accept": (
        lambda req: (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"
        ),
        "Bad accept token",
    ),
    "no Sec-WebSocket-Accept": (
        lambda req: (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        ),
        "Bad accept token",
    ),
    "unrequested extension": (
        lambda req: switching_protocols(req, b"Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "unrecognized extension permessage-deflate",
    ),
    "unrequested subprotocol": (
        lambda req: switching_protocols(req, b"Sec-WebSocket-Protocol: chat\r\n"),
        "unrecognized subprotocol chat",
    ),
    "10 MB of headers": (
        lambda req: b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Pad: " + b"a" * 10_000_000,
        "response head exceeds 16384 bytes",
    ),
    "no HTTP at all": (lambda req: b"\x00\xff\r\n\r\n", r"not an HTTP response: b'\x00\xff\r'"),
}


@pytest.mark.parametrize("case", BROKEN_101, ids=str)
async def test_a_broken_answer_is_a_bad_handshake_and_retried(
    case: str,
    transport: th.Transport,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    answer, reason = BROKEN_101[case]

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(answer(request))
        await trio.sleep_forever()

    srv = RawServer(nursery, server)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/",
            reconnect=th.ReconnectPolicy.fixed(1.0, max_attempts=2),
            options=th.ConnectionOptions(transport=transport),
            dial=srv.dial,
        ) as ws:
            await ws.wait_connected()
    err = info.value.last_error
    assert type(err) is th.BadHandshake
    assert err.reason == reason
    assert str(err) == f"bad WebSocket handshake from the server: {reason}"
    assert info.value.attempts == 2  # the peer's fault: retried, not a connect timeout
    assert trio.current_time() == 1.0


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 401 Unauthorized\r\n\r\nno length, never ends",
        b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\nheld open",
    ],
    ids=["no-length", "chunked-unfinished", "body-held-open"],
)
async def test_a_rejection_is_decided_by_the_status_line_not_the_body(
    answer: bytes,
    transport: th.Transport,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(answer)
        await trio.sleep_forever()  # the body never completes

    srv = RawServer(nursery, server)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/",
            reconnect=th.ReconnectPolicy(max_attempts=2),  # fails fast, never hangs
            options=th.ConnectionOptions(transport=transport),
            dial=srv.dial,
        ) as ws:
            await ws.wait_connected()
    err = info.value.last_error
    assert isinstance(err, th.HandshakeRejected) and err.status == int(answer[9:12])
    assert info.value.attempts == 1  # 401/403 stop (the policy table), at once
    assert trio.current_time() == 0.0  # not after connect_timeout


async def test_a_huge_retry_after_is_capped(
    transport: th.Transport, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(b"HTTP/1.1 503 Busy\r\nRetry-After: 1000000000\r\n\r\n")

    srv = RawServer(nursery, server)
    policy = th.ReconnectPolicy(max_attempts=3, retry_after_max=120.0)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/",
            reconnect=policy,
            options=th.ConnectionOptions(transport=transport),
            dial=srv.dial,
        ) as ws:
            await ws.wait_connected()
    assert info.value.attempts == 3
    assert trio.current_time() == 240.0  # two waits of the cap, not 31 years
    waits = []
    while True:
        try:
            event = ws.state_changes.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            break
        if isinstance(event, th.WaitingToReconnect):
            waits.append(event.delay)
    assert waits == [120.0, 120.0]


async def test_the_engine_never_sees_a_withheld_answer(
    transport: th.Transport, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A rejection followed by a 'body' shaped like a 101 and frames changes nothing."""

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(b"HTTP/1.1 404 Not Found\r\n\r\n" + switching_protocols(request))
        await trio.sleep_forever()

    srv = RawServer(nursery, server)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/",
            reconnect=th.ReconnectPolicy(max_attempts=2),
            options=th.ConnectionOptions(transport=transport),
            dial=srv.dial,
        ) as ws:
            await ws.wait_connected()
    err = info.value.last_error
    assert isinstance(err, th.HandshakeRejected) and err.status == 404
    assert info.value.attempts == 1


async def test_a_dial_that_raises_oserror_is_a_connect_error(
    transport: th.Transport, autojump_clock: trio.testing.MockClock
) -> None:
    async def refused() -> trio.abc.Stream:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x:9/",
            reconnect=th.ReconnectPolicy.fixed(1.0, max_attempts=2),
            options=th.ConnectionOptions(transport=transport),
            dial=refused,
        ) as ws:
            await ws.wait_connected()
    err = info.value.last_error
    assert type(err) is th.ConnectError
    assert str(err) == "cannot connect to x: [Errno 111] Connection refused"
    assert info.value.attempts == 2
