"""A Tradovate-style client: SockJS framing, authorize on ``o``, requests matched by id.

The wire format lives in :mod:`trio_heartbeat.protocols.tradovate`; this module
runs it on a managed connection::

    async with open_tradovate("wss://md.example/v1/websocket", token) as client:
        response = await client.request("md/subscribeQuote", body={"symbol": "ESM5"})
        async for event in client:        # server events: Event(name, data)
            ...

Contract:

- every (re)connect waits for ``o`` (at most ``open_timeout`` s once the
  WebSocket is open, else ConnectTimeout) and sends ``authorize\\n0\\n\\n<token>``, the
  token being a str or what a callable (sync or async) returns at that
  (re)connect (its failure fails the attempt, classified like ``on_connect``'s); only a
  2xx answer makes the link usable (a non-2xx answer or none within
  ``authorize_timeout`` fails the attempt; the reconnect policy retries it);
- :meth:`TradovateClient.request` goes out on the live link with the next id of
  that link's counter (1, 2, ...) and returns the :class:`Response` whose ``i``
  matches. It raises :class:`RequestTimeout` when no response came within
  ``timeout`` seconds (waiting for a connection included), and
  :class:`~trio_heartbeat.errors.ConnectionLost` when the link was lost first
  (the request is not re-sent: it may or may not have been executed);
- server events come from :meth:`TradovateClient.next_event` or ``async for``;
  responses are matched as frames arrive, so unread events never delay them;
- the heartbeat defaults to ``Heartbeat.tradovate()``: ``[]`` every 2.5 s, server
  ``h`` swallowed, dead after 10 s of silence; a server ``c[code,reason]`` ends
  the link with ``ConnectionLost(code, reason)`` for the close-code table;
- the token is never logged and does not appear in any ``repr``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Unpack

import attrs
import trio

from trio_heartbeat._client.connection import (
    ConnectTarget,
    LiveLink,
    ManagedWebSocket,
    OnConnect,
    run_on_connect,
)
from trio_heartbeat._client.plan import call_user
from trio_heartbeat._client.requests import RequestTimeout, Waiters
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat.adapters._base import (
    DEFAULT_OPEN_TIMEOUT,
    EventIteration,
    ManagedArguments,
    open_protocol_websocket,
    require_unbatched,
)
from trio_heartbeat.adapters.sockjs import SockJSCodec, SockJSSession
from trio_heartbeat.errors import ConnectError, ConnectionLost, UsageError
from trio_heartbeat.protocols import tradovate as wire
from trio_heartbeat.protocols.tradovate import Event, Response

__all__ = ["Event", "RequestTimeout", "Response", "TradovateClient", "open_tradovate"]

logger = logging.getLogger("trio_heartbeat.tradovate")

Message = str | bytes
Token = str | Callable[[], str | Awaitable[str]]
"""An access token, or a callable asked for a fresh one at every (re)connect."""


class _LinkState:
    """Requests of one link: its id counter, its waiters and the link itself."""

    def __init__(self) -> None:
        self.counter = wire.RequestCounter()
        self.waiters: Waiters[Response] = Waiters()
        self.link: LiveLink | None = None
        self.lost = False


class _TradovateCodec(SockJSCodec):
    """SockJS codec whose ``a[...]`` responses resolve waiters; events pass on as JSON."""

    def __init__(self, state: _LinkState) -> None:
        super().__init__(json_items=True)
        self.state = state

    def items(self, items: tuple[object, ...]) -> Sequence[Message]:
        decoded = wire.decode_items(items)  # all validated before any side effect
        events: list[Message] = []
        for item in decoded:
            if isinstance(item, Response):
                if not self.state.waiters.resolve(item.id, item):
                    logger.debug("response to unknown request id %d ignored", item.id)
            else:
                events.append(json.dumps(item.to_json(), separators=(",", ":")))
        return events

    def encode(self, messages: Sequence[Message]) -> Message:
        """Application messages are raw Tradovate frames: one per WebSocket message."""
        if len(messages) != 1:
            raise UsageError("Tradovate frames are not batched")
        return messages[0]


class _TradovateSession(SockJSSession):
    def make_codec(self) -> _TradovateCodec:
        return _TradovateCodec(_LinkState())


@attrs.frozen
class _Secret:
    value: str = attrs.field(repr=False)


class TradovateClient(EventIteration[Event]):
    """The client yielded by :func:`open_tradovate`; see the module docstring."""

    def __init__(
        self,
        token: Token,
        *,
        request_timeout: float,
        authorize_timeout: float,
        open_timeout: float,
        on_connect: OnConnect | None = None,
    ) -> None:
        if not callable(token) and (not isinstance(token, str) or not token):
            raise UsageError("the Tradovate access token must be a non-empty str or a callable")
        self._token = token if callable(token) else _Secret(token)
        self.request_timeout = v.seconds("request_timeout", request_timeout)
        self.authorize_timeout = v.seconds("authorize_timeout", authorize_timeout)
        self._user_on_connect = on_connect
        self._session = _TradovateSession(open_timeout=open_timeout, then=self._link_life)
        self._live: _LinkState | None = None
        self._live_set = trio.Event()
        self._ws: ManagedWebSocket | None = None

    def __repr__(self) -> str:
        state = self._ws.state if self._ws is not None else "new"
        return f"<TradovateClient {state}>"

    @property
    def ws(self) -> ManagedWebSocket:
        """The underlying managed connection (``statistics()``, ``state_changes``...)."""
        if self._ws is None:
            raise UsageError("the client is not open: use open_tradovate()")
        return self._ws

    # -- the on-connect step ---------------------------------------------------

    async def _current_token(self) -> str:
        if isinstance(self._token, _Secret):
            return self._token.value
        token = await call_user(self._token, what="the token callable")
        if not isinstance(token, str) or not token:
            raise UsageError("the token callable must return a non-empty str")
        return token

    @asynccontextmanager
    async def _link_life(self, link: LiveLink) -> AsyncIterator[None]:
        codec = self._session.current  # its ``o`` has arrived
        assert isinstance(codec, _TradovateCodec)
        state = codec.state
        state.link = link
        try:
            waiter = state.waiters.register(wire.AUTHORIZE_ID)
            await link.send(wire.encode_authorize(await self._current_token()))
            response: Response | None = None
            with trio.move_on_after(self.authorize_timeout):
                response = await waiter.wait()
            if response is None:
                raise ConnectError(f"no authorization response within {self.authorize_timeout:g} s")
            if not response.ok:
                raise ConnectError(f"authorization rejected with status {response.status}")
            self._live = state
            self._live_set.set()
            async with run_on_connect(self._user_on_connect, link):
                yield
        finally:
            state.lost = True
            if self._live is state:
                self._live = None
                self._live_set = trio.Event()
            failed = state.waiters.fail_all(
                lambda: ConnectionLost(
                    CloseCode.ABNORMAL_CLOSURE, "connection lost before the response arrived"
                )
            )
            if failed:
                logger.info("connection lost: %d pending request(s) failed", failed)

    # -- requests and events ---------------------------------------------------

    async def _wait_live(self) -> _LinkState:
        while True:
            state = self._live
            if state is not None and not state.lost:
                return state
            await self.ws.wait_connected()  # raises once the connection gave up / closed
            if self._live is None:
                # The old link is being torn down while the state still says connected.
                with trio.move_on_after(0.05):
                    await self._live_set.wait()

    async def request(
        self, url: str, *, body: Any = None, query: str = "", timeout: float | None = None
    ) -> Response:
        """Send request ``url`` (``body``: None, raw ``str`` or JSON-able) and return its response.

        Waits for a live, authorized link first. Raises :class:`RequestTimeout`
        after ``timeout`` seconds (default ``request_timeout``), ConnectionLost
        if the link drops before the answer, ReconnectGaveUp /
        ConnectionClosedError if the connection is over, UsageError for a bad
        url/query/body. A non-2xx response is returned, not raised (see ``.ok``).
        """
        wire.encode_request(url, 1, query=query, body=body)  # validate before any I/O
        timeout = self.request_timeout if timeout is None else timeout
        with trio.move_on_after(timeout):
            state = await self._wait_live()
            request_id = state.counter.next_id()
            waiter = state.waiters.register(request_id)
            try:
                assert state.link is not None
                await state.link.send(wire.encode_request(url, request_id, query=query, body=body))
                return await waiter.wait()
            finally:
                state.waiters.discard(request_id)
        raise RequestTimeout(f"request {url!r}", timeout)

    async def next_event(self) -> Event:
        """The next server event (across reconnects); raises like ``ManagedWebSocket.receive``."""
        message = await self.ws.receive()
        item = wire.decode_item(json.loads(message))
        assert isinstance(item, Event)
        return item


@asynccontextmanager
async def open_tradovate(
    url: ConnectTarget,
    token: Token,
    *,
    heartbeat: Heartbeat | None = None,
    request_timeout: float = 10.0,
    authorize_timeout: float = 10.0,
    on_connect: OnConnect | None = None,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    **managed: Unpack[ManagedArguments],
) -> AsyncIterator[TradovateClient]:
    """Open a managed Tradovate connection to ``url`` (its SockJS WebSocket URL).

    ``token``: the access token, or a callable (sync or async) called for a
    fresh one at every (re)connect.

    ``heartbeat`` defaults to ``Heartbeat.tradovate()``. ``open_timeout`` bounds
    the wait for ``o`` once the WebSocket is open, then ``authorize_timeout`` the
    wait for the authorization response; ``on_connect`` runs after a successful
    authorization, on every (re)connect. Every other keyword (``reconnect``,
    ``options``, ``dial``, ``rng``, ``heartbeat_clock``) goes to
    ``open_managed_websocket`` unchanged; ``options.send_batch_size`` must be 1
    (requests are not batched). Leaving the block closes the connection; pending
    requests then fail. See the module docstring for the contract.
    """
    require_unbatched(managed, "Tradovate requests are not batched")
    client = TradovateClient(
        token,
        request_timeout=request_timeout,
        authorize_timeout=authorize_timeout,
        open_timeout=open_timeout,
        on_connect=on_connect,
    )
    async with open_protocol_websocket(
        url,
        adapter="open_tradovate",
        session=client._session,
        heartbeat=heartbeat if heartbeat is not None else Heartbeat.tradovate(),
        managed=managed,
    ) as ws:
        client._ws = ws
        yield client
