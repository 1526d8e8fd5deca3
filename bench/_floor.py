"""The floors of the hot-path benchmark: raw trio TCP doing the least any message API must.

A WebSocket client library cannot beat a raw trio TCP stream that moves the same bytes, but
it has work no byte pump has: find each frame's boundary and hand over one message per
``receive()`` call; build, mask and write one frame per ``send()`` call. The *floor* does
exactly that work and nothing else, so ``client / floor`` is a fair ratio:

- :class:`FrameReader` (recv floor): ``receive_some(65536)`` into a buffer, split the RFC 6455
  frames with :func:`split_frame` (2-, 4- or 10-byte header, unmasked, as a server sends),
  return each payload as its own ``bytes``, and make every ``receive()`` a checkpoint as
  trio's rules require (the read when one was needed, else ``trio.lowlevel.checkpoint()``);
- :func:`split_only` (bare recv number, printed beside it): the same reads and the same split,
  but no per-message checkpoint and no per-message call: the cost of parsing alone;
- :func:`masked_frame` (send floor): per message a fresh 4-byte key (``os.urandom``, as
  RFC 6455 section 5.3 requires a new unpredictable key per frame), a ``struct`` header,
  websockets' C mask, one ``send_all`` (a checkpoint);
- the bare send number: ``send_all`` of one frame masked once, before timing.

Pure helpers (:func:`split_frame`, :func:`masked_frame`, :func:`unmask`) are tested in
``bench/tests/test_floor.py``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import trio

try:
    from websockets.speedups import apply_mask as _apply_mask  # C
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask as _apply_mask

__all__ = ["FrameReader", "masked_frame", "split_frame", "split_only", "unmask"]

apply_mask: Callable[[bytes, bytes], bytes] = _apply_mask
READ_SIZE = 65536
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_BINARY_FINAL = 0x82
_MASKED = 0x80


def split_frame(buffer: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """The next unmasked frame at ``offset``: ``(payload start, payload end)``, or None if
    ``buffer`` does not hold all of it yet. The next frame begins at the payload's end.

    Raises ValueError for a masked frame (a server never sends one).
    """
    available = len(buffer) - offset
    if available < 2:
        return None
    second = buffer[offset + 1]
    if second & _MASKED:
        raise ValueError("masked frame from the server")
    length = second & 0x7F
    start = offset + 2
    if length == 126:
        if available < 4:
            return None
        length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
        start = offset + 4
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
        start = offset + 10
    end = start + length
    return None if end > len(buffer) else (start, end)


class FrameReader:
    """The recv floor: one message per :meth:`receive`, each call a checkpoint."""

    def __init__(self, stream: trio.abc.ReceiveStream, initial: bytes = b"") -> None:
        self._stream = stream
        self._buffer = bytearray(initial)
        self._offset = 0

    async def receive(self) -> bytes:
        """The next message's payload; raises EOFError if the stream ends first."""
        read = False
        while True:
            frame = split_frame(self._buffer, self._offset)
            if frame is not None:
                break
            if self._offset:
                del self._buffer[: self._offset]
                self._offset = 0
            data = await self._stream.receive_some(READ_SIZE)
            if not data:
                raise EOFError("stream ended inside a frame")
            self._buffer += data
            read = True
        if not read:
            await trio.lowlevel.checkpoint()
        start, end = frame
        self._offset = end
        with memoryview(self._buffer) as view:  # one copy, not a bytearray slice and another
            return bytes(view[start:end])


async def split_only(stream: trio.abc.ReceiveStream, initial: bytes, count: int) -> None:
    """Read until ``count`` frames were split (same reads, same split, no message handed over)."""
    buffer = bytearray(initial)
    offset = 0
    seen = 0
    while True:
        while (frame := split_frame(buffer, offset)) is not None:
            offset = frame[1]
            seen += 1
            if seen == count:
                return
        del buffer[:offset]
        offset = 0
        data = await stream.receive_some(READ_SIZE)
        if not data:
            raise EOFError("stream ended inside a frame")
        buffer += data


def masked_frame(payload: bytes, key: bytes | None = None) -> bytes:
    """A final binary client frame: header, a fresh random 4-byte key (or ``key``), masked data."""
    if key is None:
        key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = _SHORT.pack(_BINARY_FINAL, _MASKED | n)
    elif n < 65536:
        head = _MEDIUM.pack(_BINARY_FINAL, _MASKED | 126, n)
    else:
        head = _LONG.pack(_BINARY_FINAL, _MASKED | 127, n)
    return head + key + apply_mask(payload, key)


def unmask(frame: bytes) -> bytes:
    """The payload of a masked client frame (for tests)."""
    length = frame[1] & 0x7F
    start = 2 if length < 126 else (4 if length == 126 else 10)
    key = frame[start : start + 4]
    return apply_mask(frame[start + 4 :], key)
