"""Exceptions raised by trio_heartbeat, grouped by cause.

Every public call raises at most one of these (never a bare ExceptionGroup)::

    HeartbeatError
    ├── ConnectError                 opening a connection failed
    │   ├── ConnectTimeout           TCP/TLS/HTTP upgrade did not finish in time
    │   ├── TLSVerificationFailed    the server's certificate did not verify (not retried)
    │   ├── HandshakeRejected        the server answered the upgrade with an HTTP status
    │   │   └── ProxyRejected        the proxy refused the tunnel (407: credentials)
    │   └── BadHandshake             the server's answer is no valid upgrade (its fault)
    ├── ConnectionLost               an open connection ended (close code and reason)
    │   ├── PeerUnresponsive         the liveness deadline passed with no sign of life
    │   └── SessionEnded             the server ended the session on purpose (not retried)
    ├── ReconnectGaveUp              the reconnect policy stopped retrying
    ├── RequestTimeout               a request/ack got no answer in time (link may be fine)
    ├── SendBufferFull               send() while the outgoing buffer is full
    ├── RemoteProtocolError          the peer sent something we cannot parse (its fault)
    │   └── MessageTooBig            an inbound message exceeded max_message_size (1009 sent)
    └── UsageError                   the API was misused (our caller's fault);
        │                            also a ValueError and a TypeError
        └── ConnectionClosedError    the managed connection was already closed

All exceptions survive ``copy`` and ``pickle``: each stores its constructor
arguments in ``args``.
"""

from __future__ import annotations

from trio_heartbeat._core.close_codes import CloseCode

__all__ = [
    "BadHandshake",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosedError",
    "ConnectionLost",
    "HandshakeRejected",
    "HeartbeatError",
    "MessageTooBig",
    "PeerUnresponsive",
    "ProxyRejected",
    "ReconnectGaveUp",
    "RemoteProtocolError",
    "RequestTimeout",
    "SendBufferFull",
    "SessionEnded",
    "TLSVerificationFailed",
    "UsageError",
]


def describe_failure(step: str | None, error: BaseException) -> str:
    """``"<step> failed with <Type>[: <message>]"``: never empty, even for ``AssertionError()``."""
    what = f"{step} failed with " if step else ""
    text = str(error)
    return f"{what}{type(error).__name__}{': ' + text if text else ''}"


class HeartbeatError(Exception):
    """Base class of every exception this library raises on purpose."""


class ConnectError(HeartbeatError):
    """Opening a WebSocket connection failed (DNS, TCP, TLS or the HTTP upgrade)."""


class ConnectTimeout(ConnectError):
    """The opening handshake did not complete within ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout)
        self.timeout = timeout

    def __str__(self) -> str:
        return f"opening handshake did not complete within {self.timeout:g} s"


class HandshakeRejected(ConnectError):
    """The server refused the upgrade with an HTTP ``status`` (401, 404, 503...).

    ``retry_after`` is the server's Retry-After header in seconds, when it sent one.
    """

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(status, retry_after)
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = f"server rejected the WebSocket upgrade with HTTP {self.status}"
        if self.retry_after is not None:
            text += f" (Retry-After: {self.retry_after:g} s)"
        return text


class ProxyRejected(HandshakeRejected):
    """The proxy at ``proxy`` (``host:port``) refused the tunnel with HTTP ``status``.

    407 means its credentials are missing or wrong (also used for a refused
    SOCKS5 authentication). The reconnect policy treats it like any
    :class:`HandshakeRejected` status: 4xx stop by default.
    """

    def __init__(self, status: int, proxy: str) -> None:
        super().__init__(status)
        self.args = (status, proxy)
        self.proxy = proxy

    def __str__(self) -> str:
        text = f"the proxy {self.proxy} refused the tunnel with HTTP {self.status}"
        if self.status == 407:
            text += " (proxy authentication required or refused)"
        return text


class BadHandshake(ConnectError):
    """The server answered the upgrade, but not with a valid WebSocket handshake.

    Its fault, not ours: a 101 without ``Upgrade: websocket``, a wrong or missing
    ``Sec-WebSocket-Accept``, an extension or subprotocol we did not offer, a
    response head over 16 KiB, or no HTTP at all. ``reason`` says which.
    Retried by the policy (a proxy in front of a restarting server answers like this).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"bad WebSocket handshake from the server: {self.reason}"


class TLSVerificationFailed(ConnectError):
    """The server's TLS certificate did not verify against the trusted roots.

    ``reason`` is OpenSSL's (e.g. ``unable to get local issuer certificate``,
    ``IP address mismatch``). Configuration, not weather: the policy stops on it
    unless ``ReconnectPolicy.error_types`` says otherwise.
    """

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(host, reason)
        self.host = host
        self.reason = reason

    def __str__(self) -> str:
        return f"TLS certificate of {self.host} did not verify: {self.reason}"


class ConnectionLost(HeartbeatError):
    """An open connection ended.

    ``code`` is the WebSocket close code (1006 when no close frame arrived) and
    ``reason`` the close reason, possibly empty.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"connection lost (code {self.code}{': ' + self.reason if self.reason else ''})"


class PeerUnresponsive(ConnectionLost):
    """No sign of life from the peer within ``bound`` seconds; the link was aborted."""

    def __init__(self, bound: float, what: str = "inbound traffic") -> None:
        super().__init__(CloseCode.ABNORMAL_CLOSURE, f"no {what} within {bound:g} s")
        self.args = (bound, what)
        self.bound = bound
        self.what = what


class SessionEnded(ConnectionLost):
    """The server ended the session on purpose (e.g. a Socket.IO disconnect packet).

    The reconnect policy does not retry it: reconnecting would defy the server.
    """


class ReconnectGaveUp(HeartbeatError):
    """The reconnect policy stopped retrying.

    ``last_error`` is the failure that ended the last attempt, ``attempts`` how
    many connection attempts were made, ``undelivered`` the outgoing messages
    still buffered when the connection gave up, ``why`` the policy's reason and
    ``step`` the step that failed last (``"connect"``, ``"upgrade"``,
    ``"on_connect"`` or ``"link"``, see ``Step``).
    """

    def __init__(
        self,
        last_error: BaseException | None,
        attempts: int,
        undelivered: tuple[str | bytes, ...] = (),
        why: str = "",
        step: str | None = None,
    ) -> None:
        super().__init__(last_error, attempts, undelivered, why, step)
        self.last_error = last_error
        self.attempts = attempts
        self.undelivered = undelivered
        self.why = why
        self.step = step

    def __str__(self) -> str:
        text = f"gave up after {self.attempts} attempt(s)"
        if self.why:
            text += f" ({self.why})"
        if self.last_error is not None:
            text += f"; last: {describe_failure(self.step, self.last_error)}"
        if self.undelivered:
            text += f"; {len(self.undelivered)} message(s) undelivered"
        return text


class RequestTimeout(HeartbeatError):
    """No answer to ``what`` (a request or an acknowledged event) within ``timeout`` seconds.

    The connection may be fine: the request was abandoned, a late answer is ignored.
    """

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(what, timeout)
        self.what = what
        self.timeout = timeout

    def __str__(self) -> str:
        return f"no answer to {self.what} within {self.timeout:g} s"


class SendBufferFull(HeartbeatError):
    """The outgoing buffer already holds ``capacity`` messages while disconnected."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.capacity = capacity

    def __str__(self) -> str:
        return f"send buffer full ({self.capacity} messages waiting for a connection)"


class RemoteProtocolError(HeartbeatError):
    """The peer sent a frame that breaks the protocol (bad JSON, unknown type...)."""


class MessageTooBig(RemoteProtocolError):
    """An inbound message exceeded ``max_message_size`` (``limit``, bytes or characters).

    The link was closed with 1009; like any protocol error it is counted in
    ``statistics().protocol_errors`` and retried by the policy.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    def __str__(self) -> str:
        return (
            f"inbound message exceeds max_message_size ({self.limit}); "
            "the link was closed with 1009"
        )


class UsageError(HeartbeatError, ValueError, TypeError):
    """The library was called in a way it does not support (a bad value, type or moment).

    Also a ``ValueError`` and a ``TypeError``, so that ``except ValueError`` and
    ``except TypeError`` around a configuration keep working.
    """


class ConnectionClosedError(UsageError):
    """The managed connection was closed (left its ``async with`` or gave up)."""
