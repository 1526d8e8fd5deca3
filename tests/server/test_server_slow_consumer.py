"""A slow consumer never delays the others: per-client send queues (virtual time, memory)."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from tests.server.helpers import Peer, closed_reason, connect, running
from trio_heartbeat.errors import ConnectionLost, UsageError
from trio_heartbeat.server import (
    ClientEnd,
    FullQueue,
    HeartbeatServer,
    ServerClient,
    ServerHeartbeat,
    ServerOptions,
)

KB = b"x" * 1024
BEAT = ServerHeartbeat.ping(60.0)


class Keep:
    """Handler that keeps every client (never reads) and remembers it by id."""

    def __init__(self) -> None:
        self.clients: dict[int, ServerClient] = {}

    async def __call__(self, client: ServerClient) -> None:
        self.clients[client.id] = client
        await trio.sleep_forever()


async def stuck_client(server: HeartbeatServer, nursery: trio.Nursery) -> Peer:
    """A client that completes the upgrade and then never reads: the server's
    writes to it block (lockstep streams) once trio-websocket's one-message queue
    is full."""
    return await connect(
        server, nursery, pair=trio.testing.lockstep_stream_pair, message_queue_size=1
    )


async def read_all(peer: Peer, count: int, arrivals: list[float]) -> None:
    for _ in range(count):
        await peer.conn.get_message()
        arrivals.append(trio.current_time())


def largest_gap(arrivals: list[float], start: float) -> float:
    times = [start, *arrivals]
    return max(b - a for a, b in itertools.pairwise(times))


async def broadcast_paced(server: HeartbeatServer, count: int, every: float) -> list[int]:
    """``count`` broadcasts of 1 KB, one every ``every`` s; what each returned."""
    queued = []
    for _ in range(count):
        queued.append(await server.broadcast(KB))
        await trio.sleep(every)
    return queued


@pytest.mark.parametrize("policy", list(FullQueue))
async def test_a_client_that_never_reads_does_not_delay_the_healthy_ones(
    autojump_clock: trio.testing.MockClock, policy: FullQueue
) -> None:
    keep = Keep()
    options = ServerOptions(send_timeout=10.0, send_queue_size=16, full_queue=policy)
    async with running(keep, BEAT, options=options) as (server, nursery):
        healthy = [await connect(server, nursery) for _ in range(3)]
        stuck = await stuck_client(server, nursery)
        arrivals: list[list[float]] = [[], [], []]
        count = 300  # 3 s of broadcasts, one every 10 ms: within one send_timeout
        for peer, times in zip(healthy, arrivals, strict=True):
            nursery.start_soon(read_all, peer, count, times)
        start = trio.current_time()
        queued = await broadcast_paced(server, count, 0.01)
        await trio.testing.wait_all_tasks_blocked()
        for times in arrivals:
            assert len(times) == count
            # every message reached every healthy client in the very instant it
            # was broadcast: the largest gap is the producer's own pace, exactly
            assert largest_gap(times, start) == pytest.approx(0.01, abs=1e-9)
            assert times[-1] == pytest.approx(start + 2.99, abs=1e-9)
        stats = server.statistics()
        assert stats.messages_out >= 3 * count
        if policy is FullQueue.DISCONNECT:
            # dropped as soon as its queue was full, closed with the slow close code
            assert keep.clients[4].end_reason is ClientEnd.QUEUE_FULL
            assert (stats.dropped, stats.messages_dropped) == (1, 0)
            assert [c.id for c in server.clients()] == [1, 2, 3]
            assert queued[0] == 4 and queued[-1] == 3
            with pytest.raises(ConnectionLost) as lost:
                await keep.clients[4].send("late")
            assert (lost.value.code, lost.value.reason) == (1008, "too slow: 16 messages queued")
        else:
            # still connected (its writer is stuck in one write, not yet for
            # send_timeout); every broadcast it could not take was skipped, counted
            assert [c.id for c in server.clients()] == [1, 2, 3, 4]
            assert stats.dropped == 0
            assert stats.messages_dropped == queued.count(3) > count - 30
            await trio.sleep_until(start + 10.5)  # its write stalled for send_timeout
            assert keep.clients[4].end_reason is ClientEnd.SEND_FAILED
            assert [c.id for c in server.clients()] == [1, 2, 3]
        del stuck


async def test_a_slow_reader_gets_the_chosen_close_code_and_the_unsent_are_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    keep = Keep()
    options = ServerOptions(send_queue_size=4, slow_close_code=4000)
    async with running(keep, BEAT, options=options) as (server, nursery):
        fast = await connect(server, nursery)
        slow = await stuck_client(server, nursery)
        for n in range(12):
            await server.broadcast(f"m{n}")
            await trio.testing.wait_all_tasks_blocked()  # the fast one keeps up
        assert keep.clients[2].end_reason is ClientEnd.QUEUE_FULL
        assert [c.id for c in server.clients()] == [1]
        # the slow client reads on: what was written, then the close frame
        got = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                got.append(await slow.conn.get_message())
        assert closed.value.reason is not None
        assert (closed.value.reason.code, closed.value.reason.reason) == (
            4000,
            "too slow: 4 messages queued",
        )
        assert got == [f"m{n}" for n in range(len(got))]
        assert [await fast.conn.get_message() for _ in range(12)] == [f"m{n}" for n in range(12)]
        assert [c.id for c in server.clients()] == [1]
        await trio.sleep(6)  # its handler is cancelled after close_timeout
        stats = server.statistics()
        assert (stats.dropped, stats.closed) == (1, 1)
        # written + skipped once the client was closing + discarded from its queue
        assert stats.messages_unsent == 4
        assert stats.messages_out == 12 + len(got)


async def test_send_waits_only_for_its_own_client_and_keeps_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    keep = Keep()
    options = ServerOptions(send_queue_size=2, send_timeout=30.0)
    async with running(keep, BEAT, options=options) as (server, nursery):
        other = await connect(server, nursery)
        slow = await stuck_client(server, nursery)
        sent: list[int] = []

        async def firehose() -> None:
            for n in range(20):
                await server.send(2, f"s{n}")
                sent.append(n)

        nursery.start_soon(firehose)
        await trio.testing.wait_all_tasks_blocked()
        stuck_at = len(sent)
        assert 0 < stuck_at < 20  # back-pressure: the sender waits for room
        await server.send(1, "not delayed")  # another client is not held up
        assert await other.conn.get_message() == "not delayed"
        assert trio.current_time() == 0.0
        got = [await slow.conn.get_message() for _ in range(20)]  # the client reads at last
        assert got == [f"s{n}" for n in range(20)]
        assert sent == list(range(20))
        assert [c.id for c in server.clients()] == [1, 2]


async def test_send_waiting_for_room_raises_when_the_client_goes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    keep = Keep()
    options = ServerOptions(send_queue_size=1, send_timeout=3.0)
    async with running(keep, BEAT, options=options) as (server, nursery):
        await stuck_client(server, nursery)
        with pytest.raises(ConnectionLost):
            for n in range(100):
                await keep.clients[1].send(f"s{n}")
        assert trio.current_time() == 3.0  # the stalled write dropped it
        with pytest.raises(UsageError):
            await server.send(1, "gone")


async def test_handler_return_sends_what_it_queued_before_closing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def burst(client: ServerClient) -> None:
        for n in range(50):
            await client.send(f"b{n}")

    async with running(burst, BEAT, options=ServerOptions(send_queue_size=8)) as (server, nursery):
        peer = await connect(server, nursery)
        got = [await peer.conn.get_message() for _ in range(50)]
        assert got == [f"b{n}" for n in range(50)]
        assert await closed_reason(peer.conn) == (1000, None)
        assert server.statistics().messages_unsent == 0


async def test_a_handler_waiting_for_room_learns_at_once_that_its_client_left(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcome: list[tuple[float, type[BaseException]]] = []
    go = trio.Event()

    async def firehose(client: ServerClient) -> None:
        await go.wait()
        try:
            while True:
                await client.send(KB)
        except BaseException as exc:
            outcome.append((trio.current_time(), type(exc)))
            raise

    options = ServerOptions(send_queue_size=2, send_timeout=30.0)
    async with running(firehose, BEAT, options=options) as (server, nursery):
        peer = await connect(server, nursery)
        peer.server_net.delay = 1.0  # each write takes 1 s: a slow link, not a stuck one
        go.set()
        await trio.sleep(1.5)
        assert outcome == []  # the handler waits for room (back-pressure)
        nursery.start_soon(peer.conn.aclose, 1000, "bye")  # the client says goodbye
        await trio.sleep(1.0)
        assert outcome == [(2.0, ConnectionLost)]  # when its close frame was answered
        assert server.clients() == ()
        assert server.statistics().messages_unsent >= 2
