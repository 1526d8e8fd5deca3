"""Interop tests: trio_heartbeat and raw clients against real third-party servers.

The servers and their fixtures are in ``conftest.py``.  This module holds the raw
client that both the fixtures and the tests use: :class:`RawWebSocket`, opened by
:func:`open_raw_websocket`, a wsproto client that does nothing on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
import wsproto
import wsproto.events

__all__ = ["RawWebSocket", "open_raw_websocket"]


class RawWebSocket:
    """A minimal wsproto client over a trio TCP stream, with nothing automatic.

    Pings are *not* answered unless :attr:`answer_pings` is true, so a test can
    play a black-holed peer or watch a server's heartbeats.  Messages arrive as
    wsproto events, possibly fragmented (``message_finished``).
    """

    def __init__(self, stream: trio.SocketStream, ws: wsproto.WSConnection) -> None:
        self.stream = stream
        self.answer_pings = False
        self._ws = ws
        self._pending: list[wsproto.events.Event] = []

    async def next_event(self) -> wsproto.events.Event | None:
        """Return the next frame event, or None when the TCP stream ended (EOF or reset).

        Waits as long as it takes: bound it with ``trio.fail_after``.
        """
        while not self._pending:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                return None
            self._ws.receive_data(data)
            self._pending.extend(self._ws.events())
        event = self._pending.pop(0)
        if self.answer_pings and isinstance(event, wsproto.events.Ping):
            await self.send(event.response())
        return event

    async def next_text(self) -> str:
        """Return the next text message (fragments joined), skipping pings and pongs.

        Fails with ``AssertionError`` on EOF, a close frame or a binary message.
        Bound it with ``trio.fail_after``.
        """
        parts: list[str] = []
        while True:
            event = await self.next_event()
            if isinstance(event, wsproto.events.Ping | wsproto.events.Pong):
                continue
            assert isinstance(event, wsproto.events.TextMessage), f"not a text message: {event!r}"
            parts.append(event.data)
            if event.message_finished:
                return "".join(parts)

    async def send(self, event: wsproto.events.Event) -> None:
        """Encode and send one wsproto event (e.g. ``TextMessage(data=...)``)."""
        await self.stream.send_all(self._ws.send(event))

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        await self.send(wsproto.events.TextMessage(data=text))


@asynccontextmanager
async def open_raw_websocket(
    url: str, *, handshake_timeout: float = 5.0
) -> AsyncIterator[RawWebSocket]:
    """Connect to ``ws://127.0.0.1:<port>/path``; connect and upgrade within ``handshake_timeout``.

    Raises ``trio.TooSlowError`` when the upgrade is not answered in time (e.g. a
    frozen server) and ``ConnectionError`` when it is rejected.  On exit the TCP
    stream is closed abruptly (no close frame): send one yourself for a clean close.
    """
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
        raise ValueError(f"need ws://host:port/..., got {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    with trio.fail_after(handshake_timeout):
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    try:
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        raw = RawWebSocket(stream, ws)
        request = wsproto.events.Request(host=f"{parts.hostname}:{parts.port}", target=target)
        with trio.fail_after(handshake_timeout):
            await stream.send_all(ws.send(request))
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    raise ConnectionError(f"{url}: connection closed during the upgrade")
                ws.receive_data(data)
                events = list(ws.events())
                if any(isinstance(e, wsproto.events.RejectConnection) for e in events):
                    raise ConnectionError(f"{url}: upgrade rejected: {events!r}")
                accepted = [isinstance(e, wsproto.events.AcceptConnection) for e in events]
                if any(accepted):
                    raw._pending.extend(events[accepted.index(True) + 1 :])
                    break
        yield raw
    finally:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
