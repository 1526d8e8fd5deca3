"""TLS verification failures against a real TLS server on 127.0.0.1 (certificates by trustme).

A certificate that does not verify is configuration, not weather: a
TLSVerificationFailed naming OpenSSL's reason, not retried unless the policy says so.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator

import pytest
import trio
import trio_websocket
import trustme

import trio_heartbeat as th

pytestmark = pytest.mark.loopback


async def _serve_echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
    try:
        await stream.do_handshake()
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            ws = await request.accept()
            while True:
                await ws.send_message(await ws.get_message())
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio_websocket.ConnectionClosed):
        pass  # the client refused our certificate (the point of most tests here)


async def _tls_server(
    nursery: trio.Nursery, ca: trustme.CA, *identities: str
) -> trio.SSLListener[trio.SocketStream]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*identities).configure_cert(context)
    listeners = await nursery.start(
        functools.partial(trio.serve_ssl_over_tcp, host="127.0.0.1"), _serve_echo, 0, context
    )
    listener: trio.SSLListener[trio.SocketStream] = listeners[0]
    return listener


def _port(listener: trio.SSLListener[trio.SocketStream]) -> int:
    port: int = listener.transport_listener.socket.getsockname()[1]
    return port


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def _give_up(url: str, **kwargs: object) -> th.ReconnectGaveUp:
    with trio.fail_after(20), pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(url, **kwargs) as ws:  # type: ignore[arg-type]
            await ws.wait_connected()
    return info.value


async def test_an_untrusted_certificate_stops_with_the_reason(nursery: trio.Nursery) -> None:
    port = _port(await _tls_server(nursery, trustme.CA(), "127.0.0.1"))
    gave_up = await _give_up(f"wss://127.0.0.1:{port}/")
    err = gave_up.last_error
    assert isinstance(err, th.TLSVerificationFailed)
    assert (err.host, err.reason) == ("127.0.0.1", "unable to get local issuer certificate")
    assert str(err) == (
        "TLS certificate of 127.0.0.1 did not verify: unable to get local issuer certificate"
    )
    assert gave_up.attempts == 1  # not retried 38 times in 3 s


async def test_an_ip_address_mismatch_is_named(nursery: trio.Nursery) -> None:
    ca = trustme.CA()
    port = _port(await _tls_server(nursery, ca, "localhost"))
    options = th.ConnectionOptions(ssl_context=_trusting(ca))
    gave_up = await _give_up(f"wss://127.0.0.1:{port}/", options=options)
    err = gave_up.last_error
    assert isinstance(err, th.TLSVerificationFailed)
    assert "IP address mismatch" in err.reason
    assert gave_up.attempts == 1


async def test_the_policy_may_retry_verification_failures(nursery: trio.Nursery) -> None:
    port = _port(await _tls_server(nursery, trustme.CA(), "127.0.0.1"))
    policy = th.ReconnectPolicy.fixed(
        0.01, max_attempts=3, error_types={th.TLSVerificationFailed: th.CloseAction.RETRY}
    )
    gave_up = await _give_up(f"wss://127.0.0.1:{port}/", reconnect=policy)
    assert isinstance(gave_up.last_error, th.TLSVerificationFailed)
    assert gave_up.attempts == 3


async def test_a_trusted_certificate_connects(nursery: trio.Nursery) -> None:
    ca = trustme.CA()
    port = _port(await _tls_server(nursery, ca, "127.0.0.1"))
    options = th.ConnectionOptions(ssl_context=_trusting(ca))
    with trio.fail_after(20):
        async with th.open_managed_websocket(f"wss://127.0.0.1:{port}/", options=options) as ws:
            await ws.send("over TLS")
            assert await ws.receive() == "over TLS"


async def test_other_tls_failures_name_the_reason_and_are_retried(nursery: trio.Nursery) -> None:
    async def plain_http(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await stream.aclose()

    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, host="127.0.0.1"), plain_http, 0
    )
    port = listeners[0].socket.getsockname()[1]
    policy = th.ReconnectPolicy.fixed(0.01, max_attempts=2)
    gave_up = await _give_up(f"wss://127.0.0.1:{port}/", reconnect=policy)
    err = gave_up.last_error
    assert type(err) is th.ConnectError
    prefix = "TLS handshake with 127.0.0.1 failed: "
    assert str(err).startswith(prefix) and len(str(err)) > len(prefix)  # OpenSSL's reason, e.g.
    # WRONG_VERSION_NUMBER (its wording varies between OpenSSL versions)
    assert gave_up.attempts == 2  # not a certificate problem: retried


async def test_a_dial_layer_that_lets_ssl_errors_out_is_translated_too(
    nursery: trio.Nursery,
) -> None:
    """Any dial step (a proxy, a custom TLS layer) may raise trio's own TLS error:
    the one translation point still names the host and the reason."""
    port = _port(await _tls_server(nursery, trustme.CA(), "127.0.0.1"))

    async def raw_tls_dial() -> trio.abc.Stream:
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        tls = trio.SSLStream(tcp, ssl.create_default_context(), server_hostname="127.0.0.1")
        try:
            await tls.do_handshake()  # raises trio.BrokenResourceError from an SSLError
        except BaseException:
            await trio.aclose_forcefully(tcp)
            raise
        return tls

    gave_up = await _give_up(f"wss://127.0.0.1:{port}/", dial=raw_tls_dial)
    err = gave_up.last_error
    assert isinstance(err, th.TLSVerificationFailed)
    assert (err.host, err.reason) == ("127.0.0.1", "unable to get local issuer certificate")
    assert gave_up.attempts == 1
