"""A byte-level WebSocket server for engine tests: it answers the upgrade by hand, then
writes exactly the frames a test gives it (broken ones too) and records what it reads."""

from __future__ import annotations

import base64
import hashlib
import zlib

import attrs
import trio
import trio.testing

from trio_heartbeat._transport.common import ObservedStream
from trio_heartbeat.testing._frames import StreamSplitter, encode_frame

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """An unmasked server frame (RSV1 marks a compressed message)."""
    data = bytearray(encode_frame(opcode, payload, fin=fin))
    if rsv1:
        data[0] |= 0x40
    return bytes(data)


def deflated(payload: bytes) -> bytes:
    """``payload`` compressed as one permessage-deflate message (RFC 7692 7.2.1)."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def unmask_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every complete masked client frame in ``data``."""
    frames: list[tuple[int, bytes]] = []
    payload = b""
    for piece in StreamSplitter(expect_http_head=False).feed(data):
        assert piece.header is not None and piece.header.mask_key is not None
        if piece.first:
            payload = piece.data[piece.header.header_length :]
        else:
            payload += piece.data
        if piece.last:
            key = piece.header.mask_key
            frames.append(
                (piece.header.opcode, bytes(b ^ key[i % 4] for i, b in enumerate(payload)))
            )
    return frames


@attrs.define
class RawServer:
    """The server end of one in-memory connection."""

    stream: trio.abc.Stream
    request: bytes = b""
    received: bytes = b""

    async def read_request(self) -> bytes:
        while b"\r\n\r\n" not in self.request:
            self.request += await self.stream.receive_some()
        return self.request

    def header(self, name: str) -> str | None:
        for line in self.request.decode().split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    async def accept(self, *extra: str, trailing: bytes = b"") -> None:
        """Answer 101 (with ``extra`` header lines), then ``trailing`` bytes in the same write."""
        await self.read_request()
        key = self.header("Sec-WebSocket-Key")
        assert key is not None
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept}",
            *extra,
        ]
        await self.stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode() + trailing)

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def read_frames(self, count: int) -> list[tuple[int, bytes]]:
        """Read until ``count`` client frames are complete; return every frame so far."""
        while len(frames := unmask_frames(self.received)) < count:
            chunk = await self.stream.receive_some()
            assert chunk, f"the client closed after {len(frames)} frames"
            self.received += chunk
        return frames


def memory_pair() -> tuple[ObservedStream, RawServer]:
    client, server = trio.testing.memory_stream_pair()
    return ObservedStream(client), RawServer(server)
