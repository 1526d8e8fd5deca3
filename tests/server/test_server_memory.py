"""HeartbeatServer over in-memory streams in virtual time: exact times, no sockets."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import ConnectionClosed

from tests.server.helpers import (
    Ends,
    answer_heartbeats,
    closed_reason,
    connect,
    nothing_more,
    running,
)
from trio_heartbeat.errors import ConnectionLost, PeerUnresponsive, UsageError
from trio_heartbeat.server import (
    ClientEnd,
    ClientInfo,
    HeartbeatServer,
    ServerClient,
    ServerHeartbeat,
    open_heartbeat_server,
)

# -- heartbeat rounds --------------------------------------------------------


async def test_silent_client_terminated_at_exactly_the_second_round(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_heartbeat.server")
    ends = Ends()
    async with running(ends, ServerHeartbeat.ping(5.0)) as (server, nursery):
        quiet = await connect(server, nursery)
        await connect(server, nursery)  # keeps answering
        await trio.sleep_until(16.0)
        info = server.client_info(1)
        assert (info.last_seen, info.rtt) == (15.0, 0.0)  # pong of the round at 15
        quiet.net.cut()  # black hole from t=16: round 20 probes, round 25 terminates
        await trio.sleep_until(24.9)
        assert [c.id for c in server.clients()] == [1, 2]
        await trio.sleep_until(25.1)
        assert [c.id for c in server.clients()] == [2]
        when, error = ends.ended[1]
        assert when == 25.0
        assert isinstance(error, PeerUnresponsive)
        assert error.bound == 5.0
        stats = server.statistics()
        assert (stats.terminated, stats.closed, stats.rounds) == (1, 1, 5)
        [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert "client 1" in record.getMessage()
        assert ClientEnd.UNRESPONSIVE.value in record.getMessage()
        # the answering client stays for many rounds
        await trio.sleep_until(500.5)
        assert [c.id for c in server.clients()] == [2]
        assert server.client_info(2).last_seen == 500.0
        assert server.statistics().rounds == 100
        assert 2 not in ends.ended
        assert server.statistics().terminated == 1


async def test_terminated_stream_is_aborted_at_the_round_not_after_a_close_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    aborted_at: list[float] = []

    async def handler(client: ServerClient) -> None:
        await trio.sleep_forever()

    async with running(handler, ServerHeartbeat.ping(5.0)) as (server, nursery):
        peer = await connect(server, nursery)
        original = peer.server_net.inner.aclose

        async def record_aclose() -> None:
            aborted_at.append(trio.current_time())
            await original()

        peer.server_net.inner.aclose = record_aclose  # type: ignore[method-assign]
        peer.net.is_cut = True  # black hole before the first round
        await trio.sleep_until(10.5)
        assert aborted_at and aborted_at[0] == 10.0
        # the handler that ignored the end is cancelled after close_timeout (5 s)
        assert server.statistics().clients == 0


async def test_rtt_measured_with_latency(autojump_clock: trio.testing.MockClock) -> None:
    async with running(Ends(), ServerHeartbeat.ping(5.0)) as (server, nursery):
        peer = await connect(server, nursery)
        peer.net.delay = 0.25  # the client's pongs travel 0.25 s
        await trio.sleep_until(6.0)
        info = server.client_info(peer_id := 1)
        assert info == ClientInfo(
            id=peer_id, remote=None, path="/", connected_since=0.0, last_seen=5.25, rtt=0.25
        )
        peer.net.delay = 1.5
        await trio.sleep_until(12.0)
        assert server.client_info(1).rtt == 1.5


@pytest.mark.parametrize(
    "heartbeat",
    [ServerHeartbeat.binary(5.0), ServerHeartbeat.engineio(5.0)],
    ids=["binary", "engineio"],
)
async def test_application_heartbeat_answers_are_swallowed(
    autojump_clock: trio.testing.MockClock, heartbeat: ServerHeartbeat
) -> None:
    assert heartbeat.payload is not None and heartbeat.answer is not None
    ends = Ends()
    async with running(ends, heartbeat) as (server, nursery):
        peer = await connect(server, nursery)
        seen: list[str | bytes] = []
        nursery.start_soon(
            answer_heartbeats, peer.conn, heartbeat.payload, heartbeat.answer, 12.0, seen
        )
        await peer.conn.send_message("hello")
        await trio.sleep_until(11.0)
        assert server.client_info(1).rtt == 0.0
        assert ends.messages[1] == ["hello"]  # answers at 5 and 10 never reached the handler
        stats = server.statistics()
        assert (stats.heartbeats_sent, stats.heartbeat_answers, stats.messages_in) == (2, 2, 1)
        # no echo from t=12: probed at 15, terminated at 20
        await trio.sleep_until(21.0)
        assert ends.ended[1][0] == 20.0
        assert server.statistics().terminated == 1


@pytest.mark.parametrize("any_traffic_proves_life", [True, False])
async def test_chatty_client_that_ignores_heartbeats(
    autojump_clock: trio.testing.MockClock, any_traffic_proves_life: bool
) -> None:
    heartbeat = ServerHeartbeat.binary(5.0, any_traffic_proves_life=any_traffic_proves_life)
    ends = Ends()
    async with running(ends, heartbeat) as (server, nursery):
        peer = await connect(server, nursery)

        async def chat() -> None:
            for _ in range(60):
                await trio.sleep(1)
                try:
                    await peer.conn.send_message("tick")
                except ConnectionClosed:
                    return

        nursery.start_soon(chat)
        await trio.sleep_until(50.5)
        if any_traffic_proves_life:
            assert 1 not in ends.ended
            assert server.client_info(1).last_seen == 50.0
        else:
            # rounds at 5 (probe) and 10 (no 0x01 came back: terminated)
            assert ends.ended[1][0] == 10.0
            assert ends.messages[1][:4] == ["tick"] * 4


async def test_pongs_processed_while_the_handler_does_not_read(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def idle(client: ServerClient) -> None:
        await trio.sleep_forever()

    heartbeat = ServerHeartbeat.ping(5.0, any_traffic_proves_life=False)
    async with running(idle, heartbeat) as (server, nursery):
        peer = await connect(server, nursery)
        for n in range(3):
            await peer.conn.send_message(f"unread {n}")
        await trio.sleep_until(100.5)
        assert server.statistics().clients == 1
        assert server.client_info(1).last_seen == 100.0
        assert server.statistics().heartbeat_answers == 20


async def test_too_many_unread_messages_drop_the_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def idle(client: ServerClient) -> None:
        await trio.sleep_forever()

    async with running(idle, ServerHeartbeat.ping(5.0), max_pending_messages=3) as (
        server,
        nursery,
    ):
        peer = await connect(server, nursery)
        other = await connect(server, nursery)
        for n in range(3):
            await peer.conn.send_message(f"m{n}")
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().clients == 2
        await peer.conn.send_message("one too many")
        await trio.testing.wait_all_tasks_blocked()
        assert [c.id for c in server.clients()] == [2]
        assert server.statistics().dropped == 1
        assert other.conn.closed is None


# -- messaging ---------------------------------------------------------------


async def test_broadcast_except_sender_and_send_to_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    servers: list[HeartbeatServer] = []

    async def chat(client: ServerClient) -> None:
        async for message in client:
            assert isinstance(message, str)
            delivered = await servers[0].broadcast(f"{client.id}:{message}", exclude=client.id)
            await client.send(f"delivered to {delivered}")

    async with running(chat, ServerHeartbeat.ping(5.0)) as (server, nursery):
        servers.append(server)
        peers = [await connect(server, nursery) for _ in range(3)]
        await peers[0].conn.send_message("hi")
        assert await peers[0].conn.get_message() == "delivered to 2"
        assert await peers[1].conn.get_message() == "1:hi"
        assert await peers[2].conn.get_message() == "1:hi"
        assert await nothing_more(peers[0].conn)  # the sender did not get its own message
        await server.send(2, b"private")
        assert await peers[1].conn.get_message() == b"private"
        assert await nothing_more(peers[0].conn)
        assert await nothing_more(peers[2].conn)
        assert await server.broadcast("all") == 3
        assert [await p.conn.get_message() for p in peers] == ["all"] * 3
        stats = server.statistics()
        assert (stats.messages_in, stats.messages_out) == (1, 2 + 1 + 1 + 3)
        with pytest.raises(UsageError):
            await server.send(99, "nobody")
        with pytest.raises(UsageError):
            await server.broadcast(42)  # type: ignore[arg-type]


async def test_a_stalled_write_drops_only_that_client_after_send_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: dict[int, ServerClient] = {}

    async def keep(client: ServerClient) -> None:
        seen[client.id] = client
        await trio.sleep_forever()

    async with running(keep, ServerHeartbeat.ping(60.0), send_timeout=2.0) as (server, nursery):
        peers = [await connect(server, nursery) for _ in range(3)]
        peers[1].server_net.stall()  # the server's writes to client 2 block forever
        assert await server.broadcast("news") == 3  # queued for all: nobody waited
        assert await peers[0].conn.get_message() == "news"
        assert await peers[2].conn.get_message() == "news"
        assert trio.current_time() == 0.0
        await trio.sleep(1.9)
        assert [c.id for c in server.clients()] == [1, 2, 3]
        await trio.sleep(0.2)  # client 2's write stalled for send_timeout at t = 2.0
        assert [c.id for c in server.clients()] == [1, 3]
        stats = server.statistics()
        assert (stats.dropped, stats.messages_out) == (1, 2)
        assert seen[2].end_reason is ClientEnd.SEND_FAILED
        with pytest.raises(ConnectionLost):
            await seen[2].send("gone")
        with pytest.raises(UsageError):
            await server.send(2, "gone")
        # a direct send is queued at once; the stalled write drops the client
        peers[2].server_net.stall()
        await server.send(3, "stuck")
        assert trio.current_time() == 2.1
        await trio.sleep(2.1)
        assert [c.id for c in server.clients()] == [1]
        assert server.statistics().dropped == 2
        await server.send(1, "still fine")
        assert await peers[0].conn.get_message() == "still fine"
        await trio.sleep(10)  # the ignoring handlers are cancelled after close_timeout
        stats = server.statistics()
        assert (stats.messages_out, stats.messages_unsent) == (3, 2)  # "news" and "stuck"


# -- handlers ----------------------------------------------------------------


async def test_failing_handler_closes_only_its_client(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(client: ServerClient) -> None:
        async for message in client:
            if client.path == "/bad":
                raise RuntimeError("boom")
            await client.send(message)

    with caplog.at_level(logging.INFO, logger="trio_heartbeat.server"):
        async with running(handler, ServerHeartbeat.ping(5.0)) as (server, nursery):
            good = await connect(server, nursery, "/good")
            bad = await connect(server, nursery, "/bad")
            await bad.conn.send_message("x")
            assert await closed_reason(bad.conn) == (1011, "internal error")
            await good.conn.send_message("echo")
            assert await good.conn.get_message() == "echo"
            assert [c.path for c in server.clients()] == ["/good"]
            stats = server.statistics()
            assert (stats.handler_errors, stats.closed, stats.clients) == (1, 1, 1)
            await trio.sleep(30)  # rounds keep going for the survivor
            assert [c.path for c in server.clients()] == ["/good"]
    raised = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(raised) == 1
    assert any(ClientEnd.HANDLER_FAILED.value in r.getMessage() for r in caplog.records)


async def test_returning_handler_closes_politely(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(client: ServerClient) -> None:
        await client.send(f"bye {client.id}")

    async with running(handler, ServerHeartbeat.ping(5.0)) as (server, nursery):
        peer = await connect(server, nursery)
        assert await peer.conn.get_message() == "bye 1"
        assert await closed_reason(peer.conn) == (1000, None)
        stats = server.statistics()
        assert (stats.clients, stats.closed, stats.handler_errors) == (0, 1, 0)


async def test_peer_close_ends_the_handler_iteration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ends = Ends()
    async with running(ends, ServerHeartbeat.ping(5.0)) as (server, nursery):
        peer = await connect(server, nursery)
        await peer.conn.send_message("last words")
        await peer.conn.aclose(4000, "leaving")
        await trio.testing.wait_all_tasks_blocked()
        assert ends.messages[1] == ["last words"]
        _, error = ends.ended[1]
        assert (error.code, error.reason) == (4000, "leaving")
        assert server.clients() == ()
        with pytest.raises(UsageError):
            server.client_info(1)


# -- registry, statistics, lifetime -------------------------------------------


async def test_registry_contents(autojump_clock: trio.testing.MockClock) -> None:
    async with running(Ends(), ServerHeartbeat.ping(30.0)) as (server, nursery):
        peers = []
        for path in ("/a", "/b", "/c"):
            peers.append(await connect(server, nursery, path))
            await trio.sleep(1.5)
        assert server.clients() == tuple(
            ClientInfo(
                id=i + 1, remote=None, path=p, connected_since=i * 1.5, last_seen=i * 1.5, rtt=None
            )
            for i, p in enumerate(("/a", "/b", "/c"))
        )
        await peers[1].conn.send_message("x")
        await trio.testing.wait_all_tasks_blocked()
        assert server.client_info(2).last_seen == 4.5
        await peers[0].conn.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert [c.id for c in server.clients()] == [2, 3]
        late = await connect(server, nursery, "/d")
        assert [c.id for c in server.clients()] == [2, 3, 4]
        assert late.conn.closed is None


async def test_statistics_snapshot(autojump_clock: trio.testing.MockClock) -> None:
    async def echo(client: ServerClient) -> None:
        async for message in client:
            await client.send(message)

    async with running(echo, ServerHeartbeat.ping(5.0)) as (server, nursery):
        before = server.statistics()
        peer = await connect(server, nursery)
        await peer.conn.send_message("a")
        assert await peer.conn.get_message() == "a"
        await trio.sleep_until(11.0)
        after = server.statistics()
        assert before.accepted == 0
        assert after.accepted == 1
        assert (after.clients, after.rounds, after.messages_in, after.messages_out) == (1, 2, 1, 1)
        assert (after.heartbeats_sent, after.heartbeat_answers) == (2, 2)
        with pytest.raises(AttributeError):
            after.clients = 5  # type: ignore[misc]


def _all_tasks() -> set[trio.lowlevel.Task]:
    found: set[trio.lowlevel.Task] = set()
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        assert task is not None
        found.add(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return found


async def test_leaving_the_block_closes_clients_and_leaves_no_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def idle(client: ServerClient) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        before = _all_tasks()
        async with open_heartbeat_server(idle, heartbeat=ServerHeartbeat.ping(5.0)) as server:
            peers = [await connect(server, nursery) for _ in range(2)]
            stuck = await connect(server, nursery)
            stuck.net.cut()  # cannot answer the closing handshake either
            await trio.sleep(7)
            assert len(_all_tasks() - before) > 10
            stop_at = trio.current_time()
        assert trio.current_time() - stop_at <= 5.0  # close_timeout bounds the polite close
        for peer in peers:
            assert await closed_reason(peer.conn) == (1001, "server stopping")
        await trio.testing.wait_all_tasks_blocked()  # our handle_stream calls return
        leftovers = {t.name for t in _all_tasks() - before}
        assert {name for name in leftovers if "trio_heartbeat" in name} == set()
        stats = server.statistics()
        assert (stats.clients, stats.closed) == (0, 3)
        rounds = stats.rounds
        await trio.sleep(100)
        assert server.statistics().rounds == rounds  # the round timer is gone
        with pytest.raises(UsageError):
            await server.handle_stream(trio.testing.memory_stream_pair()[1])
        nursery.cancel_scope.cancel()


async def test_cancelling_the_server_aborts_clients(autojump_clock: trio.testing.MockClock) -> None:
    ends = Ends()
    async with trio.open_nursery() as nursery:
        with trio.CancelScope() as scope:
            async with open_heartbeat_server(ends, heartbeat=ServerHeartbeat.ping(5.0)) as server:
                peer = await connect(server, nursery)
                scope.cancel()
                await trio.sleep_forever()
        code, _ = await closed_reason(peer.conn)
        assert code == 1006  # aborted: no closing handshake
        assert server.statistics().clients == 0
        nursery.cancel_scope.cancel()


async def test_handshake_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with running(Ends(), ServerHeartbeat.ping(5.0), handshake_timeout=3.0) as (server, _):
        silent, server_side = trio.testing.memory_stream_pair()
        await server.handle_stream(server_side)  # the peer never sends the HTTP upgrade
        assert trio.current_time() == 3.0
        assert server.statistics().handshake_failures == 1
        assert await silent.receive_some() == b""  # the server closed the stream


async def test_cancelling_handle_stream_ends_that_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ends = Ends()
    async with running(ends, ServerHeartbeat.ping(5.0)) as (server, nursery):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        with trio.move_on_after(2.0):
            async with trio.open_nursery() as inner:
                inner.start_soon(server.handle_stream, server_stream)
                conn = await trio_websocket.wrap_client_stream(
                    nursery,
                    client_stream,  # type: ignore[arg-type]  # any trio Stream works
                    "localhost",
                    "/",
                )
                await trio.sleep_forever()
        assert await closed_reason(conn) == (1006, None)  # aborted
        assert trio.current_time() == 2.0
        assert server.clients() == ()
        assert server.statistics().closed == 1


def test_bad_server_arguments() -> None:
    async def main() -> None:
        for kwargs in (
            {"send_timeout": 0},
            {"close_timeout": -1.0},
            {"max_pending_messages": 0},
            {"handshake_timeout": float("inf")},
        ):
            with pytest.raises(ValueError):
                async with open_heartbeat_server(Ends(), **kwargs):
                    pass

    trio.run(main)


async def test_exception_in_the_block_comes_out_bare(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ends = Ends()
    async with trio.open_nursery() as nursery:
        with pytest.raises(KeyError):
            async with open_heartbeat_server(ends, heartbeat=ServerHeartbeat.ping(5.0)) as server:
                peer = await connect(server, nursery)
                raise KeyError("user bug")
        assert await closed_reason(peer.conn) == (1006, None)  # aborted, not politely closed
        nursery.cancel_scope.cancel()
