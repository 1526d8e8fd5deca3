"""The relay: copies bytes between a client-side and a server-side stream,
consulting a :class:`Faults` switchboard for every unit it reads.

One :class:`Link` per connection, used by both the in-memory network and the
loopback proxy. Each direction is a pump made of a reader task (reads chunks,
splits them into units with :class:`StreamSplitter`, drops the units a fault
swallows, stamps the rest with their delivery time) and a writer task (waits for
that time, writes, obeys a trickle rate). The writer tracks whether it stands at
a unit boundary, so an injected close frame never lands inside another frame.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Literal

import attrs
import trio

from trio_heartbeat.testing._faults import Faults
from trio_heartbeat.testing._frames import (
    OPCODE_CLOSE,
    Piece,
    StreamSplitter,
    close_payload,
    encode_frame,
)
from trio_heartbeat.testing._frames import http_reject_response as _http_reject_response
from trio_heartbeat.testing._verdicts import ConnectionStats, Direction, Kill, UnitFate, Verdict

__all__ = ["Link", "reset_socket_stream"]

_RECEIVE_SIZE = 65536
_REQUEST_HEAD_LIMIT = 65536
_REQUEST_HEAD_TIMEOUT = 10.0
_CLOSE_SEND_TIMEOUT = 5.0
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


def _reverse(direction: Direction) -> Direction:
    return Direction.TO_CLIENT if direction is Direction.TO_SERVER else Direction.TO_SERVER


def reset_socket_stream(stream: trio.abc.Stream) -> None:
    """Make the next close of a ``trio.SocketStream`` send a TCP reset (SO_LINGER
    {1, 0}); other streams are left alone."""
    if isinstance(stream, trio.SocketStream):
        with contextlib.suppress(OSError):  # already closed: nothing to reset
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@attrs.define
class _Record:
    id: int
    opened_at: float
    admission: Literal["relayed", "refused", "rejected", "closed_after_handshake"] = "relayed"
    ending: (
        Literal["eof", "error", "closed", "dropped", "aborted", "refused", "rejected", "cancelled"]
        | None
    ) = None
    closed_at: float | None = None
    delivered: dict[Direction, int] = attrs.Factory(
        lambda: {Direction.TO_SERVER: 0, Direction.TO_CLIENT: 0}
    )
    black_holed: dict[Direction, int] = attrs.Factory(
        lambda: {Direction.TO_SERVER: 0, Direction.TO_CLIENT: 0}
    )
    heartbeats: dict[Direction, int] = attrs.Factory(
        lambda: {Direction.TO_SERVER: 0, Direction.TO_CLIENT: 0}
    )
    handshake_completed: bool = False
    close_frame_sent: bool = False
    upstream_error: str | None = None


@attrs.frozen
class _Item:
    due: float
    data: bytes
    unit_last: bool
    head_end: bool
    eof: bool = False


class _Pump:
    """One direction of a link: reader task + writer task joined by a queue."""

    def __init__(
        self, link: Link, direction: Direction, source: trio.abc.Stream, dest: trio.abc.Stream
    ) -> None:
        self._link = link
        self._faults = link.faults
        self.direction = direction
        self._source = source
        self._dest = dest
        self._splitter = StreamSplitter()
        self._send, self._receive = trio.open_memory_channel[_Item](math.inf)
        self._fate: UnitFate = "deliver"
        self._trickle_next = -math.inf
        self._sinking = False  # destination gone behind a black hole: swallow all
        self.at_boundary = True
        self.head_delivered = False

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            nursery.start_soon(self._write)

    # ---------------------------------------------------------------- reader

    async def _read(self) -> None:
        async with self._send:
            while True:
                try:
                    data = await self._source.receive_some(_RECEIVE_SIZE)
                except _STREAM_ERRORS:
                    if self._faults._eof_swallowed(self.direction):
                        return  # the reset travels into a black hole: nobody hears it
                    self._link.fail()
                    return
                now = trio.current_time()
                if not data:
                    for piece in self._splitter.flush():
                        self._route(piece, now)
                    if not self._faults._eof_swallowed(self.direction) and not self._sinking:
                        due = now + self._faults._latency(self.direction)
                        self._send.send_nowait(_Item(due, b"", False, False, eof=True))
                    return
                for piece in self._splitter.feed(bytes(data)):
                    self._route(piece, now)

    def _route(self, piece: Piece, now: float) -> None:
        if self._sinking:
            self._fate = "black_hole"
        elif piece.first:
            self._fate = self._faults._unit_fate(self.direction, piece)
        if self._fate != "deliver":
            self._link.count_dropped(self.direction, self._fate, len(piece.data), piece.first)
            return
        due = now + self._faults._latency(self.direction)
        head_end = piece.kind == "http" and piece.last
        self._send.send_nowait(_Item(due, piece.data, piece.last, head_end))

    # ---------------------------------------------------------------- writer

    async def _write(self) -> None:
        async with self._receive:
            async for item in self._receive:
                await trio.sleep_until(item.due)
                try:
                    if item.eof:
                        if isinstance(self._dest, trio.abc.HalfCloseableStream):
                            await self._dest.send_eof()
                        return
                    await self._deliver(item)
                except _STREAM_ERRORS:
                    if self._faults._eof_swallowed(_reverse(self.direction)):
                        # The destination died, but the way back is a black hole:
                        # the source must not learn it. Keep swallowing its bytes.
                        self._sinking = True
                        return
                    self._link.fail()
                    return

    async def _deliver(self, item: _Item) -> None:
        data, pos = item.data, 0
        while pos < len(data):
            rate = self._faults._trickle(self.direction)
            if rate is None:
                chunk = data[pos:]
            else:
                start = max(trio.current_time(), self._trickle_next)
                await trio.sleep_until(start)
                chunk = data[pos : pos + max(1, rate // 10)]
                self._trickle_next = start + len(chunk) / rate
            self.at_boundary = False
            await self._dest.send_all(chunk)
            pos += len(chunk)
            self._link.count_delivered(self.direction, len(chunk))
        self.at_boundary = item.unit_last
        if item.head_end:
            self.head_delivered = True
            self._link.head_delivered(self.direction)


class Link:
    """One relayed connection: admission, upstream connect, two pumps, kill.

    ``connect_upstream`` opens the server-side stream; it is only called for
    connections the switchboard lets through. ``on_abort`` is called when the
    :meth:`Faults.abort` fault hits this link, before its streams are closed (the
    in-memory network resets its user-side streams there).
    """

    def __init__(
        self,
        faults: Faults,
        client: trio.abc.Stream,
        connect_upstream: Callable[[], Awaitable[trio.abc.Stream]],
        *,
        on_abort: Callable[[], None] = lambda: None,
    ) -> None:
        self.faults = faults
        self._client = client
        self._server: trio.abc.Stream | None = None
        self._connect_upstream = connect_upstream
        self._on_abort = on_abort
        self._kill: Kill | None = None
        self._failed = False
        self._work_scope = trio.CancelScope()
        self._to_client: _Pump | None = None
        self._record = _Record(id=0, opened_at=trio.current_time())
        self._record.id = faults._register(self)

    @property
    def is_open(self) -> bool:
        """True until both sides have been closed."""
        return self._record.closed_at is None

    def snapshot(self) -> ConnectionStats:
        """A frozen copy of this connection's counters."""
        r = self._record
        to_server, to_client = Direction.TO_SERVER, Direction.TO_CLIENT
        return ConnectionStats(
            id=r.id,
            admission=r.admission,
            is_open=r.closed_at is None,
            ending=r.ending,
            opened_at=r.opened_at,
            closed_at=r.closed_at,
            bytes_to_server=r.delivered[to_server],
            bytes_to_client=r.delivered[to_client],
            bytes_black_holed_to_server=r.black_holed[to_server],
            bytes_black_holed_to_client=r.black_holed[to_client],
            heartbeats_dropped_to_server=r.heartbeats[to_server],
            heartbeats_dropped_to_client=r.heartbeats[to_client],
            handshake_completed=r.handshake_completed,
            close_frame_sent=r.close_frame_sent,
            upstream_error=r.upstream_error,
        )

    def request_kill(self, kill: Kill) -> None:
        """Stop relaying and end the link the way ``kill`` says (first one wins)."""
        if self._kill is None and self.is_open:
            self._kill = kill
            self._work_scope.cancel()

    def fail(self) -> None:
        """A side broke: stop relaying and close both sides."""
        self._failed = True
        self._work_scope.cancel()

    def count_delivered(self, direction: Direction, nbytes: int) -> None:
        self._record.delivered[direction] += nbytes
        self.faults._notify()

    def count_dropped(self, direction: Direction, fate: UnitFate, nbytes: int, first: bool) -> None:
        if fate == "black_hole":
            self._record.black_holed[direction] += nbytes
        elif first:
            self._record.heartbeats[direction] += 1
        self.faults._count_dropped(fate, nbytes, first)

    def head_delivered(self, direction: Direction) -> None:
        if direction is Direction.TO_CLIENT:
            self._record.handshake_completed = True
            if self._record.admission == "closed_after_handshake":
                self.request_kill(Kill(kind="drop"))
        self.faults._notify()

    async def run(self) -> None:
        """Relay until both sides are done, a side breaks or a fault kills the link.
        Both streams are closed on return, including on cancellation."""
        record = self._record
        try:
            verdict = self.faults._admit()
            record.admission = verdict.admission
            if verdict.admission == "refused":
                record.ending = "refused"
                return
            with self._work_scope:
                if verdict.admission == "rejected":
                    await self._reject(verdict)
                    record.ending = "rejected"
                    return
                try:
                    self._server = await self._connect_upstream()
                except OSError as exc:
                    record.upstream_error = f"{type(exc).__name__}: {exc}"
                    record.ending = "error"
                    return
                await self._relay(self._server)
            if self._kill is not None:
                await self._execute_kill(self._kill)
            elif self._failed:
                record.ending = "error"
            elif record.ending is None and not self._work_scope.cancelled_caught:
                record.ending = "eof"
        finally:
            if record.ending is None:
                record.ending = "cancelled"
            # Shielded: under an outer cancel, aclose_forcefully closes its resource
            # and then re-raises Cancelled, which would skip the second close.
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._client)
                if self._server is not None:
                    await trio.aclose_forcefully(self._server)
            record.closed_at = trio.current_time()
            self.faults._notify()

    async def _relay(self, server: trio.abc.Stream) -> None:
        to_server = _Pump(self, Direction.TO_SERVER, self._client, server)
        self._to_client = to_client = _Pump(self, Direction.TO_CLIENT, server, self._client)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(to_server.run)
            nursery.start_soon(to_client.run)

    async def _reject(self, verdict: Verdict) -> None:
        head = bytearray()
        with trio.move_on_after(_REQUEST_HEAD_TIMEOUT):
            while b"\r\n\r\n" not in head and len(head) < _REQUEST_HEAD_LIMIT:
                try:
                    data = await self._client.receive_some(_RECEIVE_SIZE)
                except _STREAM_ERRORS:
                    return
                if not data:
                    return
                head += data
        response = _http_reject_response(verdict.status, verdict.retry_after)
        try:
            await self._client.send_all(response)
        except _STREAM_ERRORS:
            return
        self._record.delivered[Direction.TO_CLIENT] += len(response)

    async def _execute_kill(self, kill: Kill) -> None:
        record = self._record
        if kill.kind == "abort":
            record.ending = "aborted"
            self._on_abort()
            reset_socket_stream(self._client)
            if self._server is not None:
                reset_socket_stream(self._server)
            self.faults._count_kill("abort")
            return
        if kill.kind == "close" and await self._send_close_frame(kill):
            record.ending = "closed"
            self.faults._count_kill("close_frame")
            if self._server is not None:
                await trio.aclose_forcefully(self._server)
            await self._drain_client(kill.grace_delay)
            return
        record.ending = "dropped"
        self.faults._count_kill("drop")

    async def _send_close_frame(self, kill: Kill) -> bool:
        pump = self._to_client
        if pump is None or not (pump.head_delivered and pump.at_boundary):
            return False
        frame = encode_frame(OPCODE_CLOSE, close_payload(kill.code, kill.reason))
        with trio.move_on_after(_CLOSE_SEND_TIMEOUT) as scope:
            try:
                await self._client.send_all(frame)
            except _STREAM_ERRORS:
                return False
        if scope.cancelled_caught:
            return False
        self._record.close_frame_sent = True
        self._record.delivered[Direction.TO_CLIENT] += len(frame)
        return True

    async def _drain_client(self, grace_delay: float) -> None:
        with trio.move_on_after(grace_delay):
            while True:
                try:
                    data = await self._client.receive_some(_RECEIVE_SIZE)
                except _STREAM_ERRORS:
                    return
                if not data:
                    return
