"""Keep secrets out of messages, log lines and reprs.

URLs carry secrets in two places: the userinfo (``user:password@``) and the
query string (``?token=...``); headers carry them in their values
(``Authorization``, ``Cookie``). Every message, log line or repr that shows a
URL, a request target or headers passes it through one of these first. Pure
string work: never raises, whatever the input (a malformed URL is exactly when
an error message shows one).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["REDACTED", "redact_headers", "redact_target", "redact_to_origin", "redact_url"]

REDACTED = "***"


def redact_target(target: str) -> str:
    """A request target (``/path?query#fragment``) with its query and fragment hidden."""
    cuts = [index for index in (target.find("?"), target.find("#")) if index >= 0]
    if not cuts:
        return target
    index = min(cuts)
    return target[:index] + target[index] + REDACTED


def redact_url(url: object) -> str:
    """``url`` as text with its userinfo and query string (and fragment) hidden.

    ``ws://user:pw@host:1/p?token=x`` becomes ``ws://***@host:1/p?***``. Any
    object is accepted (its ``str``), so callers may pass what they were given.
    """
    text = url if isinstance(url, str) else str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    # The authority ends at the first "/", "?" or "#".
    end = len(rest)
    for mark in ("/", "?", "#"):
        index = rest.find(mark)
        if 0 <= index < end:
            end = index
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = REDACTED + "@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{redact_target(tail)}"


def redact_headers(headers: Iterable[tuple[str, str]]) -> str:
    """Header names with their values hidden, for a repr: ``(('Authorization', '***'),)``."""
    return repr(tuple((name, REDACTED) for name, _ in headers))


def redact_to_origin(url: str) -> str:
    """``url`` with nothing that could be a secret: scheme, host and port only.

    Userinfo, path and query may carry tokens (listen keys, session ids,
    ``?token=``); they show as ``…``. Never raises.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except (ValueError, TypeError):
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    text = f"{parts.scheme}://" if parts.scheme else ""
    if parts.username is not None or parts.password is not None:
        text += "…@"
    text += host
    if port is not None:
        text += f":{port}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        text += "/…"
    return text
