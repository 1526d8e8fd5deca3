"""The server's gates: who may connect (``authorize``) and what they may send (``validate``).

``authorize(request)`` is an async function that sees every upgrade request
(:class:`UpgradeRequest`) before anything is accepted, and returns
:class:`Accept` (optionally with a subprotocol and per-client ``data`` the
handler sees as ``client.data``) or :class:`Reject` (an HTTP status and
reason, which a trio_heartbeat client raises as ``HandshakeRejected``).

``validate(client, message)`` is a plain function called for every inbound
application message before the handler sees it; raising :class:`InvalidMessage`
closes that client with the code it names (other exceptions: 1011).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._transport.server_engine import UpgradeAnswer, UpgradeAsked
from trio_heartbeat.errors import RemoteProtocolError, UsageError

__all__ = ["Accept", "Authorize", "InvalidMessage", "Reject", "UpgradeRequest"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@attrs.frozen(kw_only=True)
class UpgradeRequest:
    """What a client asked for in its WebSocket upgrade.

    ``path`` is the request path without the query (``"/chat"``); ``query`` the
    raw query string without ``?`` and ``headers`` the ``(name, value)`` pairs
    (names lower-case) -- both may carry secrets, so neither appears in the
    repr or in any log line. ``subprotocols`` are the ones offered, in the
    client's order; ``remote`` is ``"host:port"`` (None for non-socket streams).
    """

    path: str
    query: str = attrs.field(repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    subprotocols: tuple[str, ...]
    remote: str | None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), None if absent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``, None if absent."""
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else None

    @classmethod
    def from_asked(cls, asked: UpgradeAsked, remote: str | None) -> UpgradeRequest:
        path, _, query = asked.target.partition("?")
        headers = tuple(
            (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
            for k, v in asked.headers
        )
        return cls(
            path=path or "/",
            query=query,
            headers=headers,
            subprotocols=tuple(asked.subprotocols),
            remote=remote,
        )


def _headers(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    try:
        pairs = tuple(tuple(pair) for pair in value)
    except TypeError:
        raise UsageError("headers are (name, value) pairs of str") from None
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(part, str) for part in pair):
            raise UsageError("headers are (name, value) pairs of str")
        name, text = pair
        if not _TOKEN.fullmatch(name) or any(c in text for c in "\r\n\0"):
            raise UsageError(f"not a valid HTTP header: {name!r}")
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise UsageError(f"header {name!r} is not latin-1 text") from None
    return pairs  # type: ignore[return-value]  # checked above


def _encoded(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers)


@attrs.frozen(kw_only=True)
class Accept:
    """Let the client in: ``subprotocol`` (one the client offered, or None),
    ``data`` for the handler (``client.data``), extra response ``headers``
    (neither of the last two is in the repr: they may hold secrets)."""

    subprotocol: str | None = attrs.field(default=None, validator=v.optional(v.instance_of(str)))
    data: Any = attrs.field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_headers, repr=False)


@attrs.frozen
class Reject:
    """Refuse the upgrade with HTTP ``status`` (300-599); ``reason`` is sent as a
    text/plain body, ``headers`` with the response (e.g. ``Retry-After``)."""

    status: int = attrs.field(validator=v.http_status(300))
    reason: str = attrs.field(default="", validator=v.instance_of(str))
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_headers, repr=False)


Authorize = Callable[[UpgradeRequest], Awaitable[Accept | Reject]]
"""``async def authorize(request: UpgradeRequest) -> Accept | Reject``."""


def upgrade_answer(decision: object, request: UpgradeRequest) -> UpgradeAnswer:
    """The HTTP answer for what ``authorize`` returned.

    Raises UsageError if it returned something else, or a subprotocol the
    client did not offer.
    """
    if isinstance(decision, Accept):
        if decision.subprotocol is not None and decision.subprotocol not in request.subprotocols:
            raise UsageError("authorize accepted a subprotocol the client did not offer")
        return UpgradeAnswer(101, decision.subprotocol, _encoded(decision.headers))
    if isinstance(decision, Reject):
        headers = (*decision.headers, ("content-type", "text/plain; charset=utf-8"))
        return UpgradeAnswer(decision.status, None, _encoded(headers), decision.reason.encode())
    raise UsageError(f"authorize must return Accept or Reject, not {type(decision).__name__}")


class InvalidMessage(RemoteProtocolError):
    """Raised by a ``validate`` hook: the client sent a message the application refuses.

    That client is closed with ``code`` (default 1008, policy violation) and
    ``reason`` (sent to the client: keep secrets out of it); counted in
    ``ServerStatistics.invalid_messages``. Raises UsageError for a code a
    server may not send.
    """

    def __init__(
        self, reason: str = "invalid message", code: int = CloseCode.POLICY_VIOLATION
    ) -> None:
        v.argument("InvalidMessage(code=...)", v.close_code, code)
        super().__init__(reason, code)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"invalid message (code {self.code}): {self.reason}"
