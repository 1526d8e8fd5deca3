"""The HTTP CONNECT dial step against a scripted proxy on in-memory streams."""

from __future__ import annotations

import base64

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from trio_heartbeat._transport.http_connect import http_connect
from trio_heartbeat._transport.proxy_env import parse_proxy


async def read_request(stream: trio.abc.Stream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some()
    return data


async def tunnel_with(
    answer: bytes, proxy: str = "http://proxy.test:3128", host: str = "ws.test", port: int = 443
) -> tuple[bytes, trio.abc.Stream | BaseException, trio.abc.Stream]:
    client, server = trio.testing.memory_stream_pair()
    seen: list[bytes] = []
    result: list[trio.abc.Stream | BaseException] = []

    async def run_client() -> None:
        try:
            result.append(await http_connect(client, parse_proxy(proxy), host, port))
        except th.HeartbeatError as exc:
            result.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_client)
        seen.append(await read_request(server))
        if answer:
            await server.send_all(answer)
        else:
            await server.aclose()
    return seen[0], result[0], server


async def test_connect_request_and_tunnel() -> None:
    request, tunnel, server = await tunnel_with(b"HTTP/1.1 200 Connection established\r\n\r\n")
    assert request.startswith(b"CONNECT ws.test:443 HTTP/1.1\r\n")
    assert b"host: ws.test:443\r\n" in request.lower()
    assert b"proxy-authorization" not in request.lower()
    assert isinstance(tunnel, trio.abc.Stream)
    await server.send_all(b"through")
    assert await tunnel.receive_some() == b"through"


async def test_basic_credentials_from_the_proxy_url() -> None:
    request, _, _ = await tunnel_with(
        b"HTTP/1.1 200 OK\r\n\r\n", proxy="http://al%40ice:s3cr%3At@proxy.test:3128"
    )
    token = base64.b64encode(b"al@ice:s3cr:t").decode()
    assert f"Proxy-Authorization: Basic {token}\r\n".encode() in request


async def test_bytes_after_the_answer_are_kept() -> None:
    _, tunnel, server = await tunnel_with(b"HTTP/1.1 200 OK\r\n\r\nEARLY")
    assert isinstance(tunnel, trio.abc.Stream)
    assert await tunnel.receive_some(3) == b"EAR"
    assert await tunnel.receive_some() == b"LY"
    await server.send_all(b"later")
    assert await tunnel.receive_some() == b"later"


async def test_ipv6_targets_are_bracketed() -> None:
    request, _, _ = await tunnel_with(b"HTTP/1.1 200 OK\r\n\r\n", host="::1", port=9)
    assert request.startswith(b"CONNECT [::1]:9 HTTP/1.1\r\n")


async def test_407_is_a_clear_proxy_rejection_without_secrets() -> None:
    _, error, _ = await tunnel_with(
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        proxy="http://user:SECRET@proxy.test:3128",
    )
    assert isinstance(error, th.ProxyRejected)
    assert (error.status, error.proxy) == (407, "proxy.test:3128")
    assert "SECRET" not in str(error) and "user" not in str(error)
    assert th.ReconnectPolicy().action_for(error) is th.CloseAction.STOP


async def test_a_bad_gateway_is_retried() -> None:
    _, error, _ = await tunnel_with(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
    assert isinstance(error, th.ProxyRejected) and error.status == 502
    assert th.ReconnectPolicy().action_for(error) is th.CloseAction.RETRY


@pytest.mark.parametrize(
    ("answer", "match"), [(b"", "closed the connection"), (b"SSH-2.0-x\r\n\r\n", "answer in HTTP")]
)
async def test_a_proxy_that_hangs_up_or_is_not_http(answer: bytes, match: str) -> None:
    _, error, _ = await tunnel_with(answer)
    assert isinstance(error, th.ConnectError) and not isinstance(error, th.HandshakeRejected)
    assert match in str(error)
