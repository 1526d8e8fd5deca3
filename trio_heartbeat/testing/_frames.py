"""Sans-I/O helpers for the fault relay: an incremental WebSocket frame splitter.

Nothing here performs I/O or reads a clock. The relay feeds every chunk it reads
to a :class:`StreamSplitter` and gets back :class:`Piece` objects, each one a
slice of the byte stream tagged with the *unit* it belongs to:

* the HTTP head (the upgrade request or response, up to and including the first
  ``b"\\r\\n\\r\\n"``), then
* one RFC 6455 frame after another (header parsed: FIN, opcode, MASK bit, 7/16/64
  bit payload length, masking key).

A unit may span many chunks and a chunk may hold many units; the splitter keeps
its state between :meth:`StreamSplitter.feed` calls, so the way the bytes are
chunked never changes the result. Concatenating the ``data`` of every piece gives
back exactly the bytes fed (a frame header split across chunks is held back until
it is complete, then emitted with the first piece of its frame).

Also here: encoders for the bytes the relay injects itself (a close frame, an
HTTP rejection).
"""

from __future__ import annotations

import http
import struct
from typing import Literal

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat.errors import UsageError

__all__ = [
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_CONTINUATION",
    "OPCODE_PING",
    "OPCODE_PONG",
    "OPCODE_TEXT",
    "FrameHeader",
    "Piece",
    "StreamSplitter",
    "close_payload",
    "encode_frame",
    "http_reject_response",
]

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

_HTTP_HEAD_END = b"\r\n\r\n"


@attrs.frozen(kw_only=True)
class FrameHeader:
    """A parsed RFC 6455 frame header.

    ``payload_length`` is the declared payload size in bytes; ``header_length``
    the size of the header itself (2 to 14 bytes); ``mask_key`` is the 4-byte
    masking key when ``masked`` (client-to-server frames), else ``None``.
    """

    fin: bool
    opcode: int
    masked: bool
    payload_length: int
    mask_key: bytes | None
    header_length: int

    @property
    def is_control(self) -> bool:
        """True for close, ping and pong frames (opcode 0x8 and above)."""
        return self.opcode >= 0x8


@attrs.frozen(kw_only=True)
class Piece:
    """A slice of the byte stream and the unit it belongs to.

    ``kind`` is ``"http"`` for bytes of the HTTP head, ``"frame"`` for bytes of a
    WebSocket frame (then ``header`` is set) and ``"raw"`` for an incomplete frame
    header flushed at end of stream. ``unit`` numbers the units from 0 (the HTTP
    head, when one is expected). ``first``/``last`` say whether this piece starts
    or ends its unit; a unit that fits in one chunk is a single piece with both.
    """

    data: bytes
    kind: Literal["http", "frame", "raw"]
    unit: int
    header: FrameHeader | None
    first: bool
    last: bool


def _header_size(buf: bytes | bytearray) -> int:
    """Bytes needed for the complete header that starts ``buf`` (2 if unknown yet)."""
    if len(buf) < 2:
        return 2
    size = 2
    length_code = buf[1] & 0x7F
    if length_code == 126:
        size += 2
    elif length_code == 127:
        size += 8
    if buf[1] & 0x80:
        size += 4
    return size


def _parse_header(buf: bytes) -> FrameHeader:
    first, second = buf[0], buf[1]
    masked = bool(second & 0x80)
    length_code = second & 0x7F
    offset = 2
    if length_code == 126:
        (length,) = struct.unpack_from("!H", buf, offset)
        offset += 2
    elif length_code == 127:
        (length,) = struct.unpack_from("!Q", buf, offset)
        offset += 8
    else:
        length = length_code
    mask_key = buf[offset : offset + 4] if masked else None
    return FrameHeader(
        fin=bool(first & 0x80),
        opcode=first & 0x0F,
        masked=masked,
        payload_length=length,
        mask_key=mask_key,
        header_length=len(buf),
    )


class StreamSplitter:
    """Split one direction of a WebSocket byte stream into HTTP head and frames.

    With ``expect_http_head=True`` (the default) everything up to and including
    the first ``b"\\r\\n\\r\\n"`` is the HTTP head (unit 0) and frames start after
    it; with ``False`` the stream is frames from the first byte. The splitter
    never raises on odd input: it only reads frame boundaries and never checks
    payloads, reserved bits or opcodes.
    """

    def __init__(self, *, expect_http_head: bool = True) -> None:
        self._in_head = expect_http_head
        self._head_started = False
        self._head_tail = b""  # up to 3 trailing head bytes, to find a split "\r\n\r\n"
        self._unit = 0  # unit 0 is the HTTP head (absent without one); frames count from 1
        self._header_buf = bytearray()
        self._current: FrameHeader | None = None
        self._remaining = 0

    @property
    def in_http_head(self) -> bool:
        """True until the end of the HTTP head has been fed."""
        return self._in_head

    @property
    def at_boundary(self) -> bool:
        """True when the bytes fed so far end exactly at the end of a unit."""
        if self._in_head:
            return not self._head_started
        return self._current is None and not self._header_buf

    def feed(self, data: bytes) -> list[Piece]:
        """Consume ``data`` and return its pieces, in stream order."""
        pieces: list[Piece] = []
        if not data:
            return pieces
        pos = 0
        if self._in_head:
            pos = self._feed_head(data, pieces)
        while pos < len(data):
            if self._current is None:
                pos = self._feed_header(data, pos, pieces)
            else:
                take = min(self._remaining, len(data) - pos)
                self._remaining -= take
                pieces.append(
                    Piece(
                        data=data[pos : pos + take],
                        kind="frame",
                        unit=self._unit,
                        header=self._current,
                        first=False,
                        last=self._remaining == 0,
                    )
                )
                pos += take
                if self._remaining == 0:
                    self._current = None
        return pieces

    def flush(self) -> list[Piece]:
        """At end of stream: return held-back bytes of an incomplete frame header."""
        if not self._header_buf:
            return []
        data = bytes(self._header_buf)
        self._header_buf.clear()
        self._unit += 1
        return [Piece(data=data, kind="raw", unit=self._unit, header=None, first=True, last=True)]

    def _feed_head(self, data: bytes, pieces: list[Piece]) -> int:
        window = self._head_tail + data
        index = window.find(_HTTP_HEAD_END)
        first = not self._head_started
        self._head_started = True
        if index < 0:
            self._head_tail = window[-3:]
            pieces.append(
                Piece(data=data, kind="http", unit=0, header=None, first=first, last=False)
            )
            return len(data)
        end = index + len(_HTTP_HEAD_END) - len(self._head_tail)
        pieces.append(
            Piece(data=data[:end], kind="http", unit=0, header=None, first=first, last=True)
        )
        self._in_head = False
        self._head_tail = b""
        return end

    def _feed_header(self, data: bytes, pos: int, pieces: list[Piece]) -> int:
        buf = self._header_buf
        while pos < len(data) and len(buf) < _header_size(buf):
            take = min(_header_size(buf) - len(buf), len(data) - pos)
            buf += data[pos : pos + take]
            pos += take
        if len(buf) < _header_size(buf):
            return pos  # header still incomplete: hold its bytes back
        raw = bytes(buf)
        header = _parse_header(raw)
        buf.clear()
        self._unit += 1
        take = min(header.payload_length, len(data) - pos)
        self._remaining = header.payload_length - take
        pieces.append(
            Piece(
                data=raw + data[pos : pos + take],
                kind="frame",
                unit=self._unit,
                header=header,
                first=True,
                last=self._remaining == 0,
            )
        )
        self._current = header if self._remaining else None
        return pos + take


_opcode = v.Rule(
    "an int 0-15",
    lambda value: isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xF,
)


def _encode_header(*, fin: bool, opcode: int, length: int, mask_key: bytes | None) -> bytes:
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    if length < 126:
        out = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        out = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        out = struct.pack("!BBQ", first, mask_bit | 127, length)
    return out + (mask_key or b"")


def encode_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, mask_key: bytes | None = None
) -> bytes:
    """Encode one RFC 6455 frame (no extensions, RSV bits clear).

    With ``mask_key`` (exactly 4 bytes) the frame is masked as a client must; without
    it the frame is unmasked as a server sends. Raises :class:`UsageError` for a bad
    opcode or mask key.
    """
    v.argument("encode_frame(opcode=...)", _opcode, opcode)
    if mask_key is not None and len(mask_key) != 4:
        raise UsageError("encode_frame(mask_key=...) must be exactly 4 bytes")
    header = _encode_header(fin=fin, opcode=opcode, length=len(payload), mask_key=mask_key)
    if mask_key is not None:
        payload = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
    return header + payload


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: the 2-byte code then the UTF-8 reason."""
    return struct.pack("!H", code) + reason.encode("utf-8")


def http_reject_response(status: int, retry_after: int | None = None) -> bytes:
    """An HTTP/1.1 response that rejects a WebSocket upgrade, with an empty body.

    ``http_reject_response(503, 5)`` gives ``b"HTTP/1.1 503 Service Unavailable\\r\\n"
    b"Retry-After: 5\\r\\nContent-Length: 0\\r\\n\\r\\n"``. Unknown status codes get
    the reason phrase ``"Unknown"``.
    """
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    if retry_after is not None:
        lines.append(f"Retry-After: {retry_after}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
