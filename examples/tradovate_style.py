"""Tradovate-style SockJS session: ``[]`` heartbeats, authorize on ``o``, requests by id.

Frames from the server: ``o`` (open), ``h`` (heartbeat), ``a[...]`` (responses
``{"s","i","d"}`` and events ``{"e","d"}``), ``c[code,"reason"]`` (close). The client
authorizes right after every ``o`` (``authorize\\n0\\n\\n<token>``), sends requests
``url\\nid\\nquery\\nbody`` answered by id, and sends ``[]`` every 0.25 s (Tradovate:
2.5 s). The client is :func:`trio_heartbeat.adapters.tradovate.open_tradovate`; the fake server
is built on :mod:`trio_heartbeat.server` and the pure codecs in
:mod:`trio_heartbeat.protocols`. Two requests are answered out of order and still
matched by id; after three quote events the server sends ``c[3000,"Go away!"]``; the
client reconnects, authorizes again and its next request is answered.

    python examples/tradovate_style.py   # own fake server on 127.0.0.1, port 0

Exit status: 0 when all of that happened; 1 otherwise; 130 on Ctrl-C.
"""

from __future__ import annotations

import trio
from _common import run, say

import trio_heartbeat as th
from trio_heartbeat.adapters.tradovate import TradovateClient, open_tradovate
from trio_heartbeat.protocols import sockjs
from trio_heartbeat.protocols import tradovate as wire
from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server

TOKEN = "demo-access-token"


class FakeTradovate:
    """Sends ``o`` then ``h`` every 0.5 s, answers requests, ends session 1 with ``c``."""

    def __init__(self) -> None:
        self.sessions = self.authorized = self.client_heartbeats = 0

    async def handle(self, client: ServerClient) -> None:
        self.sessions += 1
        session = self.sessions
        await client.send(sockjs.OPEN_FRAME)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._beat, client)
            async for frame in client:
                request = wire.decode_client_frame(frame)
                if isinstance(request, wire.ClientHeartbeat):
                    self.client_heartbeats += 1
                    continue
                say("server", f"request {request.url!r} id {request.id}")
                nursery.start_soon(self._answer, client, session, request)
            nursery.cancel_scope.cancel()

    async def _beat(self, client: ServerClient) -> None:
        while True:
            await trio.sleep(0.5)
            await client.send(sockjs.SERVER_HEARTBEAT_FRAME)

    async def _answer(self, client: ServerClient, session: int, request: wire.Request) -> None:
        reply = wire.Response(request.id, 200, {"url": request.url})
        if request.url == "authorize":
            ok = request.body == TOKEN
            self.authorized += ok
            reply = wire.Response(request.id, 200 if ok else 401, {"userId": 7} if ok else None)
        elif request.url == "account/list":
            await trio.sleep(0.3)  # slow: answered after the next request
        await client.send(wire.encode_server_frame([reply]))
        if request.url == "md/subscribeQuote":
            for price in (5301.25, 5301.5, 5301.0):
                await trio.sleep(0.3)
                event = wire.Event("md", {"quotes": [{"contractId": 1, "last": price}]})
                await client.send(wire.encode_server_frame([event]))
            if session == 1:
                say("server", 'sends c[3000,"Go away!"]')
                await client.send(sockjs.encode_close(3000, "Go away!"))


async def run_client(url: str) -> list[bool]:
    """The client's part; returns the checks that passed or failed."""
    heartbeat = th.Heartbeat.tradovate(interval=0.25, silence_timeout=1.5)
    policy = th.ReconnectPolicy.fixed(0.3)
    async with open_tradovate(url, TOKEN, heartbeat=heartbeat, reconnect=policy) as client:
        connected, lost = trio.Event(), []

        async def watch() -> None:
            async for change in client.ws.state_changes:
                if isinstance(change, th.Disconnected):
                    lost.append(change.code)
                    say("client", f"link lost: code {change.code} {change.reason!r}")
                if isinstance(change, th.Connected):
                    say("client", f"connected and authorized (attempt {change.attempt})")
                    if lost:
                        connected.set()

        async def ask(tc: TradovateClient, url: str, ids: list[int]) -> None:
            response = await tc.request(url)
            say("client", f"response id {response.id} to {url!r}: {response.data}")
            ids.append(response.id)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            ids: list[int] = []
            async with trio.open_nursery() as both:  # the second is answered first
                both.start_soon(ask, client, "account/list", ids)
                await trio.sleep(0.05)
                both.start_soon(ask, client, "user/list", ids)
            await ask(client, "md/subscribeQuote", ids)
            for _ in range(3):
                event = await client.next_event()
                say("client", f"event {event.name!r}: {event.data}")
            await connected.wait()
            await ask(client, "account/list", ids)  # a fresh link: ids start at 1 again
            nursery.cancel_scope.cancel()
    return [ids == [2, 1, 3, 1], lost == [3000]]


async def main() -> bool:
    fake = FakeTradovate()
    heartbeat = ServerHeartbeat.ping(1.0)  # sockjs-node also pings the framed WebSocket
    async with open_heartbeat_server(fake.handle, "127.0.0.1", 0, heartbeat=heartbeat) as srv:
        url = f"ws://127.0.0.1:{srv.port}/v1/websocket"
        say("server", f"fake Tradovate on {url}")
        with trio.fail_after(10):
            checks = await run_client(url)
    print(
        f"summary: sessions={fake.sessions} authorized={fake.authorized} "
        f"client [] heartbeats={fake.client_heartbeats} checks={checks}"
    )
    return all(checks) and fake.authorized == 2 and fake.client_heartbeats >= 4


if __name__ == "__main__":
    run(main)
