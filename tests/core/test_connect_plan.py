"""The per-attempt connect plan in virtual time: factories, rotation, failures, secrets, redirects.

A routing in-memory server decides per upgrade request (host, path,
headers), so which endpoint an attempt went to is visible at the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.test_reconnect import drain_events as events

Decision = tuple[int, list[tuple[bytes, bytes]]] | None  # None: accept


@attrs.frozen
class Seen:
    host: str
    path: str
    headers: dict[str, str]
    subprotocols: tuple[str, ...]


class RoutingServer:
    """In-memory WebSocket server; ``decide(seen)`` rejects (status, headers) or accepts (None).

    An accepted link closes with 1011 after ``lifetime(seen)`` seconds (None: never).
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        decide: Callable[[Seen], Decision] = lambda seen: None,
        lifetime: Callable[[Seen], float | None] = lambda seen: None,
    ) -> None:
        self.nursery = nursery
        self.decide = decide
        self.lifetime = lifetime
        self.seen: list[Seen] = []
        self.times: list[float] = []

    async def dial(self) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._serve, server)
        return client

    async def _serve(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            headers = {k.decode().lower(): v.decode() for k, v in request.headers}
            host = request._event.host  # wsproto's Request: not among trio-websocket's headers
            seen = Seen(host, request.path, headers, tuple(request.proposed_subprotocols))
            self.seen.append(seen)
            self.times.append(trio.current_time())
            decision = self.decide(seen)
            if decision is not None:
                await request.reject(decision[0], extra_headers=decision[1])
                nursery.cancel_scope.cancel()
                return
            ws = await request.accept(subprotocol=(seen.subprotocols or (None,))[0])
            lifetime = self.lifetime(seen)
            with trio.move_on_after(lifetime if lifetime is not None else float("inf")):
                try:
                    while True:
                        await ws.send_message(await ws.get_message())
                except trio_websocket.ConnectionClosed:
                    pass
            await ws.aclose(1011, "restart")
            nursery.cancel_scope.cancel()


@pytest.fixture
def routing(nursery: trio.Nursery) -> Callable[..., RoutingServer]:
    return lambda *args, **kwargs: RoutingServer(nursery, *args, **kwargs)


FIXED = th.ReconnectPolicy.fixed(1.0, min_uptime=5.0)
QUIET = th.Heartbeat.disabled()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_factory_called_once_per_attempt_with_numbers_and_errors(
    routing: Callable[..., RoutingServer], autojump_clock: trio.testing.MockClock, kind: str
) -> None:
    # two refusals (retried), a link that lasts 10 s (a new outage after it), then one more
    refusals = iter([502, 502])
    server = routing(
        decide=lambda seen: (s, []) if (s := next(refusals, None)) else None,
        lifetime=lambda seen: 10.0 if seen.path == "/feed?token=3" else None,
    )
    contexts: list[th.AttemptContext] = []

    def sync_factory(context: th.AttemptContext) -> str:
        contexts.append(context)
        return f"ws://svc.test/feed?token={len(contexts)}"

    async def async_factory(context: th.AttemptContext) -> th.Endpoint:
        await trio.lowlevel.checkpoint()
        return th.Endpoint(sync_factory(context))

    factory: th.EndpointFactory = sync_factory if kind == "sync" else async_factory
    async with th.open_managed_websocket(
        factory, heartbeat=QUIET, reconnect=FIXED, dial=server.dial
    ) as ws:
        await trio.sleep(20.0)
        changes = events(ws)
        assert ws.url == "ws://svc.test/feed?token=4"
    assert [(c.attempt, c.total_attempts, c.outage_elapsed) for c in contexts] == [
        (1, 1, 0.0),
        (2, 2, 1.0),
        (3, 3, 2.0),
        (2, 4, 1.0),  # the link lost at t=12 began a new outage (its failure 1); t=13
    ]
    errors = [c.previous_error for c in contexts]
    assert errors[0] is None
    assert [type(e) for e in errors[1:3]] == [th.HandshakeRejected] * 2
    assert isinstance(errors[3], th.ConnectionLost) and errors[3].code == 1011
    assert [s.path for s in server.seen] == [f"/feed?token={n}" for n in (1, 2, 3, 4)]
    assert server.times == [0.0, 1.0, 2.0, 13.0]
    connecting = [e for e in changes if isinstance(e, th.Connecting)]
    assert [e.endpoint.url for e in connecting if e.endpoint] == [
        f"ws://svc.test/feed?token={n}" for n in (1, 2, 3, 4)
    ]
    connected = [e for e in changes if isinstance(e, th.Connected)]
    assert [e.endpoint for e in connected] == [connecting[2].endpoint, connecting[3].endpoint]


async def test_rotation_moves_on_after_failures_and_stays_on_what_works(
    routing: Callable[..., RoutingServer], autojump_clock: trio.testing.MockClock
) -> None:
    # a is down (502); b works: first for 10 s (kept), then for 1 s (left for c)
    lifetimes = iter([10.0, 1.0])
    server = routing(
        decide=lambda seen: (502, []) if seen.host == "a.test" else None,
        lifetime=lambda seen: next(lifetimes, None) if seen.host == "b.test" else None,
    )
    urls = ["ws://a.test/", "ws://b.test/", "ws://c.test/"]
    async with th.open_managed_websocket(
        urls, heartbeat=QUIET, reconnect=FIXED, dial=server.dial
    ) as ws:
        await trio.sleep(30.0)
        changes = events(ws)
        assert ws.endpoint == th.Endpoint("ws://c.test/")
    # t=0 a refused; t=1 b up 10 s; t=12 b again (it worked), up 1 s; t=14 c
    assert [(s.host, t) for s, t in zip(server.seen, server.times, strict=True)] == [
        ("a.test", 0.0),
        ("b.test", 1.0),
        ("b.test", 12.0),
        ("c.test", 14.0),
    ]
    connecting = [e.endpoint for e in changes if isinstance(e, th.Connecting)]
    assert [e.url if e else None for e in connecting] == [
        "ws://a.test/",
        "ws://b.test/",
        "ws://b.test/",
        "ws://c.test/",
    ]


async def test_a_factory_raising_a_stopping_error_ends_the_connection_with_it(
    routing: Callable[..., RoutingServer], autojump_clock: trio.testing.MockClock
) -> None:
    server = routing()
    unauthorized = th.HandshakeRejected(401)

    def factory(context: th.AttemptContext) -> str:
        raise unauthorized

    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(factory, reconnect=FIXED, dial=server.dial) as ws:
            await ws.receive()
    assert info.value.last_error is unauthorized
    assert info.value.attempts == 1
    assert server.seen == []
    assert trio.current_time() == 0.0


async def test_a_factory_raising_anything_else_fails_the_attempt_which_is_retried(
    routing: Callable[..., RoutingServer],
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_heartbeat")
    server = routing()
    calls: list[float] = []

    async def factory(context: th.AttemptContext) -> str:
        calls.append(trio.current_time())
        if len(calls) == 1:
            raise RuntimeError("token service down, key=SECRET")
        if len(calls) == 2:
            await trio.sleep_forever()  # bounded by connect_timeout
        return "ws://svc.test/"

    policy = th.ReconnectPolicy.fixed(1.0)
    options = th.ConnectionOptions(connect_timeout=3.0)
    async with th.open_managed_websocket(
        factory, heartbeat=QUIET, reconnect=policy, options=options, dial=server.dial
    ) as ws:
        await ws.wait_connected()
        changes = events(ws)
        assert ws.endpoint == th.Endpoint("ws://svc.test/")
    assert calls == [0.0, 1.0, 5.0]
    lost = [e for e in changes if isinstance(e, th.Disconnected)]
    first, second = lost[0].cause, lost[1].cause
    assert type(first) is th.ConnectError and isinstance(first.__cause__, RuntimeError)
    assert "RuntimeError" in str(first) and "SECRET" not in str(first)
    assert isinstance(second, th.ConnectTimeout) and second.timeout == 3.0
    assert [e.endpoint for e in changes if isinstance(e, th.Connecting)][:2] == [None, None]
    assert "SECRET" not in caplog.text


async def test_factory_secrets_never_reach_logs_messages_or_reprs(
    routing: Callable[..., RoutingServer],
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_heartbeat")
    refusals = iter([(502, []), (302, [(b"Location", b"/ws/KEY2?token=TOK3b")])])
    server = routing(decide=lambda seen: next(refusals, None), lifetime=lambda seen: 1.0)

    def factory(context: th.AttemptContext) -> th.Endpoint:
        return th.Endpoint(
            f"ws://user:PW1@svc.test/ws/KEY2?token=TOK3-{context.total_attempts}",
            extra_headers={"X-Api-Key": "HDR4"},
        )

    policy = th.ReconnectPolicy.fixed(1.0, max_attempts=4)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            factory, heartbeat=QUIET, reconnect=policy, dial=server.dial
        ) as ws:
            while True:
                await ws.receive()
    assert server.seen[0].headers["x-api-key"] == "HDR4"  # it was sent...
    assert server.seen[0].headers["authorization"].startswith("Basic ")  # the URL's user:PW1
    texts = [caplog.text, str(info.value), repr(info.value)]
    texts += [repr(e) for e in events(ws)] + [str(e) for e in events(ws)]
    for text in texts:
        for secret in ("PW1", "KEY2", "TOK3", "HDR4"):
            assert secret not in text, (secret, text)  # ...and never shown


async def test_endpoint_headers_and_subprotocols_join_the_options(
    routing: Callable[..., RoutingServer], autojump_clock: trio.testing.MockClock
) -> None:
    server = routing()
    options = th.ConnectionOptions(extra_headers=[("X-App", "1")], subprotocols=["v1"])
    endpoint = th.Endpoint("ws://svc.test/", extra_headers={"X-Token": "t"}, subprotocols=["v2"])
    async with th.open_managed_websocket(
        endpoint, heartbeat=QUIET, options=options, dial=server.dial
    ) as ws:
        await ws.wait_connected()
        changes = events(ws)
    (seen,) = server.seen
    assert (seen.headers["x-app"], seen.headers["x-token"]) == ("1", "t")
    assert seen.subprotocols == ("v2",)
    assert [e.subprotocol for e in changes if isinstance(e, th.Connected)] == ["v2"]


async def test_dial_replaces_the_whole_dial_step_proxies_included(
    routing: Callable[..., RoutingServer], autojump_clock: trio.testing.MockClock
) -> None:
    server = routing()
    options = th.ConnectionOptions(proxy="http://proxy.invalid:1")
    async with th.open_managed_websocket(
        "wss://svc.test/", heartbeat=QUIET, options=options, dial=server.dial
    ) as ws:
        await ws.wait_connected()
    assert [s.host for s in server.seen] == ["svc.test"]


# -- redirects --------------------------------------------------------------------------


def redirect(routes: dict[str, bytes]) -> Callable[[Seen], Decision]:
    def decide(seen: Seen) -> Decision:
        location = routes.get(seen.host + seen.path)
        return (302, [(b"Location", location)]) if location is not None else None

    return decide


async def test_redirects_are_followed_within_one_attempt(
    routing: Callable[..., RoutingServer], autojump_clock: trio.testing.MockClock
) -> None:
    server = routing(
        decide=redirect({"svc.test/old": b"/new?x=1", "svc.test/new?x=1": b"ws://other.test/last"})
    )
    endpoint = th.Endpoint("ws://svc.test/old", extra_headers={"Authorization": "Bearer T"})
    async with th.open_managed_websocket(endpoint, heartbeat=QUIET, dial=server.dial) as ws:
        await ws.wait_connected()
        changes = events(ws)
    assert [(s.host, s.path) for s in server.seen] == [
        ("svc.test", "/old"),
        ("svc.test", "/new?x=1"),
        ("other.test", "/last"),
    ]
    # the credentials stay on their host
    assert [s.headers.get("authorization") for s in server.seen] == ["Bearer T", "Bearer T", None]
    assert sum(isinstance(e, th.Connecting) for e in changes) == 1


@pytest.mark.parametrize(
    ("routes", "url", "match", "hops"),
    [
        ({"svc.test/": b"ws://svc.test/plain"}, "wss://svc.test/", "drop TLS", 1),
        ({"svc.test/": b"/"}, "ws://svc.test/", "more than 10 redirects", 11),
    ],
)
async def test_redirects_that_are_refused(
    routing: Callable[..., RoutingServer],
    autojump_clock: trio.testing.MockClock,
    routes: dict[str, bytes],
    url: str,
    match: str,
    hops: int,
) -> None:
    server = routing(decide=redirect(routes))
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            url, reconnect=th.ReconnectPolicy.never(), dial=server.dial
        ) as ws:
            await ws.receive()
    error = info.value.last_error
    assert type(error) is th.ConnectError and match in str(error)
    assert len(server.seen) == hops
