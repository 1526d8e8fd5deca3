"""The benchmark server: a `websockets` asyncio server run as its own process.

One server for every client library, so the clients are compared against the same peer.
Endpoints (by request path):

- ``/`` (any other path): echo every message back; also used for idle connections.
- ``/source/<size>/<count>``: send ``count`` binary messages of ``size`` bytes, then wait
  for the client to close.
- ``/stats``: send one JSON text message ``{"handshakes": [t, ...], "pid": ...}`` with the
  ``time.monotonic()`` of every completed handshake on other paths (CLOCK_MONOTONIC is
  system-wide on Linux, so clients can compare it with their own ``time.monotonic()``),
  then wait for the client to close.

Usage: ``python -m bench._server [--port N] [--reuse-port]``; prints
``READY <port> <monotonic>`` on stdout once listening and runs until killed.
Compression and the server's own keepalive pings are off so the server stays cheap. Before
it listens on its port the server makes one (uncounted) handshake with itself, on a port of
its own, to warm up; READY's time is then the moment clients can connect (the storm's origin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

HANDSHAKES: list[float] = []
BATCH_BYTES = 256 * 1024


def _binary_frame(size: int) -> bytes:
    """One unmasked, final, binary RFC 6455 frame carrying ``size`` bytes of b"x"."""
    if size < 126:
        header = bytes([0x82, size])
    elif size < 65536:
        header = bytes([0x82, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x82, 127]) + size.to_bytes(8, "big")
    return header + b"x" * size


async def _handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else "/"
    if path.startswith("/stats"):
        await ws.send(json.dumps({"handshakes": HANDSHAKES, "pid": os.getpid()}))
        await ws.wait_closed()  # the client closes first (trio-websocket leaks otherwise)
        return
    HANDSHAKES.append(time.monotonic())
    if path.startswith("/source/"):
        parts = path.split("/")
        size, count = int(parts[2]), int(parts[3])
        # Pre-encoded frames written straight to the transport with flow control, so the
        # server costs almost nothing per message and cannot be the bottleneck.
        frame = _binary_frame(size)
        per_batch = max(1, BATCH_BYTES // len(frame))
        batch = frame * per_batch
        full, rest = divmod(count, per_batch)
        for _ in range(full):
            ws.transport.write(batch)
            await ws.drain()
        if rest:
            ws.transport.write(frame * rest)
            await ws.drain()
        await ws.wait_closed()
        return
    if path.startswith("/sink/"):
        # Count ``count`` messages from the client, then say "done" (client-send benches).
        count = int(path.split("/")[2])
        received = 0
        async for _ in ws:
            received += 1
            if received == count:
                await ws.send("done")
        return
    async for message in ws:
        await ws.send(message)


async def _warm_up(port: int) -> None:
    """One uncounted handshake to ourselves, so the first real clients do not pay for lazy
    imports and cold caches (that would bunch their handshakes, e.g. in the storm)."""
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/stats", compression=None) as ws:
        await ws.recv()  # leaving the block closes from our side


async def _main(port: int, reuse_port: bool) -> None:
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    options: dict[str, Any] = {
        "compression": None,
        "max_size": None,
        "ping_interval": None,
        "close_timeout": 1.0,
        "backlog": 4096,
    }
    # Warm up on a port of its own first: while the real port listens, every
    # client that connects is answered at once, so READY is when it started listening.
    async with serve(_handler, "127.0.0.1", 0, **options) as warm:
        await _warm_up(next(iter(warm.sockets)).getsockname()[1])
    HANDSHAKES.clear()
    async with serve(
        _handler, "127.0.0.1", port, reuse_port=reuse_port or None, **options
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        sys.stdout.write(f"READY {bound} {time.monotonic()}\n")
        sys.stdout.flush()
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args(argv)
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(args.port, args.reuse_port))


if __name__ == "__main__":
    main()
