"""Every fault of the switchboard, in memory, at exact virtual times (autojump clock).

Clients are raw trio-websocket clients (``wrap_client_stream``) or raw byte
streams; the server is a trio-websocket echo server (``wrap_server_stream``) or a
raw stream handler, so the tests see exactly what crosses the relay.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar, cast

import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
    wrap_server_stream,
)

from trio_heartbeat.errors import UsageError
from trio_heartbeat.testing._faults import Direction, Faults, FaultStep
from trio_heartbeat.testing._frames import (
    OPCODE_BINARY,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    encode_frame,
)
from trio_heartbeat.testing._memory import MemoryNetwork, open_memory_network

MASK = b"\x0a\x0b\x0c\x0d"
HANDSHAKE_BOUND = 5.0  # virtual seconds; the handshake itself takes none
TEST_BOUND = 1000.0  # virtual seconds: a hang fails at once under the autojump clock

P = ParamSpec("P")
T = TypeVar("T")


def bounded(test: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Fail the test with TooSlowError instead of hanging when a fault misbehaves."""

    @functools.wraps(test)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with trio.fail_after(TEST_BOUND):
            return await test(*args, **kwargs)

    return wrapper


class EchoServer:
    """trio-websocket echo server that records what it saw and when."""

    def __init__(self) -> None:
        self.handled = 0
        self.received: list[tuple[float, str | bytes]] = []
        self.connections: list[WebSocketConnection] = []
        self.closed: list[tuple[float, int]] = []

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.handled += 1
        async with trio.open_nursery() as nursery:
            request = await wrap_server_stream(nursery, stream)
            ws = await request.accept()
            self.connections.append(ws)
            try:
                while True:
                    message = await ws.get_message()
                    self.received.append((trio.current_time(), message))
                    await ws.send_message(message)
            except ConnectionClosed as exc:
                assert exc.reason is not None
                self.closed.append((trio.current_time(), exc.reason.code))


class RawServer:
    """Hands each server-side stream to the test untouched."""

    def __init__(self) -> None:
        self.streams: list[trio.abc.Stream] = []

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.streams.append(stream)
        await trio.sleep_forever()


@asynccontextmanager
async def background() -> AsyncIterator[trio.Nursery]:
    """A nursery for client tasks, cancelled when the block ends."""
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


async def connect(nursery: trio.Nursery, network: MemoryNetwork) -> WebSocketConnection:
    stream = await network.dial()
    with trio.fail_after(HANDSHAKE_BOUND):
        return await wrap_client_stream(nursery, cast(Any, stream), "localhost", "/")


async def receive_exactly(stream: trio.abc.Stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


async def raw_link(
    network: MemoryNetwork, raw: RawServer
) -> tuple[trio.abc.Stream, trio.abc.Stream]:
    """Dial, then pass a minimal HTTP head each way so frames are parsed after it."""
    client = await network.dial()
    await client.send_all(b"GET / HTTP/1.1\r\n\r\n")
    await trio.testing.wait_all_tasks_blocked()
    server = raw.streams[-1]
    assert await receive_exactly(server, 18) == b"GET / HTTP/1.1\r\n\r\n"
    await server.send_all(b"HTTP/1.1 101 OK\r\n\r\n")
    assert await receive_exactly(client, 19) == b"HTTP/1.1 101 OK\r\n\r\n"
    return client, server


@bounded
async def test_relays_and_counts_bytes_exactly(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        t0 = trio.current_time()
        (before,) = network.connections
        assert before.is_open and before.admission == "relayed" and before.handshake_completed
        await ws.send_message("hello")
        assert await ws.get_message() == "hello"
        assert trio.current_time() == t0
        (after,) = network.faults.connections
        assert after.bytes_to_server - before.bytes_to_server == 2 + 4 + 5  # masked frame
        assert after.bytes_to_client - before.bytes_to_client == 2 + 5
        await ws.aclose()
        with trio.fail_after(1):
            await network.faults.wait_until(lambda f: not f.connections[0].is_open)
        (closed,) = network.connections
        assert closed.ending == "eof" and closed.closed_at == t0
        assert server.closed == [(t0, 1000)]


@bounded
async def test_latency_per_direction_keeps_order(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        faults = network.faults
        faults.set_latency(0.25, Direction.TO_SERVER)
        faults.set_latency(0.5, Direction.TO_CLIENT)
        t0 = trio.current_time()
        for text in ("1", "2", "3"):
            await ws.send_message(text)
        assert [await ws.get_message() for _ in range(3)] == ["1", "2", "3"]
        assert trio.current_time() == t0 + 0.75
        assert server.received == [(t0 + 0.25, "1"), (t0 + 0.25, "2"), (t0 + 0.25, "3")]
        stats = faults.statistics()
        assert (stats.latency_to_server, stats.latency_to_client) == (0.25, 0.5)
        faults.set_latency(0.0)
        t1 = trio.current_time()
        await ws.send_message("4")
        assert await ws.get_message() == "4"
        assert trio.current_time() == t1


@bounded
async def test_black_hole_swallows_for_good(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        faults = network.faults
        faults.black_hole()
        assert faults.statistics().black_holed == Direction.BOTH
        t0 = trio.current_time()
        await ws.send_message("lost")
        await server.connections[0].send_message("pushed")
        with trio.move_on_after(30) as scope:
            await ws.get_message()
        assert scope.cancelled_caught and server.received == []
        (stats,) = faults.connections
        assert stats.is_open  # half-open: both sockets stay up
        assert stats.bytes_black_holed_to_server == 2 + 4 + 4
        assert stats.bytes_black_holed_to_client == 2 + 6
        assert faults.statistics().bytes_black_holed == 18
        faults.heal()
        await ws.send_message("after")
        assert await ws.get_message() == "after"  # neither "lost" nor "pushed" came late
        assert server.received == [(t0 + 30, "after")]


@bounded
async def test_black_hole_to_server_only(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        network.faults.black_hole(Direction.TO_SERVER)
        assert network.faults.statistics().black_holed == Direction.TO_SERVER
        await ws.send_message("up")
        await trio.testing.wait_all_tasks_blocked()
        assert server.received == []  # the way up is closed...
        await server.connections[0].send_message("push")
        with trio.fail_after(1):
            assert await ws.get_message() == "push"  # ...the way down is open
        (stats,) = network.connections
        assert stats.bytes_black_holed_to_server == 2 + 4 + 2
        assert stats.bytes_black_holed_to_client == 0


@bounded
async def test_black_hole_to_client_hides_pushes(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        network.faults.black_hole(Direction.TO_CLIENT)
        await ws.send_message("up")
        await trio.testing.wait_all_tasks_blocked()
        assert [m for _, m in server.received] == ["up"]  # the way up is open
        with trio.move_on_after(10) as scope:
            await ws.get_message()
        assert scope.cancelled_caught  # the echo never came down
        (stats,) = network.connections
        assert stats.bytes_black_holed_to_client == 4 and stats.bytes_black_holed_to_server == 0


@bounded
async def test_drop_heartbeats_keeps_data(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        faults = network.faults
        faults.drop_heartbeats(Direction.TO_CLIENT)  # the server's pongs vanish
        t0 = trio.current_time()
        with trio.move_on_after(10) as scope:
            await ws.ping(b"p1")
        assert scope.cancelled_caught and trio.current_time() == t0 + 10
        await ws.send_message("data")
        assert await ws.get_message() == "data"
        (stats,) = faults.connections
        assert (stats.heartbeats_dropped_to_client, stats.heartbeats_dropped_to_server) == (1, 0)

        faults.heal()
        faults.drop_heartbeats(Direction.TO_SERVER)  # the client's pings vanish
        with trio.move_on_after(10) as scope:
            await ws.ping(b"p2")
        assert scope.cancelled_caught
        (stats,) = faults.connections
        assert (stats.heartbeats_dropped_to_client, stats.heartbeats_dropped_to_server) == (1, 1)

        faults.drop_heartbeats()  # both ways: server-initiated pings die too
        with trio.move_on_after(10) as scope:
            await server.connections[0].ping(b"s1")
        assert scope.cancelled_caught
        assert faults.statistics().heartbeat_frames_dropped == 3

        faults.heal()
        t1 = trio.current_time()
        with trio.fail_after(1):
            await ws.ping(b"p3")
        assert trio.current_time() == t1


@bounded
async def test_drop_heartbeats_byte_by_byte(autojump_clock: trio.testing.MockClock) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        client, server = await raw_link(network, raw)
        network.faults.drop_heartbeats()
        ping = encode_frame(OPCODE_PING, b"hb", mask_key=MASK)
        text = encode_frame(OPCODE_TEXT, b"payload", mask_key=MASK)
        pong = encode_frame(OPCODE_PONG, b"hb", mask_key=MASK)
        for byte in ping + text + pong + text:
            await client.send_all(bytes([byte]))
        await trio.testing.wait_all_tasks_blocked()
        assert await server.receive_some() == text + text
        (stats,) = network.connections
        assert stats.heartbeats_dropped_to_server == 2


@bounded
async def test_black_hole_drops_whole_frames(autojump_clock: trio.testing.MockClock) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        client, server = await raw_link(network, raw)
        faults = network.faults
        first = encode_frame(OPCODE_BINARY, b"A" * 20)
        second = encode_frame(OPCODE_BINARY, b"B" * 20)
        third = encode_frame(OPCODE_BINARY, b"C" * 20)
        await server.send_all(first[:10])
        await trio.testing.wait_all_tasks_blocked()
        faults.black_hole()  # mid-frame: this frame is finished, the next one swallowed
        await server.send_all(first[10:] + second[:10])
        await trio.testing.wait_all_tasks_blocked()
        faults.heal()  # mid-swallowed frame: its tail is swallowed too
        await server.send_all(second[10:] + third)
        await trio.testing.wait_all_tasks_blocked()
        assert await client.receive_some() == first + third
        (stats,) = network.connections
        assert stats.bytes_black_holed_to_client == len(second)


@bounded
async def test_close_injects_close_frame(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        t0 = trio.current_time()
        network.faults.close(4001, "bye", grace_delay=2.0)
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason is not None
        assert (info.value.reason.code, info.value.reason.reason) == (4001, "bye")
        assert trio.current_time() == t0
        with trio.fail_after(5):
            await network.faults.wait_until(lambda f: not f.connections[0].is_open)
        (stats,) = network.connections
        assert stats.ending == "closed" and stats.close_frame_sent
        assert stats.closed_at == t0 + 2.0  # the client waits for TCP close: full grace
        assert server.closed == [(t0, 1006)]  # the server saw no close frame
        assert network.faults.statistics().close_frames_injected == 1


@bounded
async def test_close_before_handshake_drops(autojump_clock: trio.testing.MockClock) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        client = await network.dial()
        await client.send_all(b"GET / HTTP/1.1\r\n\r\n")
        await trio.testing.wait_all_tasks_blocked()
        network.faults.close(1001)
        assert await client.receive_some() == b""  # no close frame inside HTTP
        (stats,) = network.connections
        assert stats.ending == "dropped" and not stats.close_frame_sent


@bounded
async def test_drop_closes_without_frame(autojump_clock: trio.testing.MockClock) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        client, server = await raw_link(network, raw)
        network.faults.drop()
        assert await client.receive_some() == b""
        assert await server.receive_some() == b""
        await trio.testing.wait_all_tasks_blocked()
        (stats,) = network.connections
        assert stats.ending == "dropped" and not stats.is_open


@bounded
async def test_drop_seen_by_websocket_client(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        t0 = trio.current_time()
        network.faults.drop()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason is not None and info.value.reason.code == 1006
        assert trio.current_time() == t0


@bounded
async def test_abort_resets_both_sides(autojump_clock: trio.testing.MockClock) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        client, server = await raw_link(network, raw)

        async def abort_when_blocked() -> None:
            await trio.testing.wait_all_tasks_blocked()
            network.faults.abort()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(abort_when_blocked)
            with pytest.raises(trio.BrokenResourceError):
                await client.receive_some()  # pending read woken by the reset
        with pytest.raises(trio.BrokenResourceError):
            await server.send_all(b"x")
        await trio.testing.wait_all_tasks_blocked()
        (stats,) = network.connections
        assert stats.ending == "aborted"
        assert network.faults.statistics().aborted == 1


@bounded
async def test_refuse_count_then_relay(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        network.faults.refuse_handshakes(count=1)
        refused = await network.dial()
        await refused.send_all(b"GET / HTTP/1.1\r\n\r\n")
        assert await refused.receive_some() == b""
        assert server.handled == 0  # the server was never contacted
        ws = await connect(nursery, network)  # count used up
        await ws.send_message("ok")
        assert await ws.get_message() == "ok"
        assert [c.admission for c in network.connections] == ["refused", "relayed"]
        assert network.faults.statistics().refused == 1


@bounded
async def test_refuse_for_a_duration(autojump_clock: trio.testing.MockClock) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        t0 = trio.current_time()
        network.faults.refuse_handshakes(duration=5.0)
        assert network.faults.statistics().handshake_fault_deadline == t0 + 5.0
        await trio.sleep(4.5)
        assert await (await network.dial()).receive_some() == b""
        await trio.sleep_until(t0 + 5.0)
        await raw_link(network, raw)
        assert [c.admission for c in network.connections] == ["refused", "relayed"]
        assert network.faults.statistics().handshake_fault is None


@bounded
async def test_reject_answers_upgrade_exactly(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network:
        network.faults.reject_handshakes(503, retry_after=5, count=2)
        client = await network.dial()
        await client.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while chunk := await client.receive_some():
            response += chunk
        assert response == (
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"
        )
        with pytest.RaisesGroup(pytest.RaisesExc(ConnectionRejected)) as group:
            async with trio.open_nursery() as nursery:
                await connect(nursery, network)
        rejected = group.value.exceptions[0]
        assert isinstance(rejected, ConnectionRejected) and rejected.status_code == 503
        assert rejected.headers is not None and (b"retry-after", b"5") in rejected.headers
        async with trio.open_nursery() as nursery:
            ws = await connect(nursery, network)  # count of 2 used up
            await ws.aclose()
        assert server.handled == 1
        assert network.faults.statistics().rejected == 2


@bounded
async def test_close_after_handshake(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        network.faults.close_after_handshake(count=1)
        t0 = trio.current_time()
        ws = await connect(nursery, network)  # the handshake completes...
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()  # ...then the link is gone
        assert info.value.reason is not None and info.value.reason.code == 1006
        assert trio.current_time() == t0 and server.handled == 1
        first = network.connections[0]
        assert first.admission == "closed_after_handshake" and first.handshake_completed
        assert first.ending == "dropped"
        ws2 = await connect(nursery, network)
        await ws2.send_message("still")
        assert await ws2.get_message() == "still"


@bounded
async def test_trickle_rate_exact(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        network.faults.trickle(100, Direction.TO_CLIENT)
        t0 = trio.current_time()
        await ws.send_message(b"x" * 1000)
        assert await ws.get_message() == b"x" * 1000
        # 1004-byte frame in 10-byte slices, one every 0.1 s: the last leaves at 10.0 s.
        assert trio.current_time() == pytest.approx(t0 + 10.0, abs=1e-9)
        assert server.received[0][0] == t0  # the other direction is not slowed


@bounded
async def test_run_script_applies_steps_on_time(autojump_clock: trio.testing.MockClock) -> None:
    server = EchoServer()
    async with open_memory_network(server.handle) as network, background() as nursery:
        ws = await connect(nursery, network)
        faults = network.faults
        t0 = trio.current_time()
        steps = [
            FaultStep(at=3.0, action=Faults.heal),
            FaultStep(at=1.0, action=lambda f: f.black_hole(Direction.TO_CLIENT)),
        ]
        nursery.start_soon(faults.run_script, steps)
        got: list[tuple[float, str | bytes]] = []
        for at in (0.5, 1.5, 2.5, 3.5):
            await trio.sleep_until(t0 + at)
            await ws.send_message(str(at))
            with trio.move_on_after(0.25):
                got.append((trio.current_time() - t0, await ws.get_message()))
        assert got == [(0.5, "0.5"), (3.5, "3.5")]
        assert [m for _, m in server.received] == ["0.5", "1.5", "2.5", "3.5"]


@bounded
async def test_heal_clears_everything(autojump_clock: trio.testing.MockClock) -> None:
    faults = Faults()
    faults.black_hole(Direction.TO_SERVER)
    faults.drop_heartbeats(Direction.TO_CLIENT)
    faults.set_latency(1.0)
    faults.trickle(10)
    faults.reject_handshakes(429, count=3)
    stats = faults.statistics()
    assert stats.black_holed == Direction.TO_SERVER
    assert stats.heartbeats_dropped == Direction.TO_CLIENT
    assert (stats.trickle_to_server, stats.trickle_to_client) == (10, 10)
    assert (stats.handshake_fault, stats.handshake_fault_remaining) == ("reject", 3)
    faults.heal()
    stats = faults.statistics()
    assert stats.black_holed == Direction(0) and stats.heartbeats_dropped == Direction(0)
    assert (stats.latency_to_server, stats.latency_to_client) == (0.0, 0.0)
    assert (stats.trickle_to_server, stats.trickle_to_client) == (None, None)
    assert stats.handshake_fault is None


@bounded
async def test_server_death_behind_black_hole_is_invisible(
    autojump_clock: trio.testing.MockClock,
) -> None:
    raw = RawServer()
    async with open_memory_network(raw.handle) as network:
        client, server = await raw_link(network, raw)
        network.faults.black_hole(Direction.TO_CLIENT)
        await server.aclose()  # the server dies; its FIN goes into the black hole
        await client.send_all(encode_frame(OPCODE_TEXT, b"anyone?", mask_key=MASK))
        with trio.move_on_after(60) as scope:
            await client.receive_some()
        assert scope.cancelled_caught  # no EOF, no reset: the client must find out itself
        assert network.connections[0].is_open


@bounded
async def test_faults_shared_by_two_networks(autojump_clock: trio.testing.MockClock) -> None:
    faults = Faults()
    server = EchoServer()
    async with (
        open_memory_network(server.handle, faults=faults) as one,
        open_memory_network(server.handle, faults=faults) as two,
        background() as nursery,
    ):
        ws1, ws2 = await connect(nursery, one), await connect(nursery, two)
        faults.drop()
        for ws in (ws1, ws2):
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
        assert len(faults.connections) == 2 and len(one.connections) == 1
        assert faults.statistics().dropped == 2


@bounded
async def test_misuse_raises_usage_error(autojump_clock: trio.testing.MockClock) -> None:
    faults = Faults()
    with pytest.raises(UsageError):
        faults.close(1006)
    with pytest.raises(UsageError):
        faults.close(1000, "x" * 124)
    with pytest.raises(UsageError):
        faults.set_latency(-1.0)
    with pytest.raises(UsageError):
        faults.trickle(0)
    with pytest.raises(UsageError):
        faults.reject_handshakes(101)
    with pytest.raises(UsageError):
        faults.refuse_handshakes(count=0)
    with pytest.raises(UsageError):
        faults.close_after_handshake(duration=0.0)
    with pytest.raises(UsageError):
        FaultStep(at=-1.0, action=Faults.heal)
    faults.close(4999, "x" * 123)  # the limits themselves are fine
