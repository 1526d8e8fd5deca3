"""Who may connect and what they may send: authorize, validate, max_message_size
(in-memory streams, virtual time)."""

from __future__ import annotations

import logging
import pickle

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.server.helpers import Ends, closed_reason, connect, dialer, running
from trio_heartbeat._transport.common import ObservedStream, parse_url
from trio_heartbeat._transport.direct import direct_handshake
from trio_heartbeat.errors import ConnectionLost, RemoteProtocolError, UsageError
from trio_heartbeat.server import (
    Accept,
    ClientEnd,
    InvalidMessage,
    Reject,
    ServerClient,
    ServerHeartbeat,
    ServerOptions,
    UpgradeRequest,
)

BEAT = ServerHeartbeat.ping(60.0)


async def test_authorize_sees_the_request_and_the_handler_sees_what_it_attached(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_heartbeat.server")
    asked: list[UpgradeRequest] = []
    served: list[tuple[object, str | None, str, str | None]] = []

    async def authorize(request: UpgradeRequest) -> Accept | Reject:
        asked.append(request)
        await trio.sleep(1.0)  # e.g. a token lookup
        return Accept(subprotocol="chat.v2", data={"user": "ada"}, headers=[("x-served-by", "t")])

    async def handler(client: ServerClient) -> None:
        served.append((client.data, client.subprotocol, client.path, client.request.param("room")))
        await client.send("hi")

    async with running(handler, BEAT, authorize=authorize) as (server, nursery):
        peer = await connect(
            server,
            nursery,
            "/chat?token=SECRET&room=7",
            subprotocols=["chat.v1", "chat.v2"],
            extra_headers=[(b"Authorization", b"Bearer SECRET")],
        )
        assert await peer.conn.get_message() == "hi"
        assert peer.conn.subprotocol == "chat.v2"
        assert dict(peer.conn.handshake_headers)[b"x-served-by"] == b"t"
        [request] = asked
        assert (request.path, request.query) == ("/chat", "token=SECRET&room=7")
        assert request.param("token") == "SECRET"
        assert request.header("AUTHORIZATION") == "Bearer SECRET"
        assert request.header("absent") is None
        assert request.subprotocols == ("chat.v1", "chat.v2")
        assert request.remote is None
        assert served == [({"user": "ada"}, "chat.v2", "/chat", "7")]
        assert server.statistics().accepted == 1
    assert "SECRET" not in repr(request)
    assert all("SECRET" not in record.getMessage() for record in caplog.records)
    assert any("path /chat" in record.getMessage() for record in caplog.records)


async def test_reject_answers_with_the_status_and_reason_and_runs_no_handler(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ends = Ends()

    async def authorize(request: UpgradeRequest) -> Accept | Reject:
        if request.param("token") != "good":
            return Reject(403, "bad token", headers=[("Retry-After", "7")])
        return Accept()

    async with running(ends, BEAT, authorize=authorize) as (server, nursery):
        with pytest.raises(th.ReconnectGaveUp) as gave_up:
            async with th.open_managed_websocket(
                "ws://localhost/?token=bad",
                dial=dialer(server, nursery),
                reconnect=th.ReconnectPolicy(max_attempts=1),
            ) as ws:
                await ws.wait_connected()
        rejected = gave_up.value.last_error
        assert isinstance(rejected, th.HandshakeRejected)
        assert (rejected.status, rejected.retry_after) == (403, 7.0)
        assert trio.current_time() == 0.0
        await trio.testing.wait_all_tasks_blocked()
        ok = await connect(server, nursery, "/?token=good")
        assert ok.conn.closed is None
        stats = server.statistics()
        assert (stats.rejected, stats.accepted, stats.handshake_failures) == (1, 1, 0)
        assert (stats.handshaking, stats.clients) == (0, 1)
        assert list(ends.messages) == [1]  # the handler ran for the accepted one only
    rejected_logs = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("trio_heartbeat.server") and "rejected" in r.getMessage()
    ]
    assert rejected_logs == ["upgrade from None (path /) rejected: HTTP 403"]
    assert all("token=" not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "decision",
    [RuntimeError("db down"), None, Accept(subprotocol="never-offered")],
    ids=["raises", "returns-none", "foreign-subprotocol"],
)
async def test_a_failing_authorize_is_a_500_logged_and_counted(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture, decision: object
) -> None:
    async def authorize(request: UpgradeRequest) -> Accept | Reject:
        if isinstance(decision, Exception):
            raise decision
        return decision  # type: ignore[return-value]  # the misuse under test

    async with running(Ends(), BEAT, authorize=authorize) as (server, nursery):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(server.handle_stream, server_stream)
        with pytest.raises(th.HandshakeRejected) as rejected:
            await direct_handshake(
                ObservedStream(client_stream), parse_url("ws://x/"), th.ConnectionOptions()
            )
        assert rejected.value.status == 500
        await trio.testing.wait_all_tasks_blocked()
        stats = server.statistics()
        assert (stats.rejected, stats.handler_errors, stats.accepted) == (1, 1, 0)
    assert any(r.exc_info and "authorize raised" in r.getMessage() for r in caplog.records)


def test_accept_and_reject_are_checked_when_made() -> None:
    for bad in (101, 200, 600, True, "403"):
        with pytest.raises(UsageError):
            Reject(bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Reject(401, headers=[("Bad Name", "x")])
    with pytest.raises(UsageError):
        Accept(headers=[("x-a", "line\r\nbreak")])
    with pytest.raises(UsageError):
        InvalidMessage("x", code=1006)  # never sent on the wire
    with pytest.raises(UsageError):
        Accept(subprotocol=b"chat")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Reject(401, reason=None)  # type: ignore[arg-type]
    assert Reject(401).reason == ""
    secret = Accept(data="SECRET", headers=[("set-cookie", "SECRET")])
    assert "SECRET" not in repr(secret)
    assert "SECRET" not in repr(Reject(401, headers=[("set-cookie", "SECRET")]))


async def test_validate_closes_only_the_offender_with_its_code(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ends = Ends()

    def validate(client: ServerClient, message: str | bytes) -> None:
        if not isinstance(message, str):
            raise InvalidMessage("text frames only", code=4003)
        if message == "crash":
            raise KeyError("validator bug")

    async with running(ends, BEAT, validate=validate) as (server, nursery):
        good = await connect(server, nursery)
        bad = await connect(server, nursery)
        buggy = await connect(server, nursery)
        await good.conn.send_message("fine")
        await bad.conn.send_message("fine too")
        await bad.conn.send_message(b"\x00binary")
        await bad.conn.send_message("after the bad one")  # never reaches the handler
        assert await closed_reason(bad.conn) == (4003, "text frames only")
        await buggy.conn.send_message("crash")
        assert await closed_reason(buggy.conn) == (1011, "internal error")
        await good.conn.send_message("still here")
        await trio.testing.wait_all_tasks_blocked()
        assert ends.messages == {1: ["fine", "still here"], 2: ["fine too"], 3: []}
        assert [c.id for c in server.clients()] == [1]
        stats = server.statistics()
        assert (stats.invalid_messages, stats.handler_errors, stats.messages_in) == (1, 1, 3)
        _, error = ends.ended[2]
        assert (error.code, error.reason) == (4003, "text frames only")


async def test_max_message_size_is_the_servers_choice(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ends = Ends()
    seen: dict[int, ServerClient] = {}

    async def handler(client: ServerClient) -> None:
        seen[client.id] = client
        await ends(client)

    options = ServerOptions(max_message_size=100)
    async with running(handler, BEAT, options=options) as (server, nursery):
        small = await connect(server, nursery)
        big = await connect(server, nursery)
        await big.conn.send_message("x" * 100)  # at the limit: fine
        await big.conn.send_message("x" * 101)
        assert await closed_reason(big.conn) == (1009, "Exceeded maximum message size: 100 bytes")
        await small.conn.send_message("ok")
        await trio.testing.wait_all_tasks_blocked()
        assert seen[2].end_reason is ClientEnd.MESSAGE_TOO_BIG
        _, error = ends.ended[2]
        assert type(error) is ConnectionLost
        assert (error.code, error.reason) == (1009, "message exceeds 100 bytes")
        assert ends.messages == {1: ["ok"], 2: ["x" * 100]}
        stats = server.statistics()
        assert (stats.invalid_messages, stats.clients) == (1, 1)


def test_invalid_message_is_ours_and_pickles() -> None:
    error = InvalidMessage("no", code=4000)
    assert isinstance(error, RemoteProtocolError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.code, str(copy)) == ("no", 4000, "invalid message (code 4000): no")
