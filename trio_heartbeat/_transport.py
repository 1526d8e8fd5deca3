"""The transport seam: trio-websocket behind one small module.

Nothing else in trio_heartbeat imports trio-websocket. This module neutralises
its known traps:

- the opening handshake is bounded here (its own ``connect_timeout`` does not
  end an HTTP upgrade that is never answered), and a stream that closes during
  the handshake ends the attempt at once instead of hanging;
- every inbound byte is observed (``ObservedStream.last_receive``), so liveness
  sees a large message arriving slowly, not only complete messages;
- a dead peer is aborted (the stream closed), never politely awaited for
  trio-websocket's 60 s ``disconnect_timeout``;
- its exceptions are translated into ours (:func:`map_errors`).

Pings: ``WebSocketConnection.ping()`` waits for its pong and is not woken when
the connection drops, and a cancelled ping stays registered. Callers must use a
unique payload per ping and run the wait inside the link's nursery (which is
cancelled when the link ends); :meth:`Link.ping` documents this.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket
import wsproto.utilities

from ._options import ConnectionOptions
from .errors import ConnectError, ConnectionLost, ConnectTimeout, HandshakeRejected, UsageError

__all__ = [
    "Dial",
    "Link",
    "ObservedStream",
    "Target",
    "first_error",
    "map_errors",
    "open_link",
    "parse_url",
    "translate_error",
]

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
        raise UsageError(f"url must start with ws:// or wss://, got {url!r}")
    if not parts.hostname:
        raise UsageError(f"url has no host: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"url has a bad port: {url!r}") from exc
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


def translate_error(exc: BaseException) -> BaseException:
    """Our exception for a trio-websocket / wsproto / stream error (others unchanged)."""
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return HandshakeRejected(exc.status_code, _retry_after(exc.headers))
    if isinstance(exc, trio_websocket.ConnectionClosed):
        reason = exc.reason
        code = reason.code if reason is not None else 1006
        text = (reason.reason or "") if reason is not None else ""
        return ConnectionLost(code, text)
    if isinstance(exc, trio_websocket.HandshakeError):
        return ConnectError(f"handshake failed: {exc!r}")
    if isinstance(exc, wsproto.utilities.LocalProtocolError):
        return ConnectionLost(1006, f"connection no longer open: {exc}")
    if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError)):
        return ConnectionLost(1006, f"stream closed: {exc}")
    return exc


_FOREIGN_ERRORS = (
    trio_websocket.ConnectionRejected,
    trio_websocket.ConnectionClosed,
    trio_websocket.HandshakeError,
    wsproto.utilities.LocalProtocolError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


@contextmanager
def map_errors() -> Iterator[None]:
    """Translate trio-websocket / wsproto / network errors raised inside into ours."""
    try:
        yield
    except _FOREIGN_ERRORS as exc:
        raise translate_error(exc) from None


def _retry_after(headers: object) -> float | None:
    if not headers:
        return None
    for name, value in headers:  # type: ignore[attr-defined]
        if bytes(name).lower() == b"retry-after":
            try:
                seconds = float(bytes(value).decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                return None  # an HTTP-date: not honoured, the policy's delay applies
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


def tcp_dialer(target: Target, ssl_context: ssl.SSLContext | None) -> Dial:
    """The default dialer: TCP, plus TLS for ``wss://``."""

    async def dial() -> trio.abc.Stream:
        try:
            tcp = await trio.open_tcp_stream(target.host, target.port)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
        if not target.secure:
            return tcp
        context = ssl_context or ssl.create_default_context()
        tls = trio.SSLStream(tcp, context, server_hostname=target.host, https_compatible=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as exc:
            await trio.aclose_forcefully(tcp)
            raise ConnectError(f"TLS handshake with {target.host} failed: {exc}") from exc
        return tls

    return dial


class Link:
    """One open WebSocket connection. Dies with the nursery it was opened in."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, stream: ObservedStream) -> None:
        self.ws = ws
        self.stream = stream

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send(self, message: str | bytes) -> None:
        """Send one message; :class:`ConnectionLost` if the link is gone."""
        with map_errors():
            await self.ws.send_message(message)

    async def receive(self) -> str | bytes:
        """Receive one message; :class:`ConnectionLost` when the link ends."""
        with map_errors():
            return await self.ws.get_message()

    async def ping(self, payload: bytes) -> None:
        """Send a ping and wait for its pong (or a later one).

        ``payload`` must be unique among pings in flight. Not woken if the link
        drops: call it only inside the link's nursery, which ends with the link.
        """
        with map_errors():
            await self.ws.ping(payload)

    def close_code(self) -> tuple[int, str] | None:
        """The close code and reason, once the link is closed."""
        reason = self.ws.closed
        if reason is None:
            return None
        return reason.code, reason.reason or ""

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Close politely within ``timeout`` seconds, then abort regardless."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(timeout), suppress(ConnectionLost), map_errors():
                await self.ws.aclose(code, reason)
            await self.stream.abort()

    async def abort(self) -> None:
        """Drop the link at once (no close frame): for dead peers."""
        await self.stream.abort()


async def open_link(
    nursery: trio.Nursery,
    target: Target,
    dial: Dial,
    options: ConnectionOptions,
    connect_timeout: float,
) -> Link:
    """Dial and complete the opening handshake within ``connect_timeout`` seconds.

    trio-websocket's reader task runs in ``nursery``; the link lives as long as
    that nursery. Raises :class:`ConnectTimeout`, :class:`HandshakeRejected` or
    :class:`ConnectError`.
    """
    stream: ObservedStream | None = None
    try:
        with trio.fail_after(connect_timeout):
            raw = await dial()
            stream = ObservedStream(raw)
            headers = [(k.encode(), val.encode()) for k, val in options.extra_headers]
            async with trio.open_nursery() as race:
                ws_box: list[trio_websocket.WebSocketConnection] = []

                async def handshake() -> None:
                    assert stream is not None
                    with map_errors():
                        ws_box.append(
                            await trio_websocket.wrap_client_stream(
                                nursery,
                                stream,  # type: ignore[arg-type]
                                target.host_header,
                                target.resource,
                                subprotocols=options.subprotocols or None,
                                extra_headers=headers,
                                message_queue_size=16,
                                max_message_size=options.max_message_size,
                                receive_buffer_size=options.read_size,
                            )
                        )
                    race.cancel_scope.cancel()

                async def watch_close() -> None:
                    assert stream is not None
                    await stream.closed_event.wait()
                    raise ConnectError("connection closed during the opening handshake")

                race.start_soon(handshake)
                race.start_soon(watch_close)
            return Link(ws_box[0], stream)
    except trio.TooSlowError:
        if stream is not None:
            await stream.abort()
        raise ConnectTimeout(connect_timeout) from None
    except BaseExceptionGroup as group:
        if stream is not None:
            await stream.abort()
        raise first_error(group) from None
    except BaseException:
        if stream is not None:
            await stream.abort()
        raise


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error (translated) a group of concurrent failures stands for.

    Handshake rejections and connect errors first, then any non-Cancelled leaf.
    """
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    leaves = [translate_error(leaf) for leaf in leaves]
    for preferred in (HandshakeRejected, ConnectError):
        for leaf in leaves:
            if isinstance(leaf, preferred):
                return leaf
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]
