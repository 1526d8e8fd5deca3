"""SockJS over a managed WebSocket: codec, open-frame step, heartbeat preset, URL helper.

The pure framing lives in :mod:`trio_heartbeat.protocols.sockjs`; this module is
the runtime glue that plugs it into :func:`~trio_heartbeat.open_managed_websocket`::

    async with open_sockjs(sockjs_url("ws://host/echo", rng=rng)) as ws:
        await ws.send("hello")          # goes out as ["hello"] (batched with
        print(await ws.receive())       # options.send_batch_size); a["..."] in

Contract of the glue, per link:

- the server's ``o`` frame must come first; the on-connect step waits for it
  (at most ``open_timeout`` seconds, else :class:`~trio_heartbeat.errors.ConnectTimeout`:
  the attempt failed and is retried), and only then may buffered messages flush
  and the application's own ``on_connect`` run;
- ``o`` and ``h`` are never delivered to the application; a second ``o``, a frame
  before ``o``, broken JSON, an unknown frame type or an oversized frame raise
  :class:`~trio_heartbeat.errors.RemoteProtocolError` (the link ends, counted in
  ``statistics().protocol_errors``, retried by the policy);
- ``c[code,"reason"]`` raises :class:`~trio_heartbeat.errors.ConnectionLost` with
  that code and reason, so the policy's close-code table decides (3000 "Go away!"
  is retried, 1002/1008... stop).

A SockJS session id is part of the URL: :func:`sockjs_url` draws one (from an
injectable :class:`random.Random`). Given one fixed URL, every reconnect
reuses it (sockjs-node's WebSocket transport accepts that: the session ended
with the old socket); :func:`fresh_sockjs_url` is a connect plan that draws a
new session id for every attempt, as the SockJS protocol intends::

    async with open_sockjs(fresh_sockjs_url("ws://host/echo", rng=rng)) as ws: ...
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Unpack
from urllib.parse import urlsplit, urlunsplit

import trio

from trio_heartbeat._client.connection import (
    ConnectTarget,
    LiveLink,
    ManagedWebSocket,
    OnConnect,
)
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.deprecation import renamed
from trio_heartbeat._core.endpoint import AttemptContext
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.redact import redact_url
from trio_heartbeat.adapters._base import (
    DEFAULT_OPEN_TIMEOUT,
    ManagedArguments,
    ProtocolSession,
    open_protocol_websocket,
)
from trio_heartbeat.errors import ConnectionLost, RemoteProtocolError, UsageError
from trio_heartbeat.protocols import sockjs as wire
from trio_heartbeat.protocols._json import json_dumps

__all__ = [
    "SockJSCodec",
    "SockJSSession",
    "fresh_sockjs_url",
    "open_sockjs",
    "sockjs_heartbeat",
    "sockjs_url",
]

Message = str | bytes

_SESSION_ALPHABET = string.ascii_lowercase + string.digits


def sockjs_url(base_url: str, *, rng: random.Random | None = None, session_length: int = 16) -> str:
    """The framed WebSocket URL ``<base_url>/<3 digits>/<session>/websocket``.

    ``base_url`` is the server's prefix, e.g. ``ws://127.0.0.1:9999/echo`` (a
    trailing slash is ignored; a query string is kept). The server number and
    the session id (``session_length`` characters of ``[a-z0-9]``) are drawn from
    ``rng`` (a fresh unseeded :class:`random.Random` by default; pass a seeded
    one in tests). Raises :class:`UsageError` for a URL that is not ws/wss or
    a non-positive length.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise UsageError(
            f"SockJS base URL must be ws:// or wss://host/prefix, got {redact_url(base_url)!r}"
        )
    v.argument("session_length", v.positive_int, session_length)
    rng = rng if rng is not None else random.Random()
    server = f"{rng.randrange(1000):03d}"
    session = "".join(rng.choice(_SESSION_ALPHABET) for _ in range(session_length))
    path = f"{parts.path.rstrip('/')}/{server}/{session}/websocket"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def fresh_sockjs_url(
    base_url: str, *, rng: random.Random | None = None, session_length: int = 16
) -> Callable[[AttemptContext], str]:
    """A connect plan: a new :func:`sockjs_url` (server number, session id) per attempt.

    Pass it as the URL of :func:`open_sockjs` or ``open_managed_websocket``.
    Raises :class:`UsageError` at once for a bad ``base_url`` or length.
    """
    sockjs_url(base_url, rng=random.Random(0), session_length=session_length)  # validate now
    rng = rng if rng is not None else random.Random()

    def next_url(context: AttemptContext) -> str:
        return sockjs_url(base_url, rng=rng, session_length=session_length)

    return next_url


def sockjs_heartbeat(
    interval: float = 25.0,
    reply_timeout: float = 10.0,
    *,
    server_payload: str = "h",
    timeout: float | None = None,
) -> Heartbeat:
    """The SockJS heartbeat preset.

    The client sends an RFC 6455 ping every ``interval`` seconds (every SockJS
    server answers it, being a WebSocket server) and declares the peer dead when
    nothing (pong or any traffic) arrives within ``reply_timeout`` seconds
    (``timeout``: its deprecated old name); the
    server's ``h`` frames are swallowed and prove life. (sockjs-node itself
    pings over the framed WebSocket; trio-websocket answers those pings.) For the
    Tradovate variant (``[]`` every 2.5 s) use ``Heartbeat.tradovate()``.
    """
    reply_timeout = renamed("sockjs_heartbeat", "timeout", "reply_timeout", timeout, reply_timeout)
    return Heartbeat(interval=interval, reply_timeout=reply_timeout, server_payload=server_payload)


class SockJSCodec:
    """Per-link codec (see :class:`~trio_heartbeat.Codec`) for SockJS frames.

    ``decode``: ``o`` sets :attr:`opened` and yields nothing; ``h`` yields nothing;
    ``a[...]`` yields its elements; ``c[...]`` raises ConnectionLost(code, reason);
    anything malformed or out of order raises RemoteProtocolError. With
    ``json_items`` False (plain SockJS) every element must be a string; with it
    True (Tradovate) each element is re-serialised as compact JSON text.

    ``encode``: a batch of messages becomes one JSON array frame, order kept.
    ``bytes`` must be UTF-8 (SockJS carries text); otherwise UsageError.
    """

    def __init__(
        self, *, json_items: bool = False, max_frame_size: int = wire.DEFAULT_MAX_FRAME_SIZE
    ) -> None:
        self._decoder = wire.SockJSDecoder(max_frame_size=max_frame_size)
        self._json_items = json_items
        self.opened = trio.Event()

    def decode(self, message: Message) -> Iterable[Message]:
        event = self._decoder.receive(message)
        if isinstance(event, wire.SockJSOpen):
            self.opened.set()
            return ()
        if isinstance(event, wire.SockJSHeartbeat):
            return ()
        if isinstance(event, wire.SockJSClose):
            raise ConnectionLost(event.code, event.reason)
        return self.items(event.items)

    def items(self, items: tuple[object, ...]) -> Sequence[Message]:
        """The application messages of one ``a[...]`` frame (override point)."""
        if self._json_items:
            return [json_dumps(item, "SockJS message") for item in items]
        for item in items:
            if not isinstance(item, str):
                raise RemoteProtocolError(
                    f"SockJS message must be a string, got {type(item).__name__}"
                )
        return items  # type: ignore[return-value]  # checked: all str

    def encode(self, messages: Sequence[Message]) -> Message:
        texts: list[str] = []
        for message in messages:
            if isinstance(message, bytes):
                try:
                    texts.append(message.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise UsageError("SockJS carries text: bytes must be UTF-8") from exc
            else:
                texts.append(message)
        return wire.encode_messages(texts)


class SockJSSession(ProtocolSession[SockJSCodec]):
    """Codec factory plus on-connect step for one managed SockJS connection.

    Pass :meth:`codec` as ``codec=`` and :meth:`on_connect` as ``on_connect=`` (or
    use :func:`open_sockjs`, which does). The on-connect step waits for the
    link's ``o`` frame (at most ``open_timeout`` s, else ConnectTimeout) and then
    runs ``then`` (the application's own step, if any) with the same link.
    """

    def __init__(
        self,
        *,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        then: OnConnect | None = None,
        max_frame_size: int = wire.DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(open_timeout=open_timeout, then=then)
        self._max_frame_size = max_frame_size

    def make_codec(self) -> SockJSCodec:
        """Create the codec of a new link (override to change the item mode)."""
        return SockJSCodec(max_frame_size=self._max_frame_size)

    async def handshake(self, codec: SockJSCodec, link: LiveLink | None) -> None:
        """Wait for the link's ``o`` frame."""
        await codec.opened.wait()


@asynccontextmanager
async def open_sockjs(
    url: ConnectTarget,
    *,
    heartbeat: Heartbeat | None = None,
    on_connect: OnConnect | None = None,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    **managed: Unpack[ManagedArguments],
) -> AsyncIterator[ManagedWebSocket]:
    """A managed connection to the framed SockJS endpoint ``url`` (see :func:`sockjs_url`;
    :func:`fresh_sockjs_url` for a new session id per attempt).

    Yields the :class:`~trio_heartbeat.ManagedWebSocket`: ``send`` queues text
    messages (sent in JSON arrays of up to ``options.send_batch_size``),
    ``receive`` returns the strings of ``a[...]`` frames. ``heartbeat`` defaults
    to :func:`sockjs_heartbeat`. ``on_connect`` (an async function) runs after
    the ``o`` frame (or returns an async context manager kept entered for the
    link's life). ``open_timeout`` bounds the wait for ``o`` once the WebSocket
    is open. Every other keyword (``reconnect``, ``options``, ``dial``, ``rng``,
    ``heartbeat_clock``: see :class:`~trio_heartbeat.adapters.ManagedArguments`)
    goes to ``open_managed_websocket`` unchanged.
    """
    session = SockJSSession(open_timeout=open_timeout, then=on_connect)
    async with open_protocol_websocket(
        url,
        adapter="open_sockjs",
        session=session,
        heartbeat=heartbeat if heartbeat is not None else sockjs_heartbeat(),
        managed=managed,
    ) as ws:
        yield ws
