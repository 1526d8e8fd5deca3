"""Real sockets on 127.0.0.1: a real proxy (tiny-proxy), tokens per attempt, failover.

The proxy runs in a child process (``proxy_server.py``) and reports each
tunnel opened through it, so a test can tell a proxied connection from a
direct one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
import trio_websocket

import trio_heartbeat as th
from tests.loopback.test_client_loopback import EchoProcess, next_disconnect

pytestmark = pytest.mark.loopback

PROXY = Path(__file__).with_name("proxy_server.py")
ENV_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
QUICK = th.ReconnectPolicy(wait_initial=0.05, wait_max=0.2, min_uptime=0.5)
QUIET = th.Heartbeat.disabled()


class ProxyProcess:
    """tiny-proxy in a child process; ``tunnels`` counts connections made through it."""

    def __init__(self, kind: str, *credentials: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PROXY), kind, *credentials],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("LISTENING "), line
        self.port = int(line.split()[1])
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line.strip())

    @property
    def tunnels(self) -> int:
        return self._lines.count("TUNNEL")

    def url(self, scheme: str, credentials: str = "") -> str:
        return f"{scheme}://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def proxy_process(kind: str, *credentials: str) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(kind, *credentials)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def http_proxy() -> Iterator[ProxyProcess]:
    yield from proxy_process("http")


@pytest.fixture
def http_proxy_auth() -> Iterator[ProxyProcess]:
    yield from proxy_process("http", "alice", "s3cret")


@pytest.fixture
def socks_proxy() -> Iterator[ProxyProcess]:
    yield from proxy_process("socks5")


@pytest.fixture
def socks_proxy_auth() -> Iterator[ProxyProcess]:
    yield from proxy_process("socks5", "alice", "s3cret")


async def echo_once(url: str | th.Endpoint, options: th.ConnectionOptions) -> None:
    with trio.fail_after(10):
        async with th.open_managed_websocket(
            url, heartbeat=QUIET, reconnect=QUICK, options=options
        ) as ws:
            await ws.send("through")
            assert await ws.receive() == "through"


@pytest.mark.parametrize(
    ("fixture", "scheme", "credentials"),
    [
        ("http_proxy", "http", ""),
        ("http_proxy_auth", "http", "alice:s3cret"),
        ("socks_proxy", "socks5", ""),
        ("socks_proxy", "socks5h", ""),
        ("socks_proxy_auth", "socks5h", "alice:s3cret"),
    ],
)
async def test_through_a_real_proxy(
    request: pytest.FixtureRequest,
    echo_process: EchoProcess,
    clean_env: pytest.MonkeyPatch,
    fixture: str,
    scheme: str,
    credentials: str,
) -> None:
    proxy: ProxyProcess = request.getfixturevalue(fixture)
    url = echo_process.url
    if scheme != "socks5":  # a name, resolved by the proxy (remote DNS); socks5 resolves here
        url = url.replace("127.0.0.1", "localhost")
    await echo_once(url, th.ConnectionOptions(proxy=proxy.url(scheme, credentials)))
    assert proxy.tunnels == 1


@pytest.mark.parametrize(
    ("fixture", "scheme", "status"),
    [("http_proxy_auth", "http", 401), ("socks_proxy_auth", "socks5h", 407)],
)
async def test_wrong_proxy_credentials_stop_with_a_clear_error(
    request: pytest.FixtureRequest,
    echo_process: EchoProcess,
    clean_env: pytest.MonkeyPatch,
    fixture: str,
    scheme: str,
    status: int,
) -> None:
    # tiny-proxy answers a bad password with 401 (a 407 is tested against a scripted proxy)
    proxy: ProxyProcess = request.getfixturevalue(fixture)
    endpoint = th.Endpoint(echo_process.url, proxy=proxy.url(scheme, "alice:WRONGPW"))
    with trio.fail_after(10), pytest.raises(th.ReconnectGaveUp) as info:
        await echo_once(endpoint, th.ConnectionOptions())
    error = info.value.last_error
    assert isinstance(error, th.ProxyRejected) and error.status == status
    assert info.value.attempts == 1
    assert "WRONGPW" not in str(info.value) and "alice" not in str(info.value)


async def test_frozen_server_behind_the_proxy_detected_then_reconnected_through_it(
    echo_process: EchoProcess, http_proxy: ProxyProcess, clean_env: pytest.MonkeyPatch
) -> None:
    heartbeat = th.Heartbeat.ping(interval=0.3, reply_timeout=0.3)
    policy = th.ReconnectPolicy(wait_initial=0.1, wait_max=0.3)
    options = th.ConnectionOptions(proxy=http_proxy.url("http"), connect_timeout=0.5)
    with trio.fail_after(20):
        async with th.open_managed_websocket(
            echo_process.url, heartbeat=heartbeat, reconnect=policy, options=options
        ) as ws:
            await ws.send("before")
            assert await ws.receive() == "before"
            echo_process.freeze()  # the proxy still holds both TCP connections open
            frozen_at = trio.current_time()
            lost = await next_disconnect(ws)
            assert isinstance(lost.cause, th.PeerUnresponsive)
            assert trio.current_time() - frozen_at <= 0.3 + 0.3 + 0.25
            await ws.send("after")
            echo_process.thaw()
            await ws.wait_connected()
            assert await ws.receive() == "after"
    assert http_proxy.tunnels >= 2


async def test_a_handshake_stuck_in_the_proxy_is_bounded_by_connect_timeout(
    clean_env: pytest.MonkeyPatch,
) -> None:
    async def never_answer(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        (listener,) = await nursery.start(serve, never_answer, 0)
        port = listener.socket.getsockname()[1]
        policy = th.ReconnectPolicy(max_attempts=1)
        options = th.ConnectionOptions(proxy=f"http://127.0.0.1:{port}", connect_timeout=0.5)
        started = trio.current_time()
        with trio.fail_after(10), pytest.raises(th.ReconnectGaveUp) as info:
            async with th.open_managed_websocket(
                "ws://ws.test/", reconnect=policy, options=options
            ) as ws:
                await ws.receive()
        assert isinstance(info.value.last_error, th.ConnectTimeout)
        assert 0.5 <= trio.current_time() - started < 2.0
        nursery.cancel_scope.cancel()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (made by the openssl tool)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


async def test_wss_through_an_https_proxy_tls_twice(
    certificate: tuple[Path, Path], clean_env: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))  # trusts the proxy and the server

    async def echo(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            while True:
                await ws.send_message(await ws.get_message())

    proxies = proxy_process(f"--tls={cert},{key}", "http")
    proxy = next(proxies)
    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(trio_websocket.serve_websocket, ssl_context=server_tls),
                echo,
                "127.0.0.1",
                0,
            )
            endpoint = th.Endpoint(
                f"wss://localhost:{server.port}/",
                ssl_context=client_tls,
                proxy=f"https://localhost:{proxy.port}",
            )
            await echo_once(endpoint, th.ConnectionOptions())
            untrusted = th.Endpoint(f"wss://localhost:{server.port}/")  # the system's trust only
            with pytest.raises(th.ReconnectGaveUp) as info:
                async with th.open_managed_websocket(
                    untrusted, reconnect=th.ReconnectPolicy.never()
                ) as ws:
                    await ws.receive()
            error = info.value.last_error
            assert isinstance(error, th.TLSVerificationFailed) and error.host == "localhost"
            assert "did not verify" in str(error)
            nursery.cancel_scope.cancel()
        assert proxy.tunnels == 1
    finally:
        next(proxies, None)


# -- the environment ----------------------------------------------------------------


async def test_environment_proxies_are_honoured_and_no_proxy_respected(
    echo_process: EchoProcess,
    http_proxy: ProxyProcess,
    socks_proxy: ProxyProcess,
    clean_env: pytest.MonkeyPatch,
) -> None:
    options = th.ConnectionOptions()
    clean_env.setenv("HTTP_PROXY", http_proxy.url("http"))
    clean_env.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # for wss:// only
    await echo_once(echo_process.url, options)
    assert http_proxy.tunnels == 1
    clean_env.setenv("NO_PROXY", "localhost,127.0.0.1")
    await echo_once(echo_process.url, options)
    assert http_proxy.tunnels == 1  # direct
    clean_env.delenv("NO_PROXY")
    await echo_once(echo_process.url, th.ConnectionOptions(proxy_from_environment=False))
    assert http_proxy.tunnels == 1  # detection off
    clean_env.delenv("HTTP_PROXY")
    clean_env.setenv("all_proxy", socks_proxy.url("socks5h"))
    await echo_once(echo_process.url, options)
    assert (http_proxy.tunnels, socks_proxy.tunnels) == (1, 1)
    await echo_once(echo_process.url, th.ConnectionOptions(proxy=http_proxy.url("http")))
    assert (http_proxy.tunnels, socks_proxy.tunnels) == (2, 1)  # explicit beats the environment


# -- tokens and failover --------------------------------------------------------------


@pytest.fixture
async def token_server() -> AsyncIterator[tuple[int, list[str]]]:
    """Accepts each ``?token=`` once (401 for a reused one), resets the first two links."""
    used: list[str] = []

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        token = request.path.partition("token=")[2]
        if token in used:
            await request.reject(401)
            return
        used.append(token)
        ws = await request.accept()
        if len(used) <= 2:
            await ws.send_message("reset soon")
            await trio.aclose_forcefully(ws._stream)  # a TCP-level reset, no close frame
            return
        while True:
            await ws.send_message(await ws.get_message())

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        yield server.port, used
        nursery.cancel_scope.cancel()


async def test_a_fresh_token_per_attempt_survives_two_resets(
    token_server: tuple[int, list[str]], clean_env: pytest.MonkeyPatch
) -> None:
    port, used = token_server
    asked: list[th.AttemptContext] = []

    async def fresh_url(context: th.AttemptContext) -> str:
        asked.append(context)
        await trio.lowlevel.checkpoint()  # e.g. a request to a token service
        return f"ws://127.0.0.1:{port}/feed?token=T{len(asked)}"

    with trio.fail_after(10):
        async with th.open_managed_websocket(fresh_url, heartbeat=QUIET, reconnect=QUICK) as ws:
            assert await ws.receive() == "reset soon"
            assert await ws.receive() == "reset soon"
            connected = 0
            async for change in ws.state_changes:  # a send on a link being reset is lost
                connected += isinstance(change, th.Connected)
                if connected == 3:
                    break
            await ws.send("stays")
            assert await ws.receive() == "stays"
            assert ws.statistics().connects == 3
    assert used == ["T1", "T2", "T3"]
    assert [type(c.previous_error) for c in asked] == [
        type(None),
        th.ConnectionLost,
        th.ConnectionLost,
    ]


async def test_a_fixed_token_is_refused_after_the_first_reset(
    token_server: tuple[int, list[str]], clean_env: pytest.MonkeyPatch
) -> None:
    port, used = token_server
    with trio.fail_after(10), pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            f"ws://127.0.0.1:{port}/feed?token=ONCE", heartbeat=QUIET, reconnect=QUICK
        ) as ws:
            while True:
                await ws.receive()
    assert isinstance(info.value.last_error, th.HandshakeRejected)
    assert info.value.last_error.status == 401 and used == ["ONCE"]


async def test_one_endpoint_refusing_while_the_next_works(
    echo_process: EchoProcess, clean_env: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{probe.getsockname()[1]}/"
    with trio.fail_after(10):
        async with th.open_managed_websocket(
            [dead, echo_process.url], heartbeat=QUIET, reconnect=QUICK
        ) as ws:
            await ws.send("fallback")
            assert await ws.receive() == "fallback"
            assert ws.url == echo_process.url
            changes = []
            while True:
                try:
                    changes.append(ws.state_changes.receive_nowait())
                except trio.WouldBlock:
                    break
    refused = [e for e in changes if isinstance(e, th.Disconnected)]
    assert len(refused) == 1 and isinstance(refused[0].cause, th.ConnectError)
    assert [e.endpoint.url for e in changes if isinstance(e, th.Connecting) and e.endpoint] == [
        dead,
        echo_process.url,
    ]
