"""Unit tests of the pure WebSocket frame splitter and wire encoders (no clock, no I/O)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_heartbeat.testing._frames import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    Piece,
    StreamSplitter,
    close_payload,
    encode_frame,
    http_reject_response,
)

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
MASK = b"\x01\x02\x03\x04"


def units(pieces: list[Piece]) -> list[tuple[int, int | None, bytes]]:
    """Join pieces into (unit, opcode, bytes) per unit, checking first/last flags."""
    out: list[tuple[int, int | None, bytes]] = []
    open_unit: int | None = None
    for piece in pieces:
        if piece.first:
            assert open_unit is None, "a unit started before the previous one ended"
            out.append((piece.unit, piece.header.opcode if piece.header else None, b""))
            open_unit = piece.unit
        assert piece.unit == open_unit
        unit, opcode, data = out[-1]
        out[-1] = (unit, opcode, data + piece.data)
        if piece.last:
            open_unit = None
    return out


def feed_chunks(splitter: StreamSplitter, data: bytes, cuts: list[int]) -> list[Piece]:
    pieces: list[Piece] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        pieces.extend(splitter.feed(data[last:cut]))
        last = cut
    return pieces


def test_encode_frame_header_lengths_7_16_64_bits() -> None:
    assert encode_frame(OPCODE_TEXT, b"hi") == b"\x81\x02hi"
    medium = encode_frame(OPCODE_BINARY, b"x" * 126)
    assert medium[:4] == b"\x82\x7e\x00\x7e" and len(medium) == 4 + 126
    large = encode_frame(OPCODE_BINARY, b"x" * 65536)
    assert large[:10] == b"\x82\x7f" + struct.pack("!Q", 65536)
    assert encode_frame(OPCODE_TEXT, b"ab", fin=False)[0] == 0x01


def test_encode_frame_masks_payload() -> None:
    frame = encode_frame(OPCODE_TEXT, b"abcde", mask_key=MASK)
    assert frame[:2] == b"\x81\x85" and frame[2:6] == MASK
    assert bytes(b ^ MASK[i % 4] for i, b in enumerate(frame[6:])) == b"abcde"
    with pytest.raises(ValueError, match="4 bytes"):
        encode_frame(OPCODE_TEXT, b"", mask_key=b"\x00")
    with pytest.raises(ValueError, match="opcode"):
        encode_frame(16)


def test_head_then_frames_in_one_chunk() -> None:
    ping = encode_frame(OPCODE_PING, b"p1", mask_key=MASK)
    text = encode_frame(OPCODE_TEXT, b"hello", mask_key=MASK)
    splitter = StreamSplitter()
    pieces = splitter.feed(HEAD + ping + text)
    assert [(p.kind, p.unit, p.first, p.last) for p in pieces] == [
        ("http", 0, True, True),
        ("frame", 1, True, True),
        ("frame", 2, True, True),
    ]
    assert [p.data for p in pieces] == [HEAD, ping, text]
    header = pieces[1].header
    assert header is not None
    assert header.opcode == OPCODE_PING and header.masked and header.mask_key == MASK
    assert header.payload_length == 2 and header.header_length == 6 and header.is_control
    assert not splitter.in_http_head and splitter.at_boundary


def test_head_terminator_split_across_chunks() -> None:
    splitter = StreamSplitter()
    first = splitter.feed(HEAD[:-3])
    assert [(p.kind, p.first, p.last) for p in first] == [("http", True, False)]
    assert splitter.in_http_head and not splitter.at_boundary
    second = splitter.feed(HEAD[-3:] + b"\x89\x00")
    assert [(p.kind, p.first, p.last, p.data) for p in second] == [
        ("http", False, True, HEAD[-3:]),
        ("frame", True, True, b"\x89\x00"),
    ]


def test_frame_header_held_back_until_complete() -> None:
    frame = encode_frame(OPCODE_BINARY, b"z" * 300, mask_key=MASK)  # 2+2+4 header bytes
    splitter = StreamSplitter(expect_http_head=False)
    assert splitter.feed(frame[:3]) == []
    assert not splitter.at_boundary
    pieces = splitter.feed(frame[3:10])
    assert len(pieces) == 1 and pieces[0].data == frame[:10] and not pieces[0].last
    header = pieces[0].header
    assert header is not None and header.payload_length == 300 and header.header_length == 8
    rest = splitter.feed(frame[10:])
    assert [(p.first, p.last) for p in rest] == [(False, True)]
    assert splitter.at_boundary


def test_64_bit_length_and_empty_frames() -> None:
    big = encode_frame(OPCODE_BINARY, b"q" * 70000)
    empty_pong = encode_frame(OPCODE_PONG)
    pieces = StreamSplitter(expect_http_head=False).feed(empty_pong + big + empty_pong)
    assert [(u, op, len(d)) for u, op, d in units(pieces)] == [
        (1, OPCODE_PONG, 2),
        (2, OPCODE_BINARY, 70010),
        (3, OPCODE_PONG, 2),
    ]


def test_flush_returns_incomplete_header() -> None:
    splitter = StreamSplitter(expect_http_head=False)
    assert splitter.feed(b"\x81\xfe\x00") == []
    flushed = splitter.flush()
    assert [(p.kind, p.data, p.first, p.last) for p in flushed] == [
        ("raw", b"\x81\xfe\x00", True, True)
    ]
    assert splitter.flush() == []


def test_control_frame_between_fragments() -> None:
    stream = (
        encode_frame(OPCODE_TEXT, b"frag1", fin=False)
        + encode_frame(OPCODE_PONG, b"x")
        + encode_frame(OPCODE_CONTINUATION, b"frag2")
    )
    got = units(StreamSplitter(expect_http_head=False).feed(stream))
    assert [op for _, op, _ in got] == [OPCODE_TEXT, OPCODE_PONG, OPCODE_CONTINUATION]


frames_strategy = st.lists(
    st.tuples(
        st.sampled_from([OPCODE_TEXT, OPCODE_BINARY, OPCODE_PING, OPCODE_PONG, OPCODE_CLOSE]),
        st.binary(max_size=400),
        st.booleans(),
    ),
    max_size=8,
)


@given(frames=frames_strategy, cuts=st.lists(st.integers(min_value=0, max_value=4000)))
def test_any_chunking_gives_the_same_units(
    frames: list[tuple[int, bytes, bool]], cuts: list[int]
) -> None:
    encoded = [
        encode_frame(op, data, mask_key=MASK if masked else None) for op, data, masked in frames
    ]
    stream = HEAD + b"".join(encoded)
    pieces = feed_chunks(StreamSplitter(), stream, [c for c in cuts if c <= len(stream)])
    assert b"".join(p.data for p in pieces) == stream
    expected = [(0, None, HEAD)] + [
        (i + 1, op, enc) for i, ((op, _, _), enc) in enumerate(zip(frames, encoded, strict=True))
    ]
    assert units(pieces) == expected


def test_close_payload_and_reject_response() -> None:
    assert close_payload(4001, "bye") == b"\x0f\xa1bye"
    assert http_reject_response(503, 5) == (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"
    )
    assert (
        http_reject_response(429) == b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"
    )
    assert http_reject_response(599).startswith(b"HTTP/1.1 599 Unknown\r\n")
