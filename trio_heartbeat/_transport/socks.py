"""The SOCKS5 dial step, through ``python-socks`` (the optional ``socks`` extra).

``socks5h://`` lets the proxy resolve the host name (remote DNS);
``socks5://`` resolves it here. Credentials in the proxy URL use SOCKS5
username/password authentication; a refused authentication is a
:class:`ProxyRejected` with status 407, like an HTTP proxy's, so that one
policy entry covers both.
"""

from __future__ import annotations

import math

import trio

from trio_heartbeat._transport.proxy_env import Proxy
from trio_heartbeat.errors import ConnectError, ProxyRejected, UsageError

__all__ = ["socks_connect"]


async def socks_connect(proxy: Proxy, host: str, port: int) -> trio.abc.Stream:
    """A TCP stream to ``host:port`` through the SOCKS5 ``proxy``.

    Raises :class:`UsageError` if python-socks is not installed,
    :class:`ProxyRejected` (407) for refused credentials and
    :class:`ConnectError` for any other failure. Unbounded: the caller bounds it.
    """
    try:
        from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
        from python_socks.async_.trio.v2 import Proxy as TrioProxy
    except ImportError:
        raise UsageError(
            "a socks5:// proxy needs python-socks: pip install 'trio_heartbeat[socks]'"
        ) from None
    client = TrioProxy(
        ProxyType.SOCKS5,
        proxy.host,
        proxy.port,
        username=proxy.username,
        password=proxy.password,
        rdns=proxy.scheme == "socks5h",
    )
    try:
        tunnel = await client.connect(host, port, timeout=math.inf)
    except ProxyConnectionError as exc:
        raise ConnectError(f"cannot connect to the proxy {proxy.address}: {exc.strerror}") from None
    except ProxyTimeoutError:
        raise ConnectError(f"the proxy {proxy.address} timed out") from None
    except ProxyError as exc:
        if "authentication" in str(exc).lower():
            raise ProxyRejected(407, proxy.address) from None
        raise ConnectError(f"the proxy {proxy.address} refused the tunnel: {exc}") from None
    except OSError as exc:
        raise ConnectError(f"cannot resolve {host} for the proxy {proxy.address}: {exc}") from None
    stream: trio.abc.Stream = tunnel.trio_stream
    return stream
