"""The transport seam: opening a link, whichever engine drives it.

Three engines, one contract (:class:`Link`), chosen by
``ConnectionOptions.transport``:

- ``Transport.DIRECT`` (default, :mod:`.direct`): wsproto driven by the
  connection's own receiving task; no task per connection or per ping.
- ``Transport.TRIO_WEBSOCKET`` (:mod:`._link_trio_websocket`): trio-websocket,
  with its traps neutralised.
- ``Transport.WEBSOCKETS`` (:mod:`.websockets_engine`): websockets'
  sans-I/O protocol, driven like the direct link; offers permessage-deflate.

Both bound the whole opening (dial, TLS, HTTP upgrade) by ``connect_timeout``,
observe every inbound byte, abort dead peers, and raise only our exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import trio

from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._core.options import ConnectionOptions, Transport
from trio_heartbeat._transport.common import Dial, ObservedStream, Target, parse_url, tcp_dialer
from trio_heartbeat._transport.direct import direct_handshake
from trio_heartbeat._transport.trio_websocket import translate_error, trio_websocket_handshake
from trio_heartbeat._transport.websockets_engine import websockets_handshake
from trio_heartbeat.errors import ConnectError, ConnectionLost, ConnectTimeout, HandshakeRejected

__all__ = [
    "Dial",
    "Link",
    "ObservedStream",
    "Target",
    "first_error",
    "open_link",
    "parse_url",
    "tcp_dialer",
    "translate_error",
]

Message = str | bytes


class Link(Protocol):
    """One open WebSocket connection, as the managed connection uses it.

    ``receive`` is called by one task only; ``on_pong(payload)`` is called for
    each pong. Every method raises :class:`ConnectionLost` once the link is gone.
    """

    stream: ObservedStream
    on_pong: Callable[[bytes], None] | None

    @property
    def subprotocol(self) -> str | None: ...

    async def send(self, message: Message) -> None: ...

    async def receive(self) -> Message: ...

    async def send_ping(self, payload: bytes, wait_at_most: float) -> None: ...

    async def close(self, code: int, reason: str, timeout: float) -> None: ...

    async def abort(self) -> None: ...


async def open_link(
    nursery: trio.Nursery | None,
    target: Target,
    dial: Dial,
    options: ConnectionOptions,
    connect_timeout: float,
) -> Link:
    """Dial and complete the opening handshake within ``connect_timeout`` seconds.

    Background tasks of the link (trio-websocket's reader) run in ``nursery``
    (required for ``Transport.TRIO_WEBSOCKET``; the direct link has none).
    Raises :class:`ConnectTimeout`,
    :class:`HandshakeRejected` or :class:`ConnectError`.
    """
    stream: ObservedStream | None = None
    try:
        with trio.fail_after(connect_timeout):
            stream = ObservedStream(await dial())
            if options.transport is Transport.DIRECT:
                return await direct_handshake(stream, target, options)
            if options.transport is Transport.WEBSOCKETS:
                return await websockets_handshake(stream, target, options)
            assert nursery is not None, "the trio-websocket link needs a nursery"
            return await trio_websocket_handshake(nursery, stream, target, options)
    except trio.TooSlowError:
        if stream is not None:
            await stream.abort()
        raise ConnectTimeout(connect_timeout) from None
    except BaseExceptionGroup as group:
        if stream is not None:
            await stream.abort()
        raise _as_connect_error(first_error(group)) from None
    except BaseException as exc:
        if stream is not None:
            await stream.abort()
        mapped = _as_connect_error(translate_error(exc))
        if mapped is exc:
            raise
        raise mapped from None


def _as_connect_error(exc: BaseException) -> BaseException:
    """A link lost before it opened is a failed connect."""
    if isinstance(exc, ConnectionLost):
        return ConnectError(f"connection lost during the opening handshake: {exc}")
    return exc


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error (translated) a group of concurrent failures stands for.

    Handshake rejections and connect errors first, then any non-Cancelled leaf.
    """
    leaves = [translate_error(leaf) for leaf in leaf_exceptions(group)]
    for preferred in (HandshakeRejected, ConnectError):
        for leaf in leaves:
            if isinstance(leaf, preferred):
                return leaf
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]
