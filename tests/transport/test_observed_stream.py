"""ObservedStream's short way over a plain TCP socket (os.write / os.read between
trio's checkpoint halves), on real socket pairs."""

from __future__ import annotations

import os
import socket as stdlib_socket
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from trio_heartbeat._transport.observed import ObservedStream

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the short way is POSIX only")


_OPEN: list[stdlib_socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def trio_socket_pair() -> tuple[trio.socket.SocketType, trio.socket.SocketType]:
    """A connected pair, closed after the test."""
    a, b = stdlib_socket.socketpair()
    _OPEN.extend((a, b))
    return trio.socket.from_stdlib_socket(a), trio.socket.from_stdlib_socket(b)


def socket_pair() -> tuple[ObservedStream, trio.SocketStream]:
    a, b = trio_socket_pair()
    return ObservedStream(trio.SocketStream(a)), trio.SocketStream(b)


async def test_the_short_way_is_taken_for_a_plain_socket_only() -> None:
    ours, _peer = socket_pair()
    assert ours._socket is not None
    left, _right = trio.testing.memory_stream_pair()
    assert ObservedStream(left)._socket is None


async def test_bytes_go_both_ways_and_are_counted() -> None:
    ours, peer = socket_pair()
    before = ours.last_receive
    await ours.send_all(b"hello")
    assert await peer.receive_some(100) == b"hello"
    await peer.send_all(b"world!")
    await trio.sleep(0.001)
    assert await ours.receive_some(100) == b"world!"
    assert (ours.bytes_out, ours.bytes_in) == (5, 6)
    assert ours.last_receive > before


async def test_send_and_receive_are_checkpoints_even_when_they_need_not_wait() -> None:
    ours, peer = socket_pair()
    await peer.send_all(b"x")
    with trio.testing.assert_checkpoints():
        await ours.send_all(b"y")
    with trio.testing.assert_checkpoints():
        assert await ours.receive_some(10) == b"x"


async def test_a_cancelled_send_writes_nothing() -> None:
    ours, peer = socket_pair()
    with trio.CancelScope() as scope:
        scope.cancel()
        await ours.send_all(b"never")
    assert ours.bytes_out == 0
    with pytest.raises(BlockingIOError):
        peer.socket._sock.recv(10)  # type: ignore[attr-defined]


async def test_write_now_takes_no_checkpoint_and_stops_at_a_full_buffer() -> None:
    ours, _peer = socket_pair()
    chunk = b"z" * 65536
    total = 0
    with trio.testing.assert_no_checkpoints():
        for _ in range(1000):  # bounded: a socket buffer is far below 64 MiB
            sent = ours.write_now(chunk)
            total += sent
            if sent < len(chunk):
                break
    assert 0 < total < 1000 * len(chunk)
    assert ours.write_now(b"more") == 0  # full: nothing written, no error
    assert ours.bytes_out == total


async def test_a_large_send_finishes_the_long_way_in_order() -> None:
    ours, peer = socket_pair()
    data = bytes(range(256)) * 32768  # 8 MiB: far more than a socket buffer
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(data):
            received.extend(await peer.receive_some(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await ours.send_all(data)
    assert bytes(received) == data
    assert ours.bytes_out == len(data)


async def test_two_writers_at_once_are_refused() -> None:
    ours, _peer = socket_pair()
    data = b"w" * (8 << 20)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ours.send_all, data)  # blocks: nobody reads
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await ours.send_all(b"interleaved")
        assert ours.write_now(b"interleaved") == 0
        nursery.cancel_scope.cancel()


async def test_two_readers_at_once_are_refused() -> None:
    ours, _peer = socket_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ours.receive_some, 10)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await ours.receive_some(10)
        nursery.cancel_scope.cancel()


async def test_an_abort_wakes_the_waiting_reader_with_closed() -> None:
    ours, _peer = socket_pair()
    failures: list[BaseException] = []

    async def reader() -> None:
        try:
            await ours.receive_some(10)
        except trio.ClosedResourceError as exc:
            failures.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        await ours.abort()
    assert len(failures) == 1
    assert ours.closed_event.is_set()


async def test_end_of_file_and_a_reset_peer() -> None:
    ours, peer = socket_pair()
    await peer.aclose()
    assert await ours.receive_some(10) == b""
    assert ours.closed_event.is_set()

    ours, peer = socket_pair()
    linger = stdlib_socket.SO_LINGER
    peer.socket.setsockopt(stdlib_socket.SOL_SOCKET, linger, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    await ours.send_all(b"unread")  # unread data + linger 0: the close resets
    await peer.aclose()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(100):  # bounded: the reset shows within a few writes
            await ours.send_all(b"x" * 65536)
    assert ours.closed_event.is_set()


async def test_a_closed_streams_old_descriptor_is_never_written() -> None:
    ours, _peer = socket_pair()
    old_fd = ours._socket.fileno() if ours._socket is not None else -1
    await ours.abort()
    # The next sockets may well get the old number: it must stay untouched.
    _a, b = trio_socket_pair()
    with pytest.raises(trio.ClosedResourceError):
        ours.write_now(b"stray")
    with pytest.raises(trio.ClosedResourceError):
        await ours.send_all(b"stray")
    with pytest.raises(trio.ClosedResourceError):
        await ours.receive_some(10)
    assert old_fd >= 0
    with pytest.raises(BlockingIOError):
        b._sock.recv(10)  # type: ignore[attr-defined]


async def test_a_waiting_reader_keeps_no_exception_alive() -> None:
    """An idle connection waits in receive_some; the would-block error that sent it
    there must not stay alive (with its traceback) for as long as it waits."""
    import gc

    ours, peer = socket_pair()
    got: list[bytes | bytearray] = []

    async def read() -> None:
        got.append(await ours.receive_some(10))

    def would_block_errors() -> set[int]:
        gc.collect()
        return {id(o) for o in gc.get_objects() if isinstance(o, BlockingIOError)}

    before = would_block_errors()  # whatever other code left behind is not ours
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert not would_block_errors() - before
        await peer.send_all(b"late")
    assert got == [b"late"]
