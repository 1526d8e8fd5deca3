"""What every transport shares: URLs, the dial signature, the observed byte stream.

``ObservedStream`` records when bytes last arrived (``last_receive``), so that
liveness sees a large message arriving slowly, not only complete messages,
and it can be aborted at once (a dead peer is never politely awaited).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import attrs
import trio

from trio_heartbeat.errors import UsageError

__all__ = ["Dial", "ObservedStream", "Target", "parse_url", "retry_after_seconds"]

Dial = Callable[[], Awaitable[trio.abc.Stream]]
"""Opens the byte stream to the server (TCP, TLS, or an in-memory test stream)."""


@attrs.frozen
class Target:
    """A parsed ``ws://`` / ``wss://`` URL."""

    secure: bool
    host: str
    port: int
    resource: str

    @property
    def host_header(self) -> str:
        default = 443 if self.secure else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse_url(url: str) -> Target:
    """Parse a WebSocket URL; raise :class:`UsageError` if it is not one."""
    if not isinstance(url, str):
        raise UsageError(f"url must be a str, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        # Never the URL itself in a message: its userinfo or query may hold a secret.
        raise UsageError(f"url must start with ws:// or wss://, got {parts.scheme or 'no'} scheme")
    if not parts.hostname:
        raise UsageError("url has no host")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"url has a bad port (host {parts.hostname})") from None
    secure = parts.scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return Target(secure, parts.hostname, port or (443 if secure else 80), resource)


class ObservedStream(trio.abc.Stream):
    """A stream that records when bytes last arrived and counts bytes each way.

    ``last_receive`` is a ``trio.current_time()`` reading; ``closed_event`` is
    set once the stream hits end-of-file, breaks, or is closed.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.last_receive = trio.current_time()
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed_event = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.inner.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed_event.set()
            raise
        self.bytes_out += len(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed_event.set()
            raise
        if data:
            self.last_receive = trio.current_time()
            self.bytes_in += len(data)
        else:
            self.closed_event.set()
        return data

    async def aclose(self) -> None:
        self.closed_event.set()
        await self.inner.aclose()

    async def abort(self) -> None:
        """Close at once, without any goodbye (a dead peer will not answer one)."""
        self.closed_event.set()
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.inner)


def retry_after_seconds(headers: Iterable[tuple[bytes, bytes]] | None) -> float | None:
    """The Retry-After header in seconds (None if absent or an HTTP-date)."""
    if not headers:
        return None
    for name, value in headers:
        if bytes(name).lower() == b"retry-after":
            try:
                seconds = float(bytes(value).decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                return None  # an HTTP-date: not honoured, the policy's delay applies
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None
