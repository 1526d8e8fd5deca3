"""The one place where the exceptions of foreign libraries become ours.

trio-websocket, wsproto, h11, ``ssl`` and trio's stream errors are turned into
:mod:`trio_heartbeat.errors` by :func:`translate_error` (and the
:func:`map_errors` context manager around calls into an engine). Nothing above
the transport package catches a foreign exception; the supervisor and the link
session call :func:`translate_error` on whatever ends an attempt or a link.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import h11
import trio
import trio_websocket
import wsproto.utilities

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._transport.upgrade import rejection
from trio_heartbeat.errors import (
    BadHandshake,
    ConnectError,
    ConnectionLost,
    HeartbeatError,
    RemoteProtocolError,
    TLSVerificationFailed,
)

__all__ = ["broken_frame", "map_errors", "opening_error", "tls_error", "translate_error"]

_E = TypeVar("_E", bound=BaseException)


def translate_error(exc: BaseException) -> BaseException:
    """Our exception for a foreign one (ours and unknown ones are returned unchanged).

    - trio-websocket's rejection: :class:`HandshakeRejected`; its closes:
      :class:`ConnectionLost`; its other handshake errors: :class:`ConnectError`;
    - wsproto's and h11's complaints about the upgrade answer (they only raise
      during the opening handshake): :class:`BadHandshake`;
    - TLS failures: :class:`TLSVerificationFailed` or :class:`ConnectError`
      (see :func:`tls_error`);
    - a stream that broke or closed: :class:`ConnectionLost` with code 1006.
    """
    if isinstance(exc, HeartbeatError):
        return exc
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return rejection(exc.status_code, exc.headers)
    if isinstance(exc, trio_websocket.ConnectionClosed):
        reason = exc.reason
        code = reason.code if reason is not None else CloseCode.ABNORMAL_CLOSURE
        text = (reason.reason or "") if reason is not None else ""
        return ConnectionLost(code, text)
    if isinstance(exc, trio_websocket.HandshakeError):
        return ConnectError(f"handshake failed: {exc!r}")
    if isinstance(exc, wsproto.utilities.RemoteProtocolError):
        return BadHandshake(str(exc))
    if isinstance(exc, h11.ProtocolError):
        # trio-websocket answers wsproto's complaint with a rejection a client
        # may not send; h11 then raises, with the complaint in its context chain.
        complaint = _in_chain(exc, wsproto.utilities.RemoteProtocolError)
        return BadHandshake(str(complaint or exc))
    if isinstance(exc, wsproto.utilities.LocalProtocolError):
        return ConnectionLost(1006, f"connection no longer open: {exc}")
    if isinstance(exc, ssl.SSLError):
        return tls_error("the server", exc)
    if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError)):
        return ConnectionLost(1006, f"stream closed: {exc}")
    return exc


_FOREIGN_ERRORS = (
    trio_websocket.ConnectionRejected,
    trio_websocket.ConnectionClosed,
    trio_websocket.HandshakeError,
    wsproto.utilities.ProtocolError,
    h11.ProtocolError,
    ssl.SSLError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


@contextmanager
def map_errors() -> Iterator[None]:
    """Translate engine / TLS / stream errors raised inside into ours."""
    try:
        yield
    except _FOREIGN_ERRORS as exc:
        raise translate_error(exc) from None


def opening_error(exc: BaseException, host: str) -> BaseException:
    """Our exception for a failure before the link opened (dial, TLS or upgrade).

    Like :func:`translate_error`, and: a TLS failure anywhere in the cause
    chain names ``host`` and OpenSSL's reason; a link lost or a network error
    before it opened is a failed connect (:class:`ConnectError`).
    """
    if not isinstance(exc, HeartbeatError) and _in_chain(exc, ssl.SSLError) is not None:
        return tls_error(host, exc)
    mapped = translate_error(exc)
    if isinstance(mapped, ConnectionLost):
        return ConnectError(f"connection lost during the opening handshake: {mapped}")
    if isinstance(mapped, OSError):
        return ConnectError(f"cannot connect to {host}: {mapped}")
    return mapped


def _in_chain(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first ``kind`` among ``exc`` and its causes / contexts (trio wraps ssl errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def tls_error(host: str, exc: BaseException) -> ConnectError:
    """The error for a failed TLS handshake with ``host``, naming OpenSSL's reason.

    A certificate that does not verify is a :class:`TLSVerificationFailed` (not
    retried by default); any other TLS failure is a :class:`ConnectError`.
    """
    cause = _in_chain(exc, ssl.SSLError)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return TLSVerificationFailed(host, cause.verify_message or cause.reason or str(cause))
    reason = (cause.reason or str(cause)) if cause is not None else str(exc)
    return ConnectError(f"TLS handshake with {host} failed: {reason or type(exc).__name__}")


def broken_frame(reason: str) -> RemoteProtocolError:
    """The error for a frame the peer broke (both engines say it the same way)."""
    return RemoteProtocolError(f"broken WebSocket frame from the peer: {reason}")
