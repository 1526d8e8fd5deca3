"""The transport seam: opening a link, whichever engine drives it.

Three engines, one contract (:class:`Link`), chosen by
``ConnectionOptions.transport``:

- ``Transport.DIRECT`` (default, :mod:`.direct`): wsproto driven by the
  connection's own receiving task; no task per connection or per ping.
- ``Transport.TRIO_WEBSOCKET`` (:mod:`.trio_websocket`): trio-websocket,
  with its traps neutralised.
- ``Transport.WEBSOCKETS`` (:mod:`.websockets_engine`): websockets'
  sans-I/O protocol, driven like the direct link; offers permessage-deflate.

Both bound the whole opening (dial, proxy, TLS, HTTP upgrade, redirects) by
``connect_timeout``, observe every inbound byte, abort dead peers, and raise
only our exceptions. An attempt reads downward: endpoint -> proxy choice
(:mod:`.proxy_env`) -> dial (:mod:`.dial`: TCP, HTTP CONNECT, SOCKS5, TLS) ->
engine handshake; redirects (:mod:`.redirects`) go round again.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs
import trio

from trio_heartbeat._core.endpoint import Endpoint
from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._core.options import ConnectionOptions, Transport
from trio_heartbeat._transport.common import Dial, ObservedStream, Target, parse_url
from trio_heartbeat._transport.dial import dial_target
from trio_heartbeat._transport.direct import direct_handshake
from trio_heartbeat._transport.proxy_env import choose_proxy
from trio_heartbeat._transport.redirects import MAX_REDIRECTS, RedirectRequested, redirect_target
from trio_heartbeat._transport.translate import opening_error, translate_error
from trio_heartbeat._transport.trio_websocket import trio_websocket_handshake
from trio_heartbeat._transport.websockets_engine import websockets_handshake
from trio_heartbeat.errors import ConnectError, ConnectTimeout, HandshakeRejected

__all__ = [
    "Dial",
    "Link",
    "ObservedStream",
    "Target",
    "first_error",
    "open_link",
    "parse_url",
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


@attrs.frozen
class _Announcing:
    """``dial``, calling ``on_dialed()`` once it returned a stream.

    A class, not a closure: a kept failure's traceback keeps this frame's
    function, and a closure's function would keep the dial and the connection.
    """

    dial: Dial
    on_dialed: Callable[[], object]

    async def __call__(self) -> trio.abc.Stream:
        stream = await self.dial()
        self.on_dialed()
        return stream


async def open_link(
    nursery: trio.Nursery | None,
    endpoint: Endpoint,
    options: ConnectionOptions,
    connect_timeout: float,
    *,
    dial: Dial | None = None,
    environ: Mapping[str, str] | None = None,
    on_dialed: Callable[[], object] | None = None,
) -> Link:
    """Dial ``endpoint`` and complete the opening handshake within ``connect_timeout`` seconds.

    The bound covers the dial (TCP, proxy negotiation, TLS) and the HTTP
    upgrade, redirects included (see :mod:`.redirects`). ``dial`` replaces the
    whole dial step (the test kit's in-memory network: no proxy, no TLS);
    ``environ`` (default ``os.environ``, read per attempt) is where proxies are
    detected; ``on_dialed`` is called once the byte stream is up, before the
    upgrade. Background tasks of the link (trio-websocket's reader) run in
    ``nursery`` (required for ``Transport.TRIO_WEBSOCKET``; the direct link
    has none). Raises :class:`ConnectTimeout`, :class:`HandshakeRejected`
    (:class:`ProxyRejected`), :class:`BadHandshake`, :class:`TLSVerificationFailed`,
    :class:`ConnectError` (all translated by :func:`opening_error`) or :class:`UsageError`.
    """
    url = endpoint.url
    headers = options.extra_headers + endpoint.extra_headers
    subprotocols = endpoint.subprotocols or options.subprotocols
    ssl_context = endpoint.ssl_context or options.ssl_context
    try:
        with trio.fail_after(connect_timeout):
            for _ in range(MAX_REDIRECTS + 1):
                target = parse_url(url, headers)
                hop_opts = options
                if headers != options.extra_headers or subprotocols != options.subprotocols:
                    hop_opts = attrs.evolve(
                        options, extra_headers=headers, subprotocols=subprotocols
                    )
                if dial is not None:
                    dial_step = dial
                else:
                    proxy = choose_proxy(
                        target,
                        endpoint_proxy=endpoint.proxy,
                        options_proxy=options.proxy,
                        from_environment=options.proxy_from_environment,
                        environ=os.environ if environ is None else environ,
                    )
                    dial_step = functools.partial(dial_target, target, proxy, ssl_context)
                if on_dialed is not None:
                    dial_step = _Announcing(dial_step, on_dialed)
                try:
                    return await _open_once(nursery, target, dial_step, hop_opts)
                except RedirectRequested as redirect:
                    url, same_host = redirect_target(url, redirect.location)
                    if not same_host:
                        headers = ()  # never hand one host's credentials to another
    except trio.TooSlowError:
        raise ConnectTimeout(connect_timeout) from None
    raise ConnectError(f"more than {MAX_REDIRECTS} redirects")


async def _open_once(
    nursery: trio.Nursery | None, target: Target, dial: Dial, options: ConnectionOptions
) -> Link:
    """Dial and run the upgrade once (no redirect, no bound of its own)."""
    stream: ObservedStream | None = None
    try:
        stream = ObservedStream(await dial())
        if options.transport is Transport.DIRECT:
            return await direct_handshake(stream, target, options)
        if options.transport is Transport.WEBSOCKETS:
            return await websockets_handshake(stream, target, options)
        assert nursery is not None, "the trio-websocket link needs a nursery"
        return await nursery.start(_host_trio_websocket, stream, target, options)  # type: ignore[no-any-return]
    except BaseExceptionGroup as group:
        if stream is not None:
            await stream.abort()
        raise first_error(group, lambda leaf: opening_error(leaf, target.host)) from None
    except BaseException as exc:
        if stream is not None:
            await stream.abort()
        mapped = opening_error(exc, target.host)
        if mapped is exc:
            raise
        raise mapped from None


async def _host_trio_websocket(
    stream: ObservedStream,
    target: Target,
    options: ConnectionOptions,
    *,
    task_status: trio.TaskStatus[Link] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run trio-websocket's handshake and reader in a nursery of their own.

    Its reader task raises the rejection of the upgrade too: in a nursery per
    hop, that ends only this hop (a redirect can be followed), not the link
    nursery. Once the link is up, this task lives as long as the link nursery.
    """
    async with trio.open_nursery() as inner:
        task_status.started(await trio_websocket_handshake(inner, stream, target, options))
        await trio.sleep_forever()


def first_error(
    group: BaseExceptionGroup[BaseException],
    translate: Callable[[BaseException], BaseException] = translate_error,
) -> BaseException:
    """The one error (translated) a group of concurrent failures stands for.

    Handshake rejections and connect errors first, then any non-Cancelled leaf.
    """
    leaves = [translate(leaf) for leaf in leaf_exceptions(group)]
    for preferred in (HandshakeRejected, ConnectError):
        for leaf in leaves:
            if isinstance(leaf, preferred):
                return leaf
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]
