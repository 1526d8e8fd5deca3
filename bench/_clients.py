"""One adapter per client library for the echo and bulk scenarios.

Each adapter is a synchronous callable that starts its own event loop (``trio.run`` or
``asyncio.run``), connects to the benchmark server, does the work and returns timings
measured with ``time.perf_counter()`` inside that loop. Connect time is excluded.

- :func:`echo_fn` callables take ``(url, rounds, payload)`` and return per-round-trip
  seconds plus the total seconds for all rounds.
- :func:`source_fn` callables take ``(url, size, count)`` and return the seconds from the
  request to the last byte of the last message.

A library that is not importable gives None from the ``*_fn`` lookup: its column is n/a.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import trio

from bench._common import HOST, has_websockets_trio, load_managed

EchoResult = tuple[list[float], float]
EchoFn = Callable[[str, int, bytes], EchoResult]
SourceFn = Callable[[str, int, int], float]

#: Clients in table order. ``raw-trio-websocket-64k`` is the raw client with a 64 KiB
#: receive buffer instead of trio-websocket's default 4 KiB.
CLIENTS = (
    "trio_heartbeat",
    "raw-trio-websocket",
    "raw-trio-websocket-64k",
    "websockets.trio",
    "websockets.asyncio",
    "aiohttp",
)


def _source_url(url: str, size: int, count: int) -> str:
    return f"{url.rstrip('/')}/source/{size}/{count}"


# -- trio_heartbeat ---------------------------------------------------------------------


def _managed_kwargs(th: Any) -> dict[str, Any]:
    return {
        "heartbeat": th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        "reconnect": th.ReconnectPolicy(wait_initial=0.1, wait_max=2.0),
    }


def _managed_echo(url: str, rounds: int, payload: bytes) -> EchoResult:
    th = load_managed()
    assert th is not None

    async def main() -> EchoResult:
        rtts: list[float] = []
        async with th.open_managed_websocket(url, **_managed_kwargs(th)) as ws:
            await ws.wait_connected()
            start = time.perf_counter()
            for _ in range(rounds):
                t0 = time.perf_counter()
                await ws.send(payload)
                await ws.receive()
                rtts.append(time.perf_counter() - t0)
            return rtts, time.perf_counter() - start

    return trio.run(main)


def _managed_source(url: str, size: int, count: int) -> float:
    th = load_managed()
    assert th is not None

    async def main() -> float:
        async with th.open_managed_websocket(
            _source_url(url, size, count), **_managed_kwargs(th)
        ) as ws:
            await ws.wait_connected()
            start = time.perf_counter()
            for _ in range(count):
                await ws.receive()
            return time.perf_counter() - start

    return trio.run(main)


# -- raw trio-websocket -----------------------------------------------------------------


def _raw_echo(url: str, rounds: int, payload: bytes) -> EchoResult:
    from trio_websocket import open_websocket_url

    async def main() -> EchoResult:
        rtts: list[float] = []
        async with open_websocket_url(url) as ws:
            start = time.perf_counter()
            for _ in range(rounds):
                t0 = time.perf_counter()
                await ws.send_message(payload)
                await ws.get_message()
                rtts.append(time.perf_counter() - t0)
            return rtts, time.perf_counter() - start

    return trio.run(main)


def _raw_source(buffer: int) -> SourceFn:
    def run(url: str, size: int, count: int) -> float:
        from trio_websocket import open_websocket_url

        async def main() -> float:
            async with open_websocket_url(
                _source_url(url, size, count),
                receive_buffer_size=buffer,
                max_message_size=max(size, 2**20),
            ) as ws:
                start = time.perf_counter()
                for _ in range(count):
                    await ws.get_message()
                return time.perf_counter() - start

        return trio.run(main)

    return run


# -- websockets -------------------------------------------------------------------------


def _wst_echo(url: str, rounds: int, payload: bytes) -> EchoResult:
    from websockets.trio.client import connect

    async def main() -> EchoResult:
        rtts: list[float] = []
        async with connect(url, compression=None, max_size=None) as ws:
            start = time.perf_counter()
            for _ in range(rounds):
                t0 = time.perf_counter()
                await ws.send(payload)
                await ws.recv()
                rtts.append(time.perf_counter() - t0)
            return rtts, time.perf_counter() - start

    return trio.run(main)


def _wst_source(url: str, size: int, count: int) -> float:
    from websockets.trio.client import connect

    async def main() -> float:
        async with connect(_source_url(url, size, count), compression=None, max_size=None) as ws:
            start = time.perf_counter()
            for _ in range(count):
                await ws.recv()
            return time.perf_counter() - start

    return trio.run(main)


def _wsa_echo(url: str, rounds: int, payload: bytes) -> EchoResult:
    from websockets.asyncio.client import connect

    async def main() -> EchoResult:
        rtts: list[float] = []
        async with connect(url, compression=None, max_size=None) as ws:
            start = time.perf_counter()
            for _ in range(rounds):
                t0 = time.perf_counter()
                await ws.send(payload)
                await ws.recv()
                rtts.append(time.perf_counter() - t0)
            return rtts, time.perf_counter() - start

    return asyncio.run(main())


def _wsa_source(url: str, size: int, count: int) -> float:
    from websockets.asyncio.client import connect

    async def main() -> float:
        async with connect(_source_url(url, size, count), compression=None, max_size=None) as ws:
            start = time.perf_counter()
            for _ in range(count):
                await ws.recv()
            return time.perf_counter() - start

    return asyncio.run(main())


# -- aiohttp ----------------------------------------------------------------------------


def _aio_echo(url: str, rounds: int, payload: bytes) -> EchoResult:
    import aiohttp

    async def main() -> EchoResult:
        rtts: list[float] = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, compress=0, max_msg_size=0) as ws,
        ):
            start = time.perf_counter()
            for _ in range(rounds):
                t0 = time.perf_counter()
                await ws.send_bytes(payload)
                await ws.receive()
                rtts.append(time.perf_counter() - t0)
            return rtts, time.perf_counter() - start

    return asyncio.run(main())


def _aio_source(url: str, size: int, count: int) -> float:
    import aiohttp

    async def main() -> float:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(_source_url(url, size, count), compress=0, max_msg_size=0) as ws,
        ):
            start = time.perf_counter()
            for _ in range(count):
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.BINARY:
                    raise RuntimeError(f"unexpected aiohttp message {msg.type!r}")
            return time.perf_counter() - start

    return asyncio.run(main())


# -- server ceiling: a raw socket reader that does no WebSocket parsing ----------------


def ceiling_source(url: str, size: int, count: int) -> float:
    """Read the server's byte stream with plain blocking recv_into: the server's top speed.

    If this is not clearly faster than the fastest client, the server is the bottleneck.
    """
    port = int(url.rsplit(":", 1)[1].strip("/"))
    header = 2 if size < 126 else (4 if size < 65536 else 10)
    expected = (header + size) * count
    with socket.create_connection((HOST, port), timeout=60) as sock:
        path = f"/source/{size}/{count}"
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("server closed during handshake")
            head += chunk
        got = len(head.split(b"\r\n\r\n", 1)[1])
        start = time.perf_counter()
        while got < expected:
            n = sock.recv_into(view)
            if n == 0:
                raise RuntimeError("server closed early")
            got += n
        return time.perf_counter() - start


def echo_fn(name: str) -> EchoFn | None:
    """The echo adapter for client ``name``; None if its library is not importable."""
    if name == "trio_heartbeat":
        return _managed_echo if load_managed() is not None else None
    if name == "raw-trio-websocket":
        return _raw_echo
    if name == "websockets.trio":
        return _wst_echo if has_websockets_trio() else None
    if name == "websockets.asyncio":
        return _wsa_echo
    if name == "aiohttp":
        return _aio_echo
    return None


def source_fn(name: str) -> SourceFn | None:
    """The bulk-receive adapter for client ``name``; None if not importable."""
    if name == "trio_heartbeat":
        return _managed_source if load_managed() is not None else None
    if name == "raw-trio-websocket":
        return _raw_source(4096)
    if name == "raw-trio-websocket-64k":
        return _raw_source(65536)
    if name == "websockets.trio":
        return _wst_source if has_websockets_trio() else None
    if name == "websockets.asyncio":
        return _wsa_source
    if name == "aiohttp":
        return _aio_source
    if name == "server-ceiling":
        return ceiling_source
    return None
