"""The server's gates with real clients on 127.0.0.1 (real time, bounded):
trio_heartbeat's own client (both engines) and Python ``websockets``."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect as websockets_connect

import trio_heartbeat as th
from trio_heartbeat.server import (
    Accept,
    HeartbeatServer,
    InvalidMessage,
    Reject,
    ServerClient,
    ServerHeartbeat,
    ServerOptions,
    UpgradeRequest,
    open_heartbeat_server,
)

pytestmark = pytest.mark.loopback

BOUND = 20.0  # seconds: generous, a shared machine


async def authorize(request: UpgradeRequest) -> Accept | Reject:
    """Bearer-token authentication; the subprotocol chosen from the offer."""
    token = request.header("authorization") or f"Bearer {request.param('token')}"
    if token != "Bearer good":
        return Reject(401, "unknown token")
    chosen = "chat.v2" if "chat.v2" in request.subprotocols else None
    return Accept(subprotocol=chosen, data={"user": "ada"})


def text_only(client: ServerClient, message: str | bytes) -> None:
    if not isinstance(message, str):
        raise InvalidMessage("text frames only", code=4003)


async def greet(client: ServerClient) -> None:
    async for message in client:
        await client.send(f"{client.data['user']}:{client.subprotocol}:{message}")


@asynccontextmanager
async def gated_server(options: ServerOptions | None = None) -> AsyncIterator[HeartbeatServer]:
    async with open_heartbeat_server(
        greet,
        "127.0.0.1",
        0,
        heartbeat=ServerHeartbeat.ping(5.0),
        options=options,
        authorize=authorize,
        validate=text_only,
    ) as server:
        yield server


def _client_options(transport: th.Transport, **kwargs: object) -> th.ConnectionOptions:
    return th.ConnectionOptions(transport=transport, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", list(th.Transport))
async def test_our_client_is_rejected_with_the_status_or_let_in(transport: th.Transport) -> None:
    with trio.fail_after(BOUND):
        async with gated_server() as server:
            url = f"ws://127.0.0.1:{server.port}/room"
            with pytest.raises(th.ReconnectGaveUp) as gave_up:
                async with th.open_managed_websocket(
                    url + "?token=bad", options=_client_options(transport)
                ) as ws:
                    await ws.wait_connected()
            assert isinstance(gave_up.value.last_error, th.HandshakeRejected)
            assert gave_up.value.last_error.status == 401
            assert gave_up.value.attempts == 1  # 401 is not retried
            options = _client_options(
                transport,
                extra_headers=(("Authorization", "Bearer good"),),
                subprotocols=("chat.v1", "chat.v2"),
            )
            async with th.open_managed_websocket(url, options=options) as ws:
                await ws.wait_connected()
                await ws.send("hello")
                assert await ws.receive() == "ada:chat.v2:hello"
            stats = server.statistics()
            assert (stats.rejected, stats.accepted) == (1, 1)


def _websockets_session(port: int) -> tuple[int, str, str | None, int]:
    """In a thread: a rejected attempt, then a session ended by the validator."""
    try:
        websockets_connect(f"ws://127.0.0.1:{port}/?token=bad", proxy=None, open_timeout=BOUND)
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = exc.response.body.decode()
    else:  # pragma: no cover
        raise AssertionError("the upgrade was not rejected")
    with websockets_connect(
        f"ws://127.0.0.1:{port}/?token=good",
        proxy=None,
        subprotocols=["chat.v2"],  # type: ignore[list-item]
        open_timeout=BOUND,
        close_timeout=BOUND,
    ) as ws:
        ws.send("hi")
        echo = ws.recv(timeout=BOUND)
        assert isinstance(echo, str)
        ws.send(b"binary is refused")
        try:
            ws.recv(timeout=BOUND)
        except ConnectionClosedError as exc:
            assert exc.rcvd is not None
            code = exc.rcvd.code
        else:  # pragma: no cover
            raise AssertionError("the connection was not closed")
        return status, body, echo, code


async def test_the_websockets_client_sees_the_rejection_and_the_validator() -> None:
    with trio.fail_after(BOUND):
        async with gated_server() as server:
            status, body, echo, code = await trio.to_thread.run_sync(
                _websockets_session, server.port
            )
            assert (status, body) == (401, "unknown token")
            assert echo == "ada:chat.v2:hi"
            assert code == 4003  # counted and unregistered before the close frame went out
            assert server.clients() == ()
            stats = server.statistics()
            assert (stats.rejected, stats.accepted, stats.invalid_messages) == (1, 1, 1)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _websockets_over_tls(port: int, context: ssl.SSLContext) -> str | bytes:
    with websockets_connect(
        f"wss://127.0.0.1:{port}/?token=good", proxy=None, ssl=context, open_timeout=BOUND
    ) as ws:
        ws.send("secure")
        return ws.recv(timeout=BOUND)


async def test_wss_with_an_ssl_context(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    with trio.fail_after(BOUND):
        async with gated_server(ServerOptions(ssl_context=server_tls)) as server:
            options = th.ConnectionOptions(
                ssl_context=client_tls, extra_headers=(("Authorization", "Bearer good"),)
            )
            url = f"wss://127.0.0.1:{server.port}/"
            async with th.open_managed_websocket(url, options=options) as ws:
                await ws.wait_connected()
                await ws.send("over tls")
                assert await ws.receive() == "ada:None:over tls"
            echo = await trio.to_thread.run_sync(_websockets_over_tls, server.port, client_tls)
            assert echo == "ada:None:secure"
            # a plain ws:// client cannot talk to it: a counted handshake failure
            with pytest.raises(th.ReconnectGaveUp):
                async with th.open_managed_websocket(
                    f"ws://127.0.0.1:{server.port}/?token=good",
                    reconnect=th.ReconnectPolicy(max_attempts=1),
                ) as ws:
                    await ws.wait_connected()
            for _ in range(500):  # bounded: the server counts as it closes the socket
                if server.statistics().handshake_failures:
                    break
                await trio.sleep(0.01)
            assert (server.statistics().handshake_failures, server.statistics().accepted) == (1, 2)
