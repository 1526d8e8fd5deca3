"""The websockets engine (Transport.WEBSOCKETS) against a byte-level server: what it
reassembles, answers, refuses, and which of our errors each failure becomes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.engine.rawserver import RawServer, deflated, frame, memory_pair
from trio_heartbeat._transport.common import parse_url
from trio_heartbeat._transport.websockets_engine import WebsocketsLink, websockets_handshake

OPTIONS = th.ConnectionOptions(transport=th.Transport.WEBSOCKETS, max_message_size=1000)
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


async def open_with(
    serve: Callable[[RawServer], Awaitable[None]],
    options: th.ConnectionOptions = OPTIONS,
    url: str = "ws://example.test/path?q=1",
) -> tuple[WebsocketsLink, RawServer]:
    stream, server = memory_pair()
    failure: list[BaseException] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, server)
        try:
            link = await websockets_handshake(stream, parse_url(url), options)
        except th.HeartbeatError as exc:
            failure.append(exc)
    if failure:
        raise failure[0]
    return link, server


async def accept(server: RawServer) -> None:
    await server.accept()


async def test_request_carries_resource_host_subprotocols_and_headers() -> None:
    options = th.ConnectionOptions(
        transport=th.Transport.WEBSOCKETS, subprotocols=["a", "b"], extra_headers=[("X-T", "1")]
    )

    async def serve(server: RawServer) -> None:
        await server.accept("Sec-WebSocket-Protocol: b")

    link, server = await open_with(serve, options)
    assert server.request.startswith(b"GET /path?q=1 HTTP/1.1\r\n")
    assert server.header("Host") == "example.test"
    assert server.header("Sec-WebSocket-Protocol") == "a, b"
    assert server.header("X-T") == "1"
    assert server.header("Sec-WebSocket-Extensions") is None  # compression is off by default
    assert link.subprotocol == "b"


async def test_no_frame_content_or_header_is_logged_even_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    options = th.ConnectionOptions(
        transport=th.Transport.WEBSOCKETS, extra_headers=[("Authorization", "Bearer s3cr3t")]
    )

    async def serve(server: RawServer) -> None:
        await server.accept(trailing=frame(TEXT, b"s3cr3t in"))

    link, _ = await open_with(serve, options)
    assert await link.receive() == "s3cr3t in"
    await link.send("s3cr3t out")
    assert all("s3cr3t" not in record.getMessage() for record in caplog.records)


async def test_frames_in_the_handshake_answer_are_not_lost() -> None:
    async def serve(server: RawServer) -> None:
        await server.accept(trailing=frame(TEXT, b"hello") + frame(BINARY, b"\x00\x01"))

    link, _ = await open_with(serve)
    assert await link.receive() == "hello"
    assert await link.receive() == b"\x00\x01"


async def test_broken_frame_in_the_handshake_answer_fails_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def serve(server: RawServer) -> None:
        await server.accept(trailing=b"\xe2\x00")  # RSV bits set, then the server waits

    link, server = await open_with(serve)
    with trio.fail_after(1), pytest.raises(th.RemoteProtocolError, match="reserved bits"):
        await link.receive()  # not a wait for more bytes
    assert [op for op, _ in await server.read_frames(1)] == [CLOSE]


async def test_fragments_are_reassembled_and_control_frames_interleave() -> None:
    pongs: list[bytes] = []
    link, server = await open_with(accept)
    link.on_pong = pongs.append
    await server.send(
        frame(TEXT, "h\u00e9".encode()[:2], fin=False)  # a split character
        + frame(PING, b"p1")
        + frame(CONT, "h\u00e9".encode()[2:] + b"!", fin=False)
        + frame(PONG, b"hb-1")
        + frame(CONT, b"?")
        + frame(BINARY, b"ab", fin=False)
        + frame(CONT, b"cd")
    )
    assert await link.receive() == "h\u00e9!?"
    assert await link.receive() == b"abcd"
    assert pongs == [b"hb-1"]
    assert await server.read_frames(1) == [(PONG, b"p1")]  # the ping was answered


async def test_send_and_ping_frames_are_masked_and_ordered() -> None:
    link, server = await open_with(accept)
    await link.send("t\u00e9")
    await link.send(b"\xff")
    await link.send_ping(b"hb-7", 1.0)
    assert await server.read_frames(3) == [
        (TEXT, "t\u00e9".encode()),
        (BINARY, b"\xff"),
        (PING, b"hb-7"),
    ]
    assert link.stream.bytes_out == len(server.received) + len(server.request)


async def test_invalid_utf8_fails_at_its_fragment_after_earlier_messages() -> None:
    link, server = await open_with(accept)
    await server.send(frame(TEXT, b"ok") + frame(TEXT, b"\xce", fin=False) + frame(CONT, b"\xff"))
    assert await link.receive() == "ok"  # delivered before the error
    with pytest.raises(th.RemoteProtocolError, match="UTF-8"):
        await link.receive()
    with pytest.raises(th.ConnectionLost) as info:
        await link.receive()
    assert info.value.code == 1006  # then a loss, as on every engine
    ((opcode, payload),) = await server.read_frames(1)
    assert opcode == CLOSE and payload[:2] == b"\x03\xef"  # 1007 told the peer


async def test_broken_frame_is_a_remote_protocol_error_with_1002() -> None:
    link, server = await open_with(accept)
    await server.send(b"\x83\x00")  # opcode 3 is reserved
    with pytest.raises(th.RemoteProtocolError):
        await link.receive()
    with pytest.raises(th.ConnectionLost) as info:
        await link.send("late")
    assert info.value.code == 1006  # never a stopping code the peer did not send
    ((opcode, payload),) = await server.read_frames(1)
    assert opcode == CLOSE and payload[:2] == b"\x03\xea"  # 1002


async def test_oversized_message_closes_with_1009() -> None:
    link, server = await open_with(accept)
    await server.send(frame(BINARY, b"x" * 600, fin=False) + frame(CONT, b"x" * 600))
    with pytest.raises(th.MessageTooBig) as info:
        await link.receive()
    assert info.value.limit == 1000
    ((opcode, payload),) = await server.read_frames(1)
    assert opcode == CLOSE and payload[:2] == b"\x03\xf1"  # 1009


async def test_close_frame_is_echoed_and_ends_the_link() -> None:
    link, server = await open_with(accept)
    await server.send(frame(CLOSE, b"\x0f\xa0bye"))  # 4000
    with pytest.raises(th.ConnectionLost) as info:
        await link.receive()
    assert (info.value.code, info.value.reason) == (4000, "bye")
    assert await server.read_frames(1) == [(CLOSE, b"\x0f\xa0bye")]


async def test_close_inside_a_fragmented_message_is_a_normal_close() -> None:
    """RFC 6455 5.4: a control frame may come between fragments, a close too (Autobahn 7.1.5)."""
    link, server = await open_with(accept)
    await server.send(frame(TEXT, b"frag", fin=False) + frame(CLOSE, b"\x03\xe8"))
    with pytest.raises(th.ConnectionLost) as info:
        await link.receive()
    assert info.value.code == 1000  # not 1002
    assert await server.read_frames(1) == [(CLOSE, b"\x03\xe8")]


async def test_eof_without_close_is_1006() -> None:
    link, server = await open_with(accept)
    await server.stream.aclose()
    with pytest.raises(th.ConnectionLost) as info:
        await link.receive()
    assert info.value.code == 1006


async def test_polite_close_waits_for_the_peer_then_aborts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    link, server = await open_with(accept)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.close, 1000, "done", 5.0)
        await trio.testing.wait_all_tasks_blocked()
        assert await server.read_frames(1) == [(CLOSE, b"\x03\xe8done")]
        await server.send(frame(CLOSE, b"\x03\xe8"))
    assert trio.current_time() == 0.0  # not the 5 s timeout: the peer answered
    assert link.stream.closed_event.is_set()


async def test_handshake_rejection_keeps_status_and_retry_after() -> None:
    async def serve(server: RawServer) -> None:
        await server.read_request()
        await server.send(b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\nno")

    with pytest.raises(th.HandshakeRejected) as info:
        await open_with(serve)
    assert info.value.status == 503 and info.value.retry_after == 7.0


async def test_rejection_without_length_ends_at_eof() -> None:
    async def serve(server: RawServer) -> None:
        await server.read_request()
        await server.send(b"HTTP/1.1 403 Forbidden\r\n\r\nsecret-token")
        await server.stream.aclose()

    with pytest.raises(th.HandshakeRejected) as info:
        await open_with(serve)
    assert info.value.status == 403 and "secret" not in str(info.value)


async def test_bad_accept_key_is_a_connect_error_without_header_values() -> None:
    async def serve(server: RawServer) -> None:
        await server.read_request()
        await server.send(
            b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3cr3t\r\n\r\n"
        )

    with pytest.raises(th.ConnectError) as info:
        await open_with(serve)
    assert type(info.value) is th.BadHandshake and "s3cr3t" not in str(info.value)


async def test_stream_closed_during_handshake_is_a_connect_error() -> None:
    async def serve(server: RawServer) -> None:
        await server.read_request()
        await server.stream.aclose()

    with pytest.raises(th.ConnectError, match="closed during the opening handshake"):
        await open_with(serve)


DEFLATE_ANSWER = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"
COMPRESSED = th.ConnectionOptions(
    transport=th.Transport.WEBSOCKETS,
    max_message_size=1000,
    compression=th.PerMessageDeflate(server_max_window_bits=10, client_no_context_takeover=True),
)


async def test_compression_offer_and_compressed_messages_both_ways() -> None:
    async def serve(server: RawServer) -> None:
        await server.accept(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"
        )

    link, server = await open_with(serve, COMPRESSED)
    offer = server.header("Sec-WebSocket-Extensions")
    assert offer is not None and offer.split("; ") == [
        "permessage-deflate",
        "client_no_context_takeover",
        "server_max_window_bits=10",
        "client_max_window_bits",
    ]
    await server.send(frame(TEXT, deflated(b"a" * 900), rsv1=True))
    assert await link.receive() == "a" * 900
    await link.send(b"b" * 900)
    ((opcode, payload),) = await server.read_frames(1)
    assert opcode == BINARY and len(payload) < 100  # compressed on the wire


async def test_decompression_is_bounded_by_max_message_size() -> None:
    async def serve(server: RawServer) -> None:
        await server.accept(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"
        )

    link, server = await open_with(serve, COMPRESSED)
    bomb = deflated(bytes(10_000_000))  # 10 MB of zeros in about 10 KB
    assert len(bomb) < 20_000
    await server.send(frame(BINARY, bomb, rsv1=True))
    with pytest.raises(th.MessageTooBig):
        await link.receive()


async def test_server_declining_compression_opens_uncompressed() -> None:
    link, server = await open_with(accept, COMPRESSED)
    await link.send(b"b" * 900)
    assert await server.read_frames(1) == [(BINARY, b"b" * 900)]


def test_compression_needs_the_websockets_engine_and_valid_bits() -> None:
    with pytest.raises(ValueError, match=r"Transport\.WEBSOCKETS"):
        th.ConnectionOptions(compression=th.PerMessageDeflate())  # DIRECT, the default
    with pytest.raises(ValueError, match="client_max_window_bits"):
        th.PerMessageDeflate(client_max_window_bits=8)
    with pytest.raises(ValueError, match="server_max_window_bits"):
        th.PerMessageDeflate(server_max_window_bits=16)
    assert th.PerMessageDeflate(server_max_window_bits=8).server_max_window_bits == 8
