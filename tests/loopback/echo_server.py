"""A trio-websocket echo server for the loopback tests: `python echo_server.py PORT`.

Prints ``LISTENING <port>`` once bound (PORT 0: the OS picks one).
"""

from __future__ import annotations

import sys

import trio
import trio_websocket


async def handler(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            trio_websocket.serve_websocket, handler, "127.0.0.1", port, None
        )
        print(f"LISTENING {server.port}", flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
