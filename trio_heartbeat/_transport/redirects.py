"""Redirects of the WebSocket upgrade (HTTP 301, 302, 303, 307, 308).

Followed by ``open_link`` up to :data:`MAX_REDIRECTS` hops within the one
``connect_timeout``, like Python ``websockets`` (which follows 10). A
``Location`` may be relative or absolute, ``ws``/``wss`` or ``http``/``https``
(mapped to ``ws``/``wss``). Never followed from ``wss`` to ``ws`` (a
downgrade would expose the upgrade's headers in clear text). Extra headers are
kept only while the redirect stays on the same host and port: a redirect to
another host must not receive an ``Authorization`` meant for the first.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from trio_heartbeat._core.redact import redact_to_origin
from trio_heartbeat.errors import ConnectError, HandshakeRejected

__all__ = [
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "RedirectRequested",
    "redirect_target",
]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


class RedirectRequested(HandshakeRejected):
    """The server answered the upgrade with a redirect to ``location``.

    Internal: ``open_link`` follows it; it never reaches the application.
    """

    def __init__(self, status: int, location: str = "") -> None:
        super().__init__(status)
        self.args = (status,)  # the location may carry a secret: not in the repr
        self.location = location


def redirect_target(current: str, location: str) -> tuple[str, bool]:
    """The URL a redirect from ``current`` to ``location`` leads to, and
    whether it stays on the same host and port (headers may be kept).

    Raises :class:`ConnectError` for a downgrade from ``wss`` or a location
    that is not a ``ws``/``wss``/``http``/``https`` URL.
    """
    joined = urlsplit(urljoin(current, location))
    scheme = _SCHEMES.get(joined.scheme)
    try:
        joined.port  # noqa: B018  (validates the port)
    except ValueError:
        scheme = None
    if scheme is None or not joined.hostname:
        raise ConnectError(f"redirected to an unusable location {redact_to_origin(location)}")
    old = urlsplit(current)
    if old.scheme == "wss" and scheme == "ws":
        raise ConnectError(
            f"refused a redirect from wss:// to {redact_to_origin(location)}: it would drop TLS"
        )
    url = urlunsplit((scheme, joined.netloc, joined.path, joined.query, ""))
    new = urlsplit(url)
    default = {"ws": 80, "wss": 443}
    same = (old.hostname, old.port or default[old.scheme]) == (
        new.hostname,
        new.port or default[new.scheme],
    )
    return url, same
