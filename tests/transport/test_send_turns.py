"""Writers of one link take turns in FIFO order (``PumpedLink._send_bytes``), no lock object."""

from __future__ import annotations

import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage

import trio_heartbeat as th
from trio_heartbeat._transport.common import ObservedStream
from trio_heartbeat._transport.direct import DirectLink


async def link_and_peer() -> tuple[DirectLink, trio.abc.Stream]:
    # Lockstep: every send_all waits until the peer reads it, so writers overlap.
    client, server = trio.testing.lockstep_stream_pair()
    return DirectLink(ObservedStream(client), None, th.ConnectionOptions()), server


async def read_messages(stream: trio.abc.Stream, count: int) -> list[bytes]:
    peer = Connection(ConnectionType.SERVER)
    got: list[bytes] = []
    while len(got) < count:
        peer.receive_data(await stream.receive_some(65536))
        got += [bytes(e.data) for e in peer.events() if isinstance(e, BytesMessage)]
    return got


async def test_writers_go_in_the_order_they_came() -> None:
    link, server = await link_and_peer()
    async with trio.open_nursery() as nursery:
        for name in (b"a", b"b", b"c", b"d"):
            nursery.start_soon(link.send, name)
            await trio.testing.wait_all_tasks_blocked()
        assert await read_messages(server, 4) == [b"a", b"b", b"c", b"d"]
    assert link._sending is False


async def test_a_writer_cancelled_while_waiting_writes_nothing() -> None:
    link, server = await link_and_peer()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.send, b"first")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(link.send, b"second")
        gone = trio.CancelScope()

        async def cancelled_writer() -> None:
            with gone:
                await link.send(b"cancelled")

        nursery.start_soon(cancelled_writer)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(link.send, b"third")
        await trio.testing.wait_all_tasks_blocked()
        gone.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert await read_messages(server, 3) == [b"first", b"second", b"third"]
    assert link._sending is False


async def test_a_lone_writer_makes_no_queue() -> None:
    client, server = trio.testing.memory_stream_pair()
    link = DirectLink(ObservedStream(client), None, th.ConnectionOptions())
    for _ in range(3):
        await link.send(b"x")
    assert link._turns is None and link._sending is False
    assert await read_messages(server, 3) == [b"x"] * 3


class SlowStream(trio.abc.Stream):
    """Every write takes 1 s (virtual); records the writes and how many overlapped."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.active = 0
        self.most_at_once = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.active += 1
        self.most_at_once = max(self.most_at_once, self.active)
        self.writes.append(bytes(data))
        await trio.sleep(1)
        self.active -= 1

    async def wait_send_all_might_not_block(self) -> None:
        raise NotImplementedError

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError

    async def aclose(self) -> None:
        pass


async def test_the_turn_passes_to_the_waiter_not_to_whoever_comes_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A writer that writes again at once (no checkpoint between) queues behind the waiter."""
    stream = SlowStream()
    link = DirectLink(ObservedStream(stream), None, th.ConnectionOptions())

    async def twice() -> None:
        await link._send_bytes(b"a1")
        await link._send_bytes(b"a2")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(twice)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(link._send_bytes, b"b")
    assert stream.writes == [b"a1", b"b", b"a2"]
    assert stream.most_at_once == 1
    assert trio.current_time() == 3.0


async def test_a_heartbeat_on_a_plain_socket_is_written_without_a_checkpoint() -> None:
    """A ping costs one write and no trip through the run queue (the keeper's next
    sleep is its checkpoint); while another write is under way it waits its turn."""
    a, b = trio.socket.socketpair()
    with a, b:
        link = DirectLink(ObservedStream(trio.SocketStream(a)), None, th.ConnectionOptions())
        peer = trio.SocketStream(b)
        with trio.testing.assert_no_checkpoints():
            await link.send_ping(b"hb-1", 1.0)
        peer_ws = Connection(ConnectionType.SERVER)
        peer_ws.receive_data(await peer.receive_some(100))
        assert [bytes(e.payload) for e in peer_ws.events()] == [b"hb-1"]
        link._sending = True  # another writer's turn
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.send_ping, b"hb-2", 1.0)
            await trio.testing.wait_all_tasks_blocked()
            assert link.stream.bytes_out == 10  # one ping frame: the second waits its turn
            link._sending = False
            assert link._turns is not None
            link._turns.unpark()
        peer_ws.receive_data(await peer.receive_some(100))
        assert [bytes(e.payload) for e in peer_ws.events()] == [b"hb-2"]
