"""The HTTP CONNECT dial step: a tunnel through an HTTP(S) proxy, spoken with h11.

Credentials in the proxy URL go as ``Proxy-Authorization: Basic``. A refusal
is a :class:`ProxyRejected` with the proxy's status (``407``: authentication
required or refused, which the default policy does not retry, like any 4xx).
"""

from __future__ import annotations

import base64

import h11
import trio

from trio_heartbeat._transport.proxy_env import Proxy
from trio_heartbeat.errors import ConnectError, ProxyRejected

__all__ = ["PrefixedStream", "http_connect"]

_READ_SIZE = 16384


class PrefixedStream(trio.abc.Stream):
    """``inner``, with ``prefix`` (bytes already read from it) delivered first."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self.inner = inner
        self._prefix = prefix

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def http_connect(
    stream: trio.abc.Stream, proxy: Proxy, host: str, port: int
) -> trio.abc.Stream:
    """Ask the proxy at the other end of ``stream`` for a tunnel to ``host:port``.

    Returns the tunnel (bytes the proxy sent after its answer included).
    Raises :class:`ProxyRejected` for a non-2xx answer and :class:`ConnectError`
    when the proxy closes the connection or does not speak HTTP. Unbounded:
    the caller bounds it.
    """
    authority = _authority(host, port)
    headers = [("Host", authority)]
    if proxy.username is not None:
        secret = f"{proxy.username}:{proxy.password or ''}".encode()
        headers.append(("Proxy-Authorization", "Basic " + base64.b64encode(secret).decode()))
    http = h11.Connection(h11.CLIENT)
    await stream.send_all(
        http.send(h11.Request(method="CONNECT", target=authority, headers=headers))
    )
    while True:
        try:
            event = http.next_event()
        except h11.RemoteProtocolError as exc:
            raise ConnectError(
                f"the proxy {proxy.address} does not answer in HTTP: {exc}"
            ) from None
        if event is h11.NEED_DATA:
            data = await stream.receive_some(_READ_SIZE)
            if not data:
                raise ConnectError(f"the proxy {proxy.address} closed the connection")
            http.receive_data(bytes(data))
        elif isinstance(event, h11.Response):
            if not 200 <= event.status_code < 300:
                raise ProxyRejected(event.status_code, proxy.address)
            leftover, _ = http.trailing_data
            return PrefixedStream(stream, bytes(leftover)) if leftover else stream
        # an InformationalResponse (1xx): wait for the real answer
