"""Property: whatever frames a server sends after a valid upgrade, both engines deliver
the same messages and end with the same error (hypothesis, virtual time).

Two differences are by design. ``max_message_size`` is left out (no generated message
reaches it): the direct engine judges it in bytes from the frame header, before the
payload (and so before its UTF-8), trio-websocket in characters after decoding; the
frame codec's own tests cover the limit. And when a pong cannot be written (the peer
is gone), trio-websocket's reader stops, dropping the messages that arrived after the
ping, and ends with 1006 even when the peer's close frame came after the ping; the
direct engine still returns them, then ends with the peer's close code when its close
frame arrived (RFC 6455 7.1.5, as the WEBSOCKETS engine does), else the same 1006."""

from __future__ import annotations

import struct
from contextlib import suppress

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, switching_protocols
from trio_heartbeat._transport.frames import Close, FrameError, FrameReader


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """One server frame, often well-formed, sometimes broken in one place."""
    fin = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else True
    rsv = draw(st.sampled_from([0, 0, 0, 0x10, 0x20, 0x40]))
    opcode = draw(st.sampled_from([0x0, 0x1, 0x1, 0x2, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB]))
    if opcode == 0x1 and draw(st.booleans()):
        payload = draw(st.text(max_size=40)).encode()
    elif opcode == 0x8 and draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1002, 1005, 1008, 1011, 999, 4000, 5000]))
        payload = struct.pack("!H", code) + draw(st.binary(max_size=10))
    else:
        payload = draw(st.binary(max_size=200))
    masked = draw(st.integers(0, 9)) == 0  # a server must not mask
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([(0x80 if masked else 0) | size])
    else:
        head += bytes([(0x80 if masked else 0) | 126]) + struct.pack("!H", size)
    if masked:
        head += b"\x00\x00\x00\x00"
    return head + payload


def run(transport: th.Transport, data: bytes, close: bool) -> tuple[list[object], str, object]:
    """(messages received, the error's class name, its close code or None)."""

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(switching_protocols(request) + data)
        if not close:
            await trio.sleep_forever()

    async def main() -> tuple[list[object], str, object]:
        received: list[object] = []
        async with trio.open_nursery() as nursery:
            srv = RawServer(nursery, server)
            try:
                async with th.open_managed_websocket(
                    "ws://x/",
                    heartbeat=th.Heartbeat.disabled(),
                    reconnect=th.ReconnectPolicy(max_attempts=1),
                    options=th.ConnectionOptions(
                        transport=transport, max_message_size=1000, connect_timeout=5.0
                    ),
                    dial=srv.dial,
                ) as ws:
                    with trio.move_on_after(30):
                        while True:
                            received.append(await ws.receive())
                    error: BaseException | None = None
            except th.ReconnectGaveUp as gave_up:
                error = gave_up.last_error
            nursery.cancel_scope.cancel()
        code = error.code if isinstance(error, th.ConnectionLost) else None
        return received, type(error).__name__, code

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def peer_close_code(data: bytes) -> int | None:
    """The code of the first close frame in ``data`` (None if none is read)."""
    controls: list[object] = []
    with suppress(FrameError):
        FrameReader(1000).feed(data, [], controls)  # type: ignore[arg-type]
    return next((c.code for c in controls if isinstance(c, Close)), None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=4), st.booleans())
def test_both_engines_keep_one_contract_for_any_frames(sent: list[bytes], close: bool) -> None:
    data = b"".join(sent)
    direct = run(th.Transport.DIRECT, data, close)
    trio_websocket = run(th.Transport.TRIO_WEBSOCKET, data, close)
    (messages, *end), (tw_messages, *tw_end) = direct, trio_websocket
    if end != tw_end:  # only after a pong that could not be written, before a close
        assert tw_end == ["ConnectionLost", 1006] and b"\x89" in data
        assert end == ["ConnectionLost", peer_close_code(data)]
    assert messages[: len(tw_messages)] == tw_messages
    if len(messages) > len(tw_messages):  # only after a pong that could not be written
        assert end[0] == "ConnectionLost" and b"\x89" in data
    assert direct[1] in {"NoneType", "ConnectionLost", "RemoteProtocolError", "MessageTooBig"}
