"""TLS on top of any byte stream: to the server (``wss://``) or to an ``https://`` proxy.

The one place a TLS handshake happens; its failures become :class:`TLSVerificationFailed`
(a certificate that does not verify) or :class:`ConnectError`, naming OpenSSL's reason.
Unbounded: the caller (``open_link``) bounds the whole opening by ``connect_timeout``.
"""

from __future__ import annotations

import ssl

import trio

from trio_heartbeat._transport.translate import tls_error

__all__ = ["start_tls"]


async def start_tls(
    stream: trio.abc.Stream, hostname: str, context: ssl.SSLContext | None
) -> trio.SSLStream[trio.abc.Stream]:
    """Run a TLS client handshake over ``stream``, checking ``hostname``'s certificate.

    ``context`` None: the system's default trust store. Raises
    :class:`TLSVerificationFailed` or :class:`ConnectError` (and closes
    ``stream``) when the handshake fails.
    """
    tls = trio.SSLStream(
        stream,
        context if context is not None else ssl.create_default_context(),
        server_hostname=hostname,
        https_compatible=True,
    )
    try:
        await tls.do_handshake()
    except (trio.BrokenResourceError, ssl.SSLError) as exc:
        await trio.aclose_forcefully(stream)
        raise tls_error(hostname, exc) from exc
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return tls
