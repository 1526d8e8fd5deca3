"""A real third-party proxy server (tiny-proxy) for the loopback tests.

``python proxy_server.py [--tls=CERT,KEY] http|socks5 [USER PASSWORD]``
listens on 127.0.0.1 (a port the OS picks; with ``--tls``, clients speak TLS
to the proxy itself: an ``https://`` proxy), prints ``LISTENING <port>``,
then ``TUNNEL`` for every connection a client opens through it.
"""

from __future__ import annotations

import ssl
import sys

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener
from tiny_proxy import HttpProxyHandler, Socks5ProxyHandler


async def main(args: list[str]) -> None:
    tls = None
    if args[0].startswith("--tls="):
        cert, key = args.pop(0).removeprefix("--tls=").split(",")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    kind, credentials = args[0], args[1:]
    handlers = {"http": HttpProxyHandler, "socks5": Socks5ProxyHandler}
    username, password = credentials if credentials else (None, None)
    handler = handlers[kind](username=username, password=password)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        print("TUNNEL", flush=True)
        await handler.handle(stream)

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, tls, standard_compatible=False) if tls is not None else tcp
    print(f"LISTENING {port}", flush=True)
    await listener.serve(handle)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
