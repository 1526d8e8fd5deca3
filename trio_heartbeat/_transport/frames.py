"""RFC 6455 frames on the client side, sans I/O: masked frames out, server frames in.

No trio here (nor any I/O): bytes in, bytes or events out.

- Writing: :func:`message_frame` (a whole text or binary message in one
  frame), :func:`control_frame` (ping, pong), :func:`close_frame`. Every frame
  is masked with a fresh 32-bit key from ``os.urandom`` (read in blocks), in C
  (``websockets.speedups.apply_mask``) when websockets' extension is built.
- Reading: :class:`FrameReader`, fed the bytes as they arrive, appends every
  complete message (``str`` for text, ``bytes`` for binary, fragments joined)
  to a list and every control frame (:class:`Ping`, :class:`Pong`,
  :class:`Close`) to another, in order. A frame that breaks the protocol
  raises :class:`FrameError` carrying the close code to answer with: 1002 for
  a bad frame (reserved bits or opcode, a masked server frame, a control frame
  over 125 bytes or fragmented, a misused continuation, a length not in its
  shortest form, a bad close code), 1007 for invalid UTF-8 (checked as the
  text arrives, across fragments), 1009 for a message over
  ``max_message_size`` bytes, judged from the frame header before any of its
  payload is kept.

The common case costs one slice per message: whole unfragmented frames are cut
out of the received chunk; a frame that arrives in pieces is collected as
zero-copy views and joined once.
"""

from __future__ import annotations

import codecs
import enum
import os
import struct
from collections.abc import Callable, Iterator

from trio_heartbeat._core.close_codes import CloseCode, may_be_sent

_c_mask: Callable[[bytes, bytes], bytes] | None
try:
    from websockets.speedups import apply_mask as _c_mask  # C
except ImportError:  # pragma: no cover - a websockets built without its C extension
    _c_mask = None

__all__ = [
    "Close",
    "FrameError",
    "FrameReader",
    "Opcode",
    "Ping",
    "Pong",
    "apply_mask",
    "close_frame",
    "control_frame",
    "message_frame",
]

Message = str | bytes


class Opcode(enum.IntEnum):
    """RFC 6455 section 5.2 frame opcodes (the others are reserved)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


MAX_CONTROL_PAYLOAD = 125
"""Bytes a control frame (close, ping, pong) may carry."""

# Local-only codes (never on the wire): 1005 means "no code", the others are sent as 1000.
_LOCAL_ONLY_CODES = frozenset({CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE_FAILED})

_FIN = 0x80
_RSV = 0x70
_MASK_BIT = 0x80
_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_FIN_TEXT, _FIN_BINARY = _FIN | _TEXT, _FIN | _BINARY
_WHOLE_MESSAGE = frozenset({_FIN_TEXT, _FIN_BINARY})  # first bytes of the fast path
_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)

_PACK2 = struct.Struct("!BB").pack
_PACK4 = struct.Struct("!BBH").pack
_PACK10 = struct.Struct("!BBQ").pack
_PACK_CODE = struct.Struct("!H").pack
_UNPACK_H = struct.Struct("!H").unpack_from
_UNPACK_Q = struct.Struct("!Q").unpack_from
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
# A message arriving in pieces under _SMALL_PIECE bytes keeps them in groups of
# _GROUP joined: at most ~1/_GROUP of a list slot and object per byte.
_SMALL_PIECE = 1024
_GROUP = 256


def _py_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (pure Python: one big int)."""
    n = len(data)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(n, "big")


apply_mask: Callable[[bytes, bytes], bytes] = _c_mask if _c_mask is not None else _py_mask
"""``apply_mask(data, key)``: ``data`` XOR the 4-byte ``key`` (in C when available)."""


class _Keys:
    """Fresh 32-bit mask keys, read from ``os.urandom`` 1 KiB at a time (one
    system call per 256 frames instead of one each).

    The only state this module keeps, and no key is ever handed out twice: a
    key is taken with one ``next()`` on an iterator (a single step under the
    GIL, so two threads never get the same key); a refill replaces the
    iterator with one over a new block. Emptied in a forked child, so that two
    processes never use the same keys.
    """

    __slots__ = ("keys",)

    SIZE = 1024

    def __init__(self) -> None:
        self.keys: Iterator[bytes] = iter(())

    def next(self) -> bytes:
        try:
            return next(self.keys)
        except StopIteration:
            block = os.urandom(self.SIZE)
            self.keys = keys = iter([block[i : i + 4] for i in range(0, self.SIZE, 4)])
            return next(keys)

    def reset(self) -> None:
        self.keys = iter(())


_keys = _Keys()
_next_key = _keys.next
os.register_at_fork(after_in_child=_keys.reset)


def _frame(first: int, payload: bytes) -> bytes:
    """A masked client frame: first byte (FIN, RSV, opcode) ``first``, then ``payload``."""
    n = len(payload)
    key = _next_key()
    if n < 126:
        head = _PACK2(first, 0x80 | n)
    elif n < 65536:
        head = _PACK4(first, 0xFE, n)
    else:
        head = _PACK10(first, 0xFF, n)
    return b"".join((head, key, apply_mask(payload, key)))


# The two header bytes of every short whole message, made once.
_SHORT_TEXT = tuple(_PACK2(_FIN_TEXT, 0x80 | n) for n in range(126))
_SHORT_BINARY = tuple(_PACK2(_FIN_BINARY, 0x80 | n) for n in range(126))


def message_frame(message: Message) -> bytes:
    """The masked frame of a whole message: text for a ``str``, binary for ``bytes``."""
    if isinstance(message, str):  # a str subclass (a StrEnum...) is text too
        payload = message.encode()
        first, short = _FIN_TEXT, _SHORT_TEXT
    else:
        payload = message
        first, short = _FIN_BINARY, _SHORT_BINARY
    n = len(payload)
    if n < 126:
        key = _next_key()
        return short[n] + key + apply_mask(payload, key)
    return _frame(first, payload)


def control_frame(opcode: Opcode, payload: bytes = b"") -> bytes:
    """A masked ping or pong carrying ``payload``; ValueError if it exceeds 125 bytes."""
    if opcode is not Opcode.PING and opcode is not Opcode.PONG:
        raise ValueError(f"not a ping or pong opcode: {opcode!r}")
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"a control frame carries at most {MAX_CONTROL_PAYLOAD} bytes")
    return _frame(_FIN | opcode, payload)


def close_frame(code: int | None = None, reason: str = "") -> bytes:
    """A masked close frame carrying ``code`` and ``reason`` (truncated to whole
    characters within 123 bytes). None or 1005 give an empty payload (1005 means
    "no code"); the other local-only codes (1006, 1015) are sent as 1000."""
    if code is None or code == CloseCode.NO_STATUS_RCVD:
        return _frame(_FIN | _CLOSE, b"")
    if code in _LOCAL_ONLY_CODES:
        code = 1000
    if not may_be_sent(code):
        raise ValueError(f"a close code no endpoint may send: {code}")
    encoded = reason.encode()
    limit = MAX_CONTROL_PAYLOAD - 2
    if len(encoded) > limit:
        encoded = encoded[:limit].decode("utf-8", "ignore").encode()
    return _frame(_FIN | _CLOSE, _PACK_CODE(code) + encoded)


class Ping:
    """A ping arrived (answer it with a pong carrying ``payload``)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return type(other) is Ping and other.payload == self.payload

    def __repr__(self) -> str:
        return f"Ping({self.payload!r})"


class Pong:
    """A pong arrived carrying ``payload``."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return type(other) is Pong and other.payload == self.payload

    def __repr__(self) -> str:
        return f"Pong({self.payload!r})"


class Close:
    """The peer's close frame: ``code`` (1005 when it carried none) and ``reason``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return type(other) is Close and (other.code, other.reason) == (self.code, self.reason)

    def __repr__(self) -> str:
        return f"Close({self.code}, {self.reason!r})"


Control = Ping | Pong | Close


class FrameError(Exception):
    """The peer broke the protocol: close the connection with ``code``.

    ``reason`` says how (no payload bytes in it).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _too_big(limit: int) -> FrameError:
    return FrameError(CloseCode.MESSAGE_TOO_BIG, f"message exceeds {limit} bytes")


def _bad_utf8(exc: UnicodeDecodeError) -> FrameError:
    return FrameError(
        CloseCode.INVALID_FRAME_PAYLOAD_DATA, f"invalid UTF-8 in a text message: {exc.reason}"
    )


def _protocol_error(reason: str) -> FrameError:
    return FrameError(CloseCode.PROTOCOL_ERROR, reason)


def parse_close(payload: bytes) -> Close:
    """The close frame's code and reason; :class:`FrameError` if it is not valid."""
    if not payload:
        return Close(CloseCode.NO_STATUS_RCVD, "")
    if len(payload) == 1:
        raise _protocol_error("CLOSE with 1 byte payload")
    (code,) = _UNPACK_H(payload)
    if not may_be_sent(code):
        raise _protocol_error(f"CLOSE with invalid code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError as exc:
        reason = f"invalid UTF-8 in the CLOSE reason: {exc.reason}"
        raise FrameError(CloseCode.INVALID_FRAME_PAYLOAD_DATA, reason) from None
    return Close(code, reason)


class FrameReader:
    """Turns the bytes a server sends into messages and control frames.

    :meth:`feed` takes each chunk as it arrives. ``max_message_size`` bounds a
    message's payload in bytes (the sum of its fragments). After a close frame
    nothing more is parsed; after a :class:`FrameError` every feed raises it
    again.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_decoder",
        "_error",
        "_fin",
        "_max",
        "_opcode",
        "_parts",
        "_remaining",
        "_size",
        "_small",
    )

    def __init__(self, max_message_size: int) -> None:
        self._max = max_message_size
        self._buffer = b""  # the start of a frame whose header or control payload is incomplete
        self._remaining = 0  # payload bytes of the current data frame still to come
        self._fin = False  # whether the current data frame ends its message
        self._opcode = 0  # TEXT or BINARY while a message is being assembled, else 0
        self._parts: list[bytes | memoryview | str] = []  # its fragments so far
        self._small: list[bytes | memoryview | str] = []  # small fragments not yet joined
        self._decoder: codecs.IncrementalDecoder | None = None  # a text message's UTF-8
        self._size = 0  # payload bytes of the message so far (declared by headers)
        self._closed = False
        self._error: FrameError | None = None

    @property
    def closed(self) -> bool:
        """True once a close frame was read (later bytes are ignored)."""
        return self._closed

    @property
    def in_message(self) -> bool:
        """True while a fragmented message is incomplete."""
        return self._opcode != 0

    def feed(
        self, data: bytes | bytearray, messages: list[Message], controls: list[Control]
    ) -> None:
        """Parse ``data``: complete messages go to ``messages``, control frames to ``controls``.

        Raises :class:`FrameError` for a broken frame, after appending what came
        before it.
        """
        if self._error is not None:
            raise self._error
        if self._closed or not data:
            return
        if type(data) is not bytes:
            data = bytes(data)  # messages are cut out of it: they must not change
        try:
            self._feed(data, messages, controls)
        except FrameError as exc:
            self._error = exc
            self._opcode = 0
            self._parts = []
            self._small = []
            self._decoder = None
            self._buffer = b""
            raise

    def _feed(self, data: bytes, messages: list[Message], controls: list[Control]) -> None:
        pos = 0
        if self._remaining:  # a data frame's payload goes on
            pos = self._payload(data, 0, messages)
            if self._remaining:
                return
        elif self._buffer:  # a header or a control frame goes on: at most 127 bytes
            data = self._buffer + data
            self._buffer = b""
        end = len(data)
        limit = self._max
        append = messages.append
        whole = _WHOLE_MESSAGE
        while end - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            # Fast path: a whole short text or binary message in one frame.
            if b1 < 126 and b0 in whole and not self._opcode and pos + 2 + b1 <= end:
                stop = pos + 2 + b1
                if b1 > limit:
                    raise _too_big(limit)
                if b0 == _FIN_BINARY:
                    append(data[pos + 2 : stop])
                else:
                    try:
                        append(data[pos + 2 : stop].decode())
                    except UnicodeDecodeError as exc:
                        raise _bad_utf8(exc) from None
                pos = stop
                continue
            # Anything else, and a frame not all there yet (streamed: its text
            # is checked as it arrives).
            new = self._frame(data, pos, end, messages, controls)
            if new < 0:
                break
            pos = new
            if self._closed or self._remaining:
                return
        if pos < end:
            self._buffer = data[pos:]

    def _frame(
        self,
        data: bytes,
        pos: int,
        end: int,
        messages: list[Message],
        controls: list[Control],
    ) -> int:
        """Parse the frame at ``pos``; the position after what was used, -1 if incomplete.

        Checks in wsproto's order (opcode, fragmented or long control frame,
        length form, reserved bits, mask), then continuation use, then size.
        """
        b0 = data[pos]
        b1 = data[pos + 1]
        opcode = b0 & 0x0F
        fin = b0 & _FIN
        if opcode not in _KNOWN_OPCODES:
            raise _protocol_error(f"Invalid opcode {opcode:#x}")
        control = opcode & 0x08
        if control and not fin:
            raise _protocol_error("Invalid attempt to fragment control frame")
        length = b1 & 0x7F
        if control and length > MAX_CONTROL_PAYLOAD:
            raise _protocol_error("Control frame with payload len > 125")
        start = pos + 2
        if length == 126:
            if end - start < 2:
                return -1
            (length,) = _UNPACK_H(data, start)
            start += 2
            if length < 126:
                raise _protocol_error("Payload length used 2 bytes when 1 would have sufficed")
        elif length == 127:
            if end - start < 8:
                return -1
            (length,) = _UNPACK_Q(data, start)
            start += 8
            if length < 65536:
                raise _protocol_error("Payload length used 8 bytes when 2 would have sufficed")
            if length >> 63:
                raise _protocol_error("8-byte payload length with non-zero MSB")
        if b0 & _RSV:
            raise _protocol_error("Reserved bit set unexpectedly")
        if b1 & _MASK_BIT:
            raise _protocol_error("client received unexpected masked frame")
        if control:
            stop = start + length
            if stop > end:
                return -1  # control frames are short: wait for the whole of it
            self._control(opcode, data[start:stop], controls)
            return stop
        # A data frame: text, binary or a continuation.
        if opcode:
            if self._opcode:
                raise _protocol_error(f"expected CONTINUATION, got {Opcode(opcode)!r}")
            self._opcode = opcode
            self._size = 0
            self._decoder = _utf8_decoder() if opcode == _TEXT else None
        elif not self._opcode:
            raise _protocol_error("unexpected CONTINUATION")
        self._size += length
        if self._size > self._max:
            raise _too_big(self._max)
        self._fin = bool(fin)
        self._remaining = length
        return self._payload(data, start, messages)

    def _payload(self, data: bytes, pos: int, messages: list[Message]) -> int:
        """Take the current data frame's payload from ``data[pos:]`` (all of it or
        what is there); the position after it."""
        take = min(self._remaining, len(data) - pos)
        self._remaining -= take
        done = not self._remaining
        # No copy for most of the chunk; a copy for a small piece (never pin a
        # whole chunk for a few bytes of it).
        piece = (
            memoryview(data)[pos : pos + take] if take * 2 >= len(data) else data[pos : pos + take]
        )
        decoder = self._decoder
        if decoder is not None:
            try:
                kept: bytes | memoryview | str = decoder.decode(piece, done and self._fin)
            except UnicodeDecodeError as exc:
                raise _bad_utf8(exc) from None
        else:
            kept = piece
        if done and self._fin and not self._parts and not self._small:  # whole, in one piece
            messages.append(kept if decoder is not None else bytes(kept))  # type: ignore[arg-type]
            self._opcode = 0
            self._decoder = None
            return pos + take
        if kept:
            if take < _SMALL_PIECE:
                # A message trickling in: its pieces are joined in groups, so
                # that each byte does not cost a list slot and an object.
                small = self._small
                small.append(bytes(kept) if type(kept) is memoryview else kept)
                if len(small) >= _GROUP:
                    self._parts.append(self._joined(small))
                    self._small = []
            else:
                if self._small:
                    self._parts.append(self._joined(self._small))
                    self._small = []
                self._parts.append(kept)
        if done and self._fin:
            parts = self._parts
            if self._small:
                parts.append(self._joined(self._small))
                self._small = []
            if len(parts) == 1 and decoder is None:
                messages.append(bytes(parts[0]))  # type: ignore[arg-type]  # bytes-like
            else:
                messages.append(self._joined(parts))
            self._parts = []
            self._opcode = 0
            self._decoder = None
        return pos + take

    def _joined(self, parts: list[bytes | memoryview | str]) -> Message:
        """``parts`` joined: all ``str`` in a text message, bytes-like in a binary one."""
        if self._decoder is not None:
            return "".join(parts)  # type: ignore[arg-type]  # all str
        return b"".join(parts)  # type: ignore[arg-type]  # bytes-like

    def _control(self, opcode: int, payload: bytes, controls: list[Control]) -> None:
        if opcode == _PING:
            controls.append(Ping(payload))
        elif opcode == _PONG:
            controls.append(Pong(payload))
        else:
            controls.append(parse_close(payload))
            self._closed = True
            # An unfinished message ends with the connection.
            self._opcode = 0
            self._parts = []
            self._small = []
            self._decoder = None
            self._buffer = b""
