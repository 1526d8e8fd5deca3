"""Which proxy an attempt goes through: explicit settings, then the environment.

Pure (no I/O; the environment is passed in). The rules follow curl and Python
``websockets``:

- ``wss://`` uses ``https_proxy`` / ``HTTPS_PROXY``, ``ws://`` uses
  ``http_proxy`` / ``HTTP_PROXY``; either falls back to ``all_proxy`` /
  ``ALL_PROXY``. The lower-case name wins over the upper-case one; an empty
  value counts as unset; a value without a scheme is an ``http://`` proxy.
- ``no_proxy`` / ``NO_PROXY``: a comma-separated list of hosts that connect
  directly. ``*`` matches every host; ``example.com`` and ``.example.com``
  match that host and its subdomains; an IP address or a CIDR block
  (``10.0.0.0/8``) matches addresses; ``host:port`` matches that port only.
- An endpoint's own ``proxy``, then ``ConnectionOptions.proxy``, override the
  environment (``NO_PROXY`` does not apply to them); with
  ``ConnectionOptions.proxy_from_environment=False`` the environment is not read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import attrs

from trio_heartbeat._core.endpoint import PROXY_SCHEMES
from trio_heartbeat._core.redact import redact_to_origin
from trio_heartbeat._transport.common import Target
from trio_heartbeat.errors import UsageError

__all__ = ["Proxy", "bypasses_proxy", "choose_proxy", "parse_proxy", "proxy_from_environment"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


@attrs.frozen(repr=False)
class Proxy:
    """A parsed proxy URL. ``scheme`` is ``http``, ``https``, ``socks5`` or ``socks5h``."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def address(self) -> str:
        """``host:port``, for messages (no credentials)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        auth = "…@" if self.username is not None else ""
        return f"Proxy('{self.scheme}://{auth}{self.address}')"


def parse_proxy(url: str) -> Proxy:
    """Parse a proxy URL (``user:password@`` percent-decoded); :class:`UsageError` if bad."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES:
        raise UsageError(
            f"unsupported proxy {redact_to_origin(url)} (use {', '.join(PROXY_SCHEMES)})"
        )
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"proxy {redact_to_origin(url)} has a bad port") from None
    if not parts.hostname:
        raise UsageError(f"proxy {redact_to_origin(url)} has no host")
    return Proxy(
        parts.scheme,
        parts.hostname,
        port if port is not None else _DEFAULT_PORTS[parts.scheme],
        unquote(parts.username) if parts.username is not None else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def _getenv(environ: Mapping[str, str], name: str) -> str | None:
    for key in (name.lower(), name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return value
    return None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """True if ``host``/``port`` matches an entry of the ``NO_PROXY`` list ``no_proxy``."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_host, entry_port = entry, None
        if entry.startswith("["):  # [::1]:8080 or [::1]
            close = entry.find("]")
            entry_host, rest = entry[1:close], entry[close + 1 :]
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:
            entry_host, entry_port = entry.split(":")
        if entry_port is not None and entry_port != str(port):
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry_host, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry_host = entry_host.lstrip("*").lstrip(".").rstrip(".")
        if entry_host and (host == entry_host or host.endswith("." + entry_host)):
            return True
    return False


def proxy_from_environment(target: Target, environ: Mapping[str, str]) -> str | None:
    """The proxy URL the environment names for ``target`` (None: connect directly)."""
    no_proxy = _getenv(environ, "no_proxy")
    if no_proxy is not None and bypasses_proxy(target.host, target.port, no_proxy):
        return None
    name = "https_proxy" if target.secure else "http_proxy"
    return _getenv(environ, name) or _getenv(environ, "all_proxy")


def choose_proxy(
    target: Target,
    *,
    endpoint_proxy: str | None,
    options_proxy: str | None,
    from_environment: bool,
    environ: Mapping[str, str],
) -> Proxy | None:
    """The proxy for ``target``: the endpoint's, the options', the environment's, or None."""
    url = endpoint_proxy or options_proxy
    if url is None and from_environment:
        url = proxy_from_environment(target, environ)
    return parse_proxy(url) if url is not None else None
