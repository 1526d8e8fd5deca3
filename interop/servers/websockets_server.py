"""Echo server on the Python ``websockets`` library (asyncio API) with keepalive on.

``websockets`` sends a ping every ``--ping-interval`` seconds and, when the pong
has not come ``--ping-timeout`` seconds later, fails the connection with close
code 1011 ("keepalive ping timeout").  Text and binary messages are echoed.

Usage: python websockets_server.py [--port 0] [--ping-interval 20] [--ping-timeout 20]

stdout protocol (read by tests/interop/conftest.py): one line ``LISTENING <port>``
once the server accepts connections, then one JSON object per line per event
(``connect``, ``message``, ``close``), each with ``event`` and ``t`` (seconds
since start).  Library logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

_START = time.monotonic()


def log_event(event: str, **fields: Any) -> None:
    """Write one JSON event line to stdout and flush it."""
    line = {"event": event, "t": time.monotonic() - _START, **fields}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"needs a number >= 0, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; 0 for an interval or timeout disables it, as in websockets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ping-interval", type=_seconds, default=20.0)
    parser.add_argument("--ping-timeout", type=_seconds, default=20.0)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    """Serve on 127.0.0.1 until SIGTERM or SIGINT."""
    next_id = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal next_id
        next_id += 1
        client = next_id
        path = ws.request.path if ws.request is not None else None
        extensions = [extension.name for extension in ws.protocol.extensions]
        log_event("connect", client=client, path=path, extensions=extensions)
        try:
            async for message in ws:
                log_event("message", client=client, binary=isinstance(message, bytes))
                await ws.send(message)
        except ConnectionClosed:
            pass
        sent, received = ws.protocol.close_sent, ws.protocol.close_rcvd
        log_event(
            "close",
            client=client,
            code_sent=None if sent is None else int(sent.code),
            reason_sent=None if sent is None else sent.reason,
            code_received=None if received is None else int(received.code),
            reason_received=None if received is None else received.reason,
        )

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        ping_interval=args.ping_interval or None,
        ping_timeout=args.ping_timeout or None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        sys.stdout.write(f"LISTENING {port}\n")
        sys.stdout.flush()
        log_event(
            "config",
            server="websockets",
            ping_interval=args.ping_interval,
            ping_timeout=args.ping_timeout,
        )
        await stop


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    asyncio.run(main(parse_args()))
