"""The dial step of an attempt: a byte stream to the server, direct or through a proxy.

One function per kind, each returning a byte stream, with TLS layered on top
by :func:`~trio_heartbeat._transport.tls.start_tls`::

    direct           TCP to the server                       [+ TLS for wss://]
    http://  proxy   TCP to the proxy, CONNECT               [+ TLS for wss://]
    https:// proxy   TCP to the proxy, TLS to it, CONNECT    [+ TLS for wss://]
    socks5(h)://     SOCKS5 tunnel (python-socks)            [+ TLS for wss://]

Unbounded: ``open_link`` bounds dialing, proxy negotiation, TLS and the
upgrade together by ``connect_timeout``. Raises only our exceptions.
"""

from __future__ import annotations

import ipaddress
import os
import ssl

import trio

from trio_heartbeat._transport.common import Target
from trio_heartbeat._transport.http_connect import http_connect
from trio_heartbeat._transport.proxy_env import Proxy
from trio_heartbeat._transport.socks import socks_connect
from trio_heartbeat._transport.tls import start_tls
from trio_heartbeat.errors import ConnectError

__all__ = ["dial_target", "open_tcp"]


async def open_tcp(host: str, port: int, what: str = "") -> trio.abc.Stream:
    """A TCP connection to ``host:port`` (``what``: e.g. "the proxy ", for the message).

    Raises :class:`ConnectError` when it cannot be made, its message saying why
    each address failed ("connection refused"), its cause the operating system's
    error (trio's aggregate of every address's error when there were several).
    """
    try:
        literal = _ip_literal(host)
        if literal is not None:
            return await _connect_to(literal, port)
        return await trio.open_tcp_stream(host, port)
    except OSError as exc:
        failed = exc
    # Raised outside the handler: with a single address, trio's aggregate is not
    # kept as the context either (a kept failure stays a few objects).
    errors = _per_address_errors(failed)
    why = "; ".join(dict.fromkeys(_why(error) for error in errors))
    cause = errors[0] if len(errors) == 1 else failed
    raise ConnectError(f"cannot connect to {what}{host}:{port}: {why}") from cause


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address, if it is one (without a scope: those go the long way)."""
    if "%" in host:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _connect_to(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> trio.SocketStream:
    """One connect to one address: what ``trio.open_tcp_stream`` does for a single
    address, without its resolver step, nursery and per-attempt task (a reconnect
    storm of 1,000 clients makes thousands of these a second)."""
    family = trio.socket.AF_INET6 if address.version == 6 else trio.socket.AF_INET
    sock = trio.socket.socket(family, trio.socket.SOCK_STREAM)
    try:
        await sock.connect((str(address), port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def _per_address_errors(exc: OSError) -> list[BaseException]:
    """The errors of each address trio tried (``exc`` itself when it says no more)."""
    group = exc.__cause__
    if isinstance(group, BaseExceptionGroup) and group.exceptions:
        return list(group.exceptions)
    return [exc]


def _why(error: BaseException) -> str:
    """``error`` in a few words: the system's text for it ("Connection refused")."""
    if isinstance(error, OSError):
        if error.errno is not None and error.errno > 0:
            return os.strerror(error.errno)  # trio's own text repeats the address
        if error.strerror:
            return error.strerror  # a failed name lookup: "Name or service not known"
    return str(error) or type(error).__name__


async def dial_target(
    target: Target, proxy: Proxy | None, ssl_context: ssl.SSLContext | None
) -> trio.abc.Stream:
    """A byte stream to ``target``, through ``proxy`` if any, with TLS for ``wss://``.

    ``ssl_context`` (None: the system's trust) checks the server and an
    ``https://`` proxy. Raises :class:`ConnectError` (:class:`ProxyRejected`
    when the proxy refuses the tunnel).
    """
    if proxy is None:
        stream = await open_tcp(target.host, target.port)
    elif proxy.scheme.startswith("socks5"):
        stream = await socks_connect(proxy, target.host, target.port)
    else:
        stream = await open_tcp(proxy.host, proxy.port, "the proxy ")
        try:
            if proxy.scheme == "https":
                stream = await start_tls(stream, proxy.host, ssl_context)
            stream = await http_connect(stream, proxy, target.host, target.port)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    if target.secure:
        stream = await start_tls(stream, target.host, ssl_context)
    return stream
