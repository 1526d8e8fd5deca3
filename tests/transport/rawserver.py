"""An in-memory peer that speaks raw bytes: it answers the upgrade however a test says.

No sockets: ``RawServer.dial`` hands the client one end of a memory stream pair
and runs ``handler(stream, request_head)`` on the other, after reading the
client's upgrade request. Tests run in virtual time.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable

import trio
import trio.testing

Handler = Callable[[trio.abc.Stream, bytes], Awaitable[None]]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def header(request: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a request head (case-insensitive), or None."""
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def accept_token(request: bytes) -> bytes:
    """The correct Sec-WebSocket-Accept for the request's key."""
    key = header(request, b"sec-websocket-key")
    assert key is not None
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def switching_protocols(request: bytes, extra: bytes = b"") -> bytes:
    """A correct 101 answer to ``request``, with ``extra`` header lines."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_token(request) + b"\r\n" + extra + b"\r\n"
    )


def close_code(frame: bytes) -> int:
    """The close code of a masked client close frame (short payload)."""
    assert frame[0] == 0x88, frame
    key, payload = frame[2:6], frame[6 : 6 + (frame[1] & 0x7F)]
    code = bytes(b ^ key[i % 4] for i, b in enumerate(payload[:2]))
    return int.from_bytes(code, "big")


class RawServer:
    """Serves every dialled connection with ``handler``; records the request heads."""

    def __init__(self, nursery: trio.Nursery, handler: Handler) -> None:
        self.nursery = nursery
        self.handler = handler
        self.requests: list[bytes] = []

    async def dial(self) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._serve, server)
        return client

    async def _serve(self, stream: trio.abc.Stream) -> None:
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                data = await stream.receive_some()
                if not data:
                    return
                buffer += data
            self.requests.append(buffer.split(b"\r\n\r\n", 1)[0])
            await self.handler(stream, self.requests[-1])
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)
