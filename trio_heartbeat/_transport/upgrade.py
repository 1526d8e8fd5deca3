"""The server's answer to the HTTP upgrade, judged the same way by both engines.

:class:`UpgradeResponse` watches the bytes of the answer until its head (status
line and headers) is complete, and decides on the head alone:

- a status other than 101 is a :class:`HandshakeRejected` at once, with the
  status and Retry-After; the body is never awaited (a 401 whose body never
  ends must not become a connect timeout);
- a head that is not HTTP, or longer than :data:`MAX_RESPONSE_HEAD` bytes, is a
  :class:`BadHandshake`;
- a 101 is handed to the engine (wsproto), which checks ``Upgrade``,
  ``Connection``, ``Sec-WebSocket-Accept``, extensions and the subprotocol; its
  complaints are translated by :func:`trio_heartbeat._transport.translate.translate_error`.

No I/O here: the engine's handshake feeds the bytes it receives.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime

from trio_heartbeat._transport.redirects import REDIRECT_STATUSES, RedirectRequested
from trio_heartbeat.errors import BadHandshake, HandshakeRejected

__all__ = ["MAX_RESPONSE_HEAD", "UpgradeResponse", "retry_after_seconds", "rejection"]

MAX_RESPONSE_HEAD = 16 * 1024
"""Bytes the status line and headers of the upgrade answer may take (h11's own bound)."""

_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [0-9]{3}(?:[ \t\r]|$)")
_STATUS_LINE_CHECK = 64  # bytes of a first line enough to tell HTTP from anything else


class UpgradeResponse:
    """The head of one upgrade answer, fed as it arrives.

    ``wall_time()`` (seconds since the epoch) dates a Retry-After given as an
    HTTP-date; it is read only when such a header arrives.
    """

    def __init__(self, *, wall_time: Callable[[], float] = time.time) -> None:
        self._buffer = bytearray()
        self._wall_time = wall_time
        self._checked = False
        self._scanned = 0
        self.status: int | None = None
        #: The bytes after the head (the first frames), once it is complete.
        self.trailing = b""

    def feed(self, data: bytes | bytearray) -> bool:
        """Take the next bytes; True once the head is complete and says 101.

        Raises :class:`HandshakeRejected` for another status and
        :class:`BadHandshake` for a head that is not HTTP or too long. Bytes
        after a complete head are not looked at: they are kept in
        :attr:`trailing`.
        """
        if self.status is not None:
            self.trailing += data
            return True
        buffer = self._buffer
        buffer += data
        if not self._checked and (b"\n" in buffer or len(buffer) >= _STATUS_LINE_CHECK):
            line = bytes(buffer.split(b"\n", 1)[0][:_STATUS_LINE_CHECK])
            if _STATUS_LINE.match(line) is None:
                raise BadHandshake(f"not an HTTP response: {line[:40]!r}")
            self._checked = True
        end = _END_OF_HEAD.search(buffer, max(self._scanned - 3, 0))
        self._scanned = len(buffer)
        if (end.start() if end is not None else len(buffer)) > MAX_RESPONSE_HEAD:
            raise BadHandshake(f"response head exceeds {MAX_RESPONSE_HEAD} bytes")
        if end is None:
            return False
        head = bytes(buffer[: end.start()])
        trailing = bytes(buffer[end.end() :])
        self._buffer = bytearray()
        status = int(head[9:12])  # after "HTTP/1.1 ", checked above
        if status != 101:
            raise self._rejection(status, head)
        self.status = status
        self.trailing = trailing
        return True

    def _rejection(self, status: int, head: bytes) -> HandshakeRejected:
        headers: list[tuple[bytes, bytes]] = []
        for line in head.split(b"\n")[1:]:
            name, colon, value = line.partition(b":")
            if colon:
                headers.append((name.strip(), value.strip()))
        return rejection(status, headers, self._wall_time())


def retry_after_seconds(headers: Iterable[tuple[bytes, bytes]] | None, now: float) -> float | None:
    """The Retry-After header as seconds from ``now`` (None if absent or unreadable).

    The header is either delay-seconds or an HTTP-date; ``now`` is the wall
    clock (seconds since the epoch) that dates it. A date in the past is 0 s.
    Not capped here: the reconnect policy caps it (``retry_after_max``).
    """
    if not headers:
        return None
    for name, value in headers:
        if bytes(name).lower() != b"retry-after":
            continue
        try:
            text = bytes(value).decode("ascii").strip()
        except UnicodeDecodeError:
            return None
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, local zone unknown
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - now
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    return None


def rejection(
    status: int, headers: Iterable[tuple[bytes, bytes]] | None, now: float | None = None
) -> HandshakeRejected:
    """The error for an upgrade answered with HTTP ``status`` and ``headers``.

    A redirect with a ``Location`` is a :class:`RedirectRequested` (followed
    by ``open_link``); ``now`` (default: the wall clock) dates a Retry-After
    given as an HTTP-date.
    """
    headers = list(headers or ())
    if status in REDIRECT_STATUSES:
        for name, value in headers:
            if bytes(name).lower() == b"location":
                return RedirectRequested(status, bytes(value).decode("latin-1").strip())
    wall = time.time() if now is None else now
    return HandshakeRejected(status, retry_after_seconds(headers, wall))
