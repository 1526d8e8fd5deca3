"""The client frame codec (`_transport/frames.py`): what it writes, reads and refuses."""

from __future__ import annotations

import os
import struct
import tracemalloc
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

from trio_heartbeat._core.close_codes import may_be_sent
from trio_heartbeat._transport import frames
from trio_heartbeat._transport.frames import (
    Close,
    FrameError,
    FrameReader,
    Opcode,
    Pong,
    close_frame,
    control_frame,
    message_frame,
)

Ping_ = frames.Ping  # ours (wsproto's Ping is the server's view)


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, first: int = 0) -> bytes:
    """An unmasked frame as a server writes it (``first``: extra bits of byte 0)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | first | opcode
    if n < 126:
        head = struct.pack("!BB", b0, n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def read(data: bytes, limit: int = 1 << 20) -> tuple[list[str | bytes], list[object]]:
    """Feed ``data`` whole to a fresh reader: (messages, control frames)."""
    messages: list[str | bytes] = []
    controls: list[object] = []
    FrameReader(limit).feed(data, messages, controls)  # type: ignore[arg-type]
    return messages, controls


def refused(data: bytes, limit: int = 1 << 20) -> FrameError:
    with pytest.raises(FrameError) as info:
        read(data, limit)
    return info.value


def server_reads(wire: bytes) -> list[object]:
    """What a server-side wsproto makes of our client bytes."""
    server = Connection(ConnectionType.SERVER)
    server.receive_data(wire)
    return list(server.events())


# -- writing -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", [bytes, str])
def test_a_message_frame_is_one_masked_frame_a_server_reads_back(size: int, kind: type) -> None:
    message = (
        "é" * (size // 2)
        if kind is str
        else bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    )
    wire = message_frame(message)
    assert wire[1] & 0x80  # masked, as a client must
    (event,) = server_reads(wire)
    assert isinstance(event, TextMessage if kind is str else BytesMessage)
    assert isinstance(event, Message)
    assert event.message_finished
    assert event.data == message


@given(st.one_of(st.binary(max_size=300), st.text(max_size=100)))
def test_any_message_round_trips_through_a_server(message: str | bytes) -> None:
    (event,) = server_reads(message_frame(message))
    assert isinstance(event, Message)
    assert event.data == message


def test_a_str_subclass_is_text() -> None:
    class Name(str):
        pass

    (event,) = server_reads(message_frame(Name("ab")))
    assert isinstance(event, TextMessage) and event.data == "ab"


def test_every_frame_gets_a_fresh_mask_key() -> None:
    keys = {message_frame(b"same")[2:6] for _ in range(50)}
    assert len(keys) > 45  # 32 random bits each time


@given(st.binary(max_size=125))
def test_ping_and_pong_carry_their_payload(payload: bytes) -> None:
    (ping,) = server_reads(control_frame(Opcode.PING, payload))
    assert isinstance(ping, Ping) and bytes(ping.payload) == payload
    wire = control_frame(Opcode.PONG, payload)
    assert wire[0] == 0x8A and wire[1] == 0x80 | len(payload)


def test_control_frames_are_short_pings_or_pongs() -> None:
    with pytest.raises(ValueError, match="at most 125"):
        control_frame(Opcode.PING, b"x" * 126)
    with pytest.raises(ValueError, match="not a ping or pong"):
        control_frame(Opcode.TEXT, b"x")


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1000, "bye", (1000, "bye")),
        (4001, "", (4001, "")),
        (None, "", (1005, "")),  # no payload at all
        (1005, "ignored", (1005, "")),
        (1006, "local only", (1000, "local only")),
        (1015, "", (1000, "")),
    ],
)
def test_close_frames(code: int | None, reason: str, expected: tuple[int, str]) -> None:
    (event,) = server_reads(close_frame(code, reason))
    assert isinstance(event, CloseConnection)
    assert (event.code, event.reason or "") == expected


@pytest.mark.parametrize("code", [0, 999, 1004, 1016, 2000, 2999, 5000, 65535])
def test_a_close_code_no_endpoint_may_send_is_refused_not_written(code: int) -> None:
    # The rule is the core's (close_codes.may_be_sent), the same as for reading.
    assert not may_be_sent(code)
    with pytest.raises(ValueError, match="no endpoint may send"):
        close_frame(code, "")


def test_a_long_close_reason_is_cut_at_a_whole_character() -> None:
    wire = close_frame(1000, "é" * 100)  # 200 bytes: 123 fit, 61 whole characters
    assert len(wire) == 2 + 4 + 2 + 122
    (event,) = server_reads(wire)
    assert isinstance(event, CloseConnection) and event.reason == "é" * 61
    with pytest.raises(ValueError, match="no endpoint may send"):
        close_frame(70000)


@given(st.binary(max_size=200), st.binary(min_size=4, max_size=4))
def test_the_pure_python_mask_equals_the_c_mask(data: bytes, key: bytes) -> None:
    assert frames._py_mask(data, key) == frames.apply_mask(data, key)
    assert frames._py_mask(frames._py_mask(data, key), key) == data


# -- reading -------------------------------------------------------------------------


def test_messages_and_control_frames_come_out_in_order() -> None:
    data = (
        server_frame(0x2, b"abc")
        + server_frame(0x1, "héllo".encode())
        + server_frame(0x9, b"p")
        + server_frame(0x1, b"fr", fin=False)
        + server_frame(0xA, b"q")  # control frames may come between fragments
        + server_frame(0x0, b"ag", fin=False)
        + server_frame(0x0, b"s")
        + server_frame(0x2, b"")
        + server_frame(0x1, b"")
    )
    messages, controls = read(data)
    assert messages == [b"abc", "héllo", "frags", b"", ""]
    assert controls == [Ping_(b"p"), Pong(b"q")]
    assert all(type(m) in (bytes, str) for m in messages)


@st.composite
def traffic(draw: st.DrawFn) -> tuple[bytes, list[str | bytes], list[object]]:
    """Valid server bytes: messages (some fragmented, pings and pongs between the
    fragments), with what a reader must make of them."""
    wire = b""
    messages: list[str | bytes] = []
    controls: list[object] = []
    for message in draw(st.lists(st.one_of(st.binary(max_size=400), st.text(max_size=150)))):
        payload = message.encode() if isinstance(message, str) else message
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for i, piece in enumerate(pieces):
            opcode = (0x1 if isinstance(message, str) else 0x2) if i == 0 else 0x0
            wire += server_frame(opcode, piece, fin=i == len(pieces) - 1)
            if draw(st.integers(0, 4)) == 0:
                control = draw(st.sampled_from([Ping_, Pong]))(draw(st.binary(max_size=125)))
                wire += server_frame(0x9 if control.__class__ is Ping_ else 0xA, control.payload)
                controls.append(control)
        messages.append(message)
    return wire, messages, controls


@settings(max_examples=300)
@given(traffic(), st.lists(st.integers(1, 500), min_size=1, max_size=40))
def test_any_valid_traffic_in_any_chunks_reads_back(
    sent: tuple[bytes, list[str | bytes], list[object]], sizes: list[int]
) -> None:
    wire, expected_messages, expected_controls = sent
    reader = FrameReader(1 << 20)
    messages: list[str | bytes] = []
    controls: list[object] = []
    pos = 0
    i = 0
    while pos < len(wire):
        size = sizes[i % len(sizes)]
        chunk = wire[pos : pos + size]
        reader.feed(bytearray(chunk) if i % 2 else chunk, messages, controls)  # type: ignore[arg-type]
        pos += size
        i += 1
    assert messages == expected_messages
    assert controls == expected_controls
    assert not reader.in_message


@settings(max_examples=200)
@given(traffic(), st.integers(0, 600), st.integers(1, 300))
def test_the_limit_stops_at_the_first_message_over_it(
    sent: tuple[bytes, list[str | bytes], list[object]], limit: int, chunk: int
) -> None:
    wire, expected, _ = sent
    sizes = [len(m.encode() if isinstance(m, str) else m) for m in expected]
    reader = FrameReader(limit)
    messages: list[str | bytes] = []
    error = None
    try:
        for pos in range(0, len(wire), chunk):
            reader.feed(wire[pos : pos + chunk], messages, [])
    except FrameError as exc:
        error = exc
    fits = next((i for i, size in enumerate(sizes) if size > limit), len(sizes))
    assert messages == expected[:fits]
    if fits < len(sizes):
        assert error is not None and error.code == 1009
    else:
        assert error is None


def test_large_frames_arriving_in_pieces_are_joined() -> None:
    big = bytes(range(256)) * 256  # 64 KiB
    text = "€" * 30000  # 90,000 bytes of UTF-8, cut inside characters below
    wire = server_frame(0x2, big) + server_frame(0x1, text.encode()) + server_frame(0x2, big)
    for size in (1, 3, 1000, 65536):
        reader = FrameReader(1 << 20)
        messages: list[str | bytes] = []
        for pos in range(0, len(wire), size):
            reader.feed(wire[pos : pos + size], messages, [])
        assert messages == [big, text, big]
        assert type(messages[0]) is bytes


@pytest.mark.parametrize(
    ("opcode", "payload"),
    [(0x2, bytes(range(256)) * 256), (0x1, b"ab\xc3\xa9" * 16384)],  # 64 KiB each
    ids=["binary", "text"],
)
@pytest.mark.parametrize("step", [1, 7])
def test_a_message_trickling_in_holds_about_its_own_size(
    opcode: int, payload: bytes, step: int
) -> None:
    # A hostile server sends a big message a byte at a time (fragmented, too):
    # each piece must not cost a list slot and an object of its own (was ~190
    # bytes kept per byte received).
    half = len(payload) // 2
    wire = server_frame(opcode, payload[:half], fin=False) + server_frame(0x0, payload[half:])
    chunks = [wire[pos : pos + step] for pos in range(0, len(wire), step)]
    reader = FrameReader(1 << 20)
    messages: list[str | bytes] = []
    tracemalloc.start()
    try:
        for chunk in chunks:
            reader.feed(chunk, messages, [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert messages == [payload if opcode == 0x2 else payload.decode()]
    assert peak < 3 * len(payload) + 32768


def test_a_message_does_not_change_with_the_buffer_it_came_in() -> None:
    chunk = bytearray(server_frame(0x2, b"abcd"))
    messages: list[str | bytes] = []
    FrameReader(100).feed(chunk, messages, [])
    chunk[2:6] = b"zzzz"
    assert messages == [b"abcd"]


def test_a_close_ends_the_reading() -> None:
    data = (
        server_frame(0x1, b"unfinished", fin=False)
        + server_frame(0x8, struct.pack("!H", 1001) + "bye ☺".encode())
        + server_frame(0x2, b"after the close")
    )
    reader = FrameReader(100)
    messages: list[str | bytes] = []
    controls: list[object] = []
    reader.feed(data, messages, controls)  # type: ignore[arg-type]
    assert messages == [] and controls == [Close(1001, "bye ☺")]
    assert reader.closed and not reader.in_message
    reader.feed(b"\x83\x00", messages, controls)  # type: ignore[arg-type]  # ignored
    assert messages == [] and len(controls) == 1
    assert read(server_frame(0x8, b""))[1] == [Close(1005, "")]


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1011, 1013, 1014, 3000, 3999, 4000, 4999]
)
def test_close_codes_a_peer_may_send(code: int) -> None:
    assert read(server_frame(0x8, struct.pack("!H", code)))[1] == [Close(code, "")]


# -- refusing ------------------------------------------------------------------------

BAD_FRAMES = {
    "reserved opcode 3": (b"\x83\x00", 1002, "Invalid opcode 0x3"),
    "reserved control opcode 0xB": (b"\x8b\x00", 1002, "Invalid opcode 0xb"),
    "rsv1": (b"\xc2\x00", 1002, "Reserved bit set unexpectedly"),
    "rsv2": (b"\xa2\x00", 1002, "Reserved bit set unexpectedly"),
    "rsv3": (b"\x92\x00", 1002, "Reserved bit set unexpectedly"),
    "masked": (b"\x82\x81\x00\x00\x00\x00x", 1002, "client received unexpected masked frame"),
    "long ping": (b"\x89\x7e\x00\x7e" + b"x" * 126, 1002, "Control frame with payload len > 125"),
    "fragmented ping": (b"\x09\x00", 1002, "Invalid attempt to fragment control frame"),
    "lone continuation": (b"\x80\x00", 1002, "unexpected CONTINUATION"),
    "text inside a message": (b"\x01\x01a\x81\x01b", 1002, "expected CONTINUATION"),
    "2-byte length for 5": (b"\x82\x7e\x00\x05hello", 1002, "used 2 bytes"),
    "8-byte length for 5": (b"\x82\x7f" + struct.pack("!Q", 5) + b"hello", 1002, "used 8 bytes"),
    "8-byte length, top bit": (b"\x82\x7f" + struct.pack("!Q", 1 << 63), 1002, "non-zero MSB"),
    "close with 1 byte": (b"\x88\x01\x03", 1002, "CLOSE with 1 byte payload"),
    "bad UTF-8": (b"\x81\x02\xc3\x28", 1007, "invalid UTF-8"),
    "bad UTF-8 across fragments": (b"\x01\x01\xc3\x80\x01(", 1007, "invalid UTF-8"),
    "text ends inside a character": (b"\x01\x01a\x80\x01\xc3", 1007, "invalid UTF-8"),
    "bad UTF-8 close reason": (b"\x88\x04\x03\xe8\xc3\x28", 1007, "CLOSE reason"),
    "over the limit": (b"\x82\x65" + b"x" * 101, 1009, "exceeds 100 bytes"),
    "fragments over the limit": (
        b"\x02\x32" + b"x" * 50 + b"\x80\x33" + b"x" * 51,
        1009,
        "exceeds",
    ),
}


@pytest.mark.parametrize(("data", "code", "reason"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_broken_frames_are_refused_with_their_close_code(
    data: bytes, code: int, reason: str
) -> None:
    error = refused(data, limit=100)
    assert error.code == code
    assert reason in error.reason
    assert str(error) == error.reason


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000])
def test_close_codes_a_peer_may_not_send(code: int) -> None:
    error = refused(server_frame(0x8, struct.pack("!H", code)))
    assert (error.code, error.reason) == (1002, f"CLOSE with invalid code {code}")


def test_a_huge_declared_length_is_refused_from_the_header_alone() -> None:
    reader = FrameReader(1 << 20)
    header = b"\x82\x7f" + struct.pack("!Q", 1 << 62)  # 4 EiB declared, none of it sent
    with pytest.raises(FrameError) as info:
        reader.feed(header, [], [])
    assert info.value.code == 1009
    # A fragment that crosses the limit is refused at its header too.
    reader = FrameReader(100)
    messages: list[str | bytes] = []
    reader.feed(b"\x02\x32" + b"x" * 50, messages, [])
    with pytest.raises(FrameError, match="exceeds 100 bytes"):
        reader.feed(b"\x80\x33", messages, [])  # 50 + 51 > 100, no payload yet


@pytest.mark.parametrize("head", [b"\x81\x7e\x01\x00", b"\x81\x20"], ids=["long", "short"])
def test_invalid_text_fails_fast_before_its_frame_is_complete(head: bytes) -> None:
    """Autobahn 6.4.3 / 6.4.4: one text frame in chunks, the second one invalid."""
    reader = FrameReader(1 << 20)
    reader.feed(head + "κό".encode(), [], [])  # a text frame begins
    reader.feed(b"\xce", [], [])  # a character begins: no verdict yet
    with pytest.raises(FrameError) as info:
        reader.feed(b"\xff", [], [])  # the first bad byte, long before the end
    assert info.value.code == 1007


def test_a_broken_frame_is_reported_after_what_came_before_and_then_again() -> None:
    reader = FrameReader(100)
    messages: list[str | bytes] = []
    controls: list[object] = []
    with pytest.raises(FrameError):
        reader.feed(b"\x81\x05hello\x89\x00\x82\x00\x83\x00", messages, controls)  # type: ignore[arg-type]
    assert messages == ["hello", b""] and controls == [Ping_(b"")]
    with pytest.raises(FrameError, match="Invalid opcode 0x3"):
        reader.feed(b"\x82\x00", messages, controls)  # type: ignore[arg-type]
    assert messages == ["hello", b""]


def test_the_limit_is_in_bytes_and_inclusive() -> None:
    assert read(b"\x82\x64" + b"x" * 100, limit=100)[0] == [b"x" * 100]
    assert read(b"\x81\x04" + "€".encode() + b"a", limit=4)[0] == ["€a"]
    assert refused(b"\x81\x04" + "€".encode() + b"a", limit=3).code == 1009  # 2 characters


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_its_own_mask_keys() -> None:
    """Keys are read from os.urandom in blocks: a child must not reuse the parent's block."""
    message_frame(b"x")  # the parent's block is drawn
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, message_frame(b"x")[2:6])
        os._exit(0)
    os.waitpid(pid, 0)
    child_key = os.read(read_end, 4)
    os.close(read_end)
    os.close(write_end)
    assert child_key != message_frame(b"x")[2:6]
