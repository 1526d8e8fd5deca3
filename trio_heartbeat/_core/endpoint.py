"""Where and how to connect, decided per attempt (pure: no trio, no clock).

An :class:`Endpoint` says where and how one attempt connects: the URL, extra
headers, subprotocols, TLS context and proxy. A :class:`ConnectPlan` is what
the application gave as its URL: one endpoint, several (tried in turn after
failures) or a factory called before every attempt with an
:class:`AttemptContext`. :func:`next_endpoint` turns (plan, previous outcome,
attempt numbers) into the next decision: :class:`UseEndpoint` or
:class:`AskFactory`.

Rotation over several endpoints is *sticky round-robin*: the first attempt
uses the first endpoint; a failed attempt moves on to the next one (wrapping
around); a link that stayed up for ``min_uptime`` reconnects to the same
endpoint first, since it worked, while one that dropped sooner counts as a
failure of its endpoint.
So a working endpoint is kept, a dead one is left at once, and every
endpoint is tried before the backoff delays grow large. A
"primary first" order (back to endpoint 0 on every new outage) would hammer a
primary that is down before each fallback; round-robin spreads that load.

Secrets never reach a repr: URLs show only scheme, host and port, header
values and proxy credentials are hidden (:func:`redact_to_origin`).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.redact import redact_to_origin
from trio_heartbeat.errors import UsageError

__all__ = [
    "AskFactory",
    "AttemptContext",
    "ConnectPlan",
    "Endpoint",
    "EndpointFactory",
    "Outcome",
    "UseEndpoint",
    "as_endpoint",
    "check_proxy_url",
    "next_endpoint",
]

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _check_url(name: str, value: object, schemes: tuple[str, ...]) -> None:
    """UsageError unless ``value`` is a URL of ``schemes`` with a host (secrets never shown)."""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a str, got {type(value).__name__}")
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise UsageError(f"{name} must be a {'/'.join(schemes)} URL, got {redact_to_origin(value)}")
    try:
        parts.port  # noqa: B018  (validates the port)
    except ValueError:
        raise UsageError(f"{name} has a bad port: {redact_to_origin(value)}") from None
    if not parts.hostname:
        raise UsageError(f"{name} has no host: {redact_to_origin(value)}")


def _check_ws_url(inst: object, attr: attrs.Attribute[str], value: object) -> None:
    _check_url(attr.name, value, ("ws", "wss"))


def check_proxy_url(inst: object, attr: attrs.Attribute[str | None], value: object) -> None:
    """Validator: ``None`` or an ``http``/``https``/``socks5``/``socks5h`` URL with a host."""
    if value is not None:
        _check_url(attr.name, value, PROXY_SCHEMES)


def _header_pairs(value: object) -> object:
    """Converter: header pairs, or a dict of them."""
    return v.header_pairs(list(value.items()) if isinstance(value, dict) else value)


@attrs.frozen(repr=False)
class Endpoint:
    """Where and how one attempt connects.

    - ``url``: a ``ws://`` or ``wss://`` URL.
    - ``extra_headers``: sent with the upgrade, after ``ConnectionOptions.extra_headers``
      (pairs, or a dict).
    - ``subprotocols``: offered in the upgrade; empty: ``ConnectionOptions.subprotocols``.
    - ``ssl_context``: for ``wss://`` (and an ``https://`` proxy); None:
      ``ConnectionOptions.ssl_context``, else the system's default trust.
    - ``proxy``: ``http://``, ``https://``, ``socks5://`` or ``socks5h://`` URL
      (credentials as ``user:password@``); None: ``ConnectionOptions.proxy``,
      else the environment (see the README's proxy section).

    Raises :class:`UsageError` for a bad field; the repr hides secrets.
    """

    url: str = attrs.field(validator=_check_ws_url)
    extra_headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_header_pairs, validator=v.headers, kw_only=True
    )
    subprotocols: tuple[str, ...] = attrs.field(
        default=(), converter=v.tuple_unless_str, validator=v.tuple_of(str), kw_only=True
    )
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(ssl.SSLContext)), kw_only=True
    )
    proxy: str | None = attrs.field(default=None, validator=check_proxy_url, kw_only=True)

    @property
    def secure(self) -> bool:
        """True for ``wss://``."""
        return self.url.startswith("wss:")

    def __repr__(self) -> str:
        fields = [repr(redact_to_origin(self.url))]
        if self.extra_headers:
            names = ", ".join(name for name, _ in self.extra_headers)
            fields.append(f"extra_headers=<{names}: hidden>")
        if self.subprotocols:
            fields.append(f"subprotocols={self.subprotocols!r}")
        if self.ssl_context is not None:
            fields.append("ssl_context=<SSLContext>")
        if self.proxy is not None:
            fields.append(f"proxy={redact_to_origin(self.proxy)!r}")
        return f"Endpoint({', '.join(fields)})"

    __str__ = __repr__


@attrs.frozen(kw_only=True)
class AttemptContext:
    """What a connect-plan factory knows when it is asked for the next endpoint.

    - ``attempt``: the attempt's number within the current outage, as in
      ``Connecting`` (1-based; after a link that stayed up for ``min_uptime``
      the count starts again, the loss itself being failure 1: the first
      reconnect is attempt 2).
    - ``total_attempts``: attempts made in all, this one included.
    - ``previous_error``: the error that ended the previous attempt or link
      (None before the first attempt).
    - ``outage_elapsed``: seconds since the outage began (0.0 at its first attempt).
    """

    attempt: int
    total_attempts: int
    previous_error: BaseException | None
    outage_elapsed: float


EndpointFactory = Callable[[AttemptContext], "Endpoint | str | Awaitable[Endpoint | str]"]
"""Called before every attempt; returns (or, if async, awaits to) an Endpoint or a URL."""


def as_endpoint(value: object) -> Endpoint:
    """``value`` (an Endpoint or a URL string) as an Endpoint; :class:`UsageError` otherwise."""
    if isinstance(value, Endpoint):
        return value
    if isinstance(value, str):
        return Endpoint(value)
    raise UsageError(f"an endpoint is an Endpoint or a ws:// URL, got {type(value).__name__}")


@attrs.frozen
class ConnectPlan:
    """The application's answer to "where to connect": endpoints, or a factory.

    Build it with :meth:`from_target` from what ``open_managed_websocket``
    received as ``url``.
    """

    endpoints: tuple[Endpoint, ...] = ()
    factory: EndpointFactory | None = None

    @classmethod
    def from_target(cls, target: object) -> ConnectPlan:
        """A plan from a URL, an Endpoint, a non-empty sequence of those, or a callable.

        Raises :class:`UsageError` for anything else (before any I/O).
        """
        if isinstance(target, (str, Endpoint)):
            return cls((as_endpoint(target),))
        if callable(target):
            return cls(factory=target)
        if isinstance(target, Sequence):
            endpoints = tuple(as_endpoint(item) for item in target)
            if not endpoints:
                raise UsageError("the list of endpoints is empty")
            return cls(endpoints)
        raise UsageError(
            "url must be a ws:// URL, an Endpoint, a list of them or a callable, "
            f"got {type(target).__name__}"
        )


@attrs.frozen
class Outcome:
    """How the previous attempt ended: on endpoint ``index`` (None: from a
    factory, or the plan failed), with ``error``; ``worked``: its link stayed
    up for ``min_uptime``."""

    index: int | None
    error: BaseException
    worked: bool


@attrs.frozen
class UseEndpoint:
    """Connect to ``endpoint``, number ``index`` of the plan's list."""

    index: int
    endpoint: Endpoint


@attrs.frozen
class AskFactory:
    """Call the plan's factory with ``context``; it says where to connect."""

    context: AttemptContext


def next_endpoint(
    plan: ConnectPlan,
    previous: Outcome | None,
    *,
    attempt: int,
    total_attempts: int,
    outage_elapsed: float,
) -> UseEndpoint | AskFactory:
    """Where the next attempt goes (sticky round-robin, see the module docstring).

    ``attempt`` and ``total_attempts`` count the coming attempt; ``outage_elapsed``
    is in seconds.
    """
    if plan.factory is not None:
        return AskFactory(
            AttemptContext(
                attempt=attempt,
                total_attempts=total_attempts,
                previous_error=previous.error if previous is not None else None,
                outage_elapsed=outage_elapsed,
            )
        )
    count = len(plan.endpoints)
    if previous is None or previous.index is None:
        index = 0
    elif previous.worked:
        index = previous.index  # stay on what works
    else:
        index = (previous.index + 1) % count
    return UseEndpoint(index, plan.endpoints[index])
