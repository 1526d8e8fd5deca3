"""A real third-party proxy server (tiny-proxy) for the loopback tests.

``python proxy_server.py http|socks5 [USER PASSWORD]`` listens on 127.0.0.1
(a port the OS picks), prints ``LISTENING <port>``, then ``TUNNEL`` for every
connection a client opens through it.
"""

from __future__ import annotations

import sys

import anyio
import anyio.abc
from tiny_proxy import HttpProxyHandler, Socks5ProxyHandler


async def main(kind: str, credentials: list[str]) -> None:
    handlers = {"http": HttpProxyHandler, "socks5": Socks5ProxyHandler}
    username, password = credentials if credentials else (None, None)
    handler = handlers[kind](username=username, password=password)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        print("TUNNEL", flush=True)
        await handler.handle(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    print(f"LISTENING {port}", flush=True)
    await listener.serve(handle)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2:])
