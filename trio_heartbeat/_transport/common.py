"""What every transport shares: URLs, the dial signature, the observed byte
stream (:class:`ObservedStream`, in ``observed.py``)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

import attrs
import trio

from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._core.redact import redact_target, redact_url
from trio_heartbeat._transport.observed import ObservedStream
from trio_heartbeat._transport.upgrade import retry_after_seconds
from trio_heartbeat.errors import UsageError

__all__ = [
    "Dial",
    "ObservedStream",
    "Target",
    "handshake_headers",
    "parse_url",
    "retry_after_seconds",
]

Dial = Callable[[], Awaitable[trio.abc.Stream]]
"""Opens the byte stream to the server (TCP, TLS, or an in-memory test stream)."""


@attrs.frozen
class Target:
    """A parsed ``ws://`` / ``wss://`` URL.

    ``authorization`` is the ``Authorization`` header value made from the URL's
    userinfo (``ws://user:password@host``: Basic auth), None without one. Its
    repr hides it and the query string of ``resource``.
    """

    secure: bool
    host: str
    port: int
    resource: str = attrs.field(repr=redact_target)
    authorization: str | None = attrs.field(default=None, repr=lambda value: repr(value and "***"))

    @property
    def host_header(self) -> str:
        default = 443 if self.secure else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse_url(url: str, extra_headers: tuple[tuple[str, str], ...] = ()) -> Target:
    """Parse a WebSocket URL; raise :class:`UsageError` if it is not one.

    Credentials in the URL (``ws://user:password@host/``, percent-decoded) are
    sent as Basic auth; together with an ``Authorization`` header in
    ``extra_headers`` they are refused (one of them would be dropped). Messages
    never repeat the URL's userinfo or query string.
    """
    if not isinstance(url, str):
        raise UsageError(f"url must be a str, got {type(url).__name__}")
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UsageError(f"url is malformed: {shown!r}") from None
    if parts.scheme not in ("ws", "wss"):
        raise UsageError(f"url must start with ws:// or wss://, got {shown!r}")
    if not parts.hostname:
        raise UsageError(f"url has no host: {shown!r}")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"url has a bad port: {shown!r}") from None
    secure = parts.scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    authorization = None
    if parts.username is not None or parts.password is not None:
        if any(name.lower() == "authorization" for name, _ in extra_headers):
            raise UsageError(
                f"url has credentials and extra_headers an Authorization header: {shown!r}"
            )
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        if ":" in user:
            raise UsageError(f"a Basic auth user name cannot contain ':': {shown!r}")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    port = port or (443 if secure else 80)
    return Target(secure, parts.hostname, port, resource, authorization)


def handshake_headers(target: Target, options: ConnectionOptions) -> list[tuple[bytes, bytes]]:
    """The extra headers of the upgrade request: the options', plus Basic auth from the URL."""
    headers = [(name.encode(), value.encode()) for name, value in options.extra_headers]
    if target.authorization is not None:
        headers.append((b"Authorization", target.authorization.encode("ascii")))
    return headers
