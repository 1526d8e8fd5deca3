"""What the engines driven by the connection's own receiving task share.

Both the direct link (our frame codec) and the websockets link have no task of their own:
the pump task reads, the engine parses, decoded messages wait in a list. This
is the common part: writing in FIFO order (a flag, and a parking lot made only
when two writers ever meet), reading with the stream's errors
turned into :class:`ConnectionLost`, the ready list, abort, and the testing
aid that stops answering pings (:meth:`PumpedLink.stop_pongs_after`).
"""

from __future__ import annotations

import trio

from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._transport.common import ObservedStream
from trio_heartbeat.errors import ConnectionLost

__all__ = ["PumpedLink"]

Message = str | bytes


class PumpedLink:
    """The base of a link driven by its reader: only one task may receive."""

    # Class defaults: an instance gets its own only once it answers a ping.
    _pongs_sent = 0
    _pong_limit: int | None = None

    def __init__(self, stream: ObservedStream, read_size: int) -> None:
        self.stream = stream
        self._read_size = read_size
        # Whether a write is under way, and the writers waiting for their turn
        # (made at the first wait: most links never have two writers at once).
        self._sending = False
        self._turns: trio.lowlevel.ParkingLot | None = None
        # Decoded messages not yet returned: a list and a read position (an
        # empty deque would cost 0.6 KiB per connection).
        self._ready: list[Message] = []
        self._ready_pos = 0
        self._closed: ConnectionLost | None = None

    def _pop_ready(self) -> Message | None:
        """The next decoded message, None when there is none."""
        ready = self._ready
        if not ready:
            return None
        message = ready[self._ready_pos]
        self._ready_pos += 1
        if self._ready_pos == len(ready):
            ready.clear()
            self._ready_pos = 0
        return message

    async def _send_bytes(self, data: bytes) -> None:
        """Write ``data`` whole, in FIFO order with other senders.

        The turn passes straight from one writer to the oldest waiting one; a
        waiter cancelled before its turn leaves the queue without writing.
        """
        if self._sending:
            await self._wait_turn()
        else:
            self._sending = True  # send_all checkpoints anyway: no extra yield
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = self._closed or ConnectionLost(
                CloseCode.ABNORMAL_CLOSURE, f"stream closed: {exc}"
            )
            raise self._closed from None
        finally:
            turns = self._turns
            if turns:
                turns.unpark()  # the next writer's turn: _sending stays True
            else:
                self._sending = False

    async def _send_control(self, data: bytes) -> None:
        """Write a heartbeat or pong frame: at once and without a checkpoint
        when the socket takes it whole and no other write is under way (the
        caller checkpoints soon after: its next sleep or read); else in turn."""
        if not self._sending and self._closed is None:
            try:
                sent = self.stream.write_now(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._closed = ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"stream closed: {exc}")
                raise self._closed from None
            if sent == len(data):
                return
            data = data[sent:]  # the rest goes next: nothing yielded in between
        await self._send_bytes(data)

    async def _wait_turn(self) -> None:
        """Wait until the writer before us hands over the turn."""
        if self._turns is None:
            self._turns = trio.lowlevel.ParkingLot()
        await self._turns.park()

    async def _read(self) -> bytes | bytearray:
        try:
            return await self.stream.receive_some(self._read_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = ConnectionLost(CloseCode.ABNORMAL_CLOSURE, f"stream closed: {exc}")
            raise self._closed from None

    def stop_pongs_after(self, count: int) -> None:
        """Answer ``count`` pings on this link in all (those answered already
        included), then none: a testing aid for servers' heartbeats."""
        self._pong_limit = count

    def _answer_ping(self) -> bool:
        """Whether to answer the ping that just arrived (counted if so)."""
        if self._pong_limit is not None and self._pongs_sent >= self._pong_limit:
            return False
        self._pongs_sent += 1
        return True

    async def abort(self) -> None:
        """Drop the link at once (no close frame): for dead peers."""
        self._closed = self._closed or ConnectionLost(CloseCode.ABNORMAL_CLOSURE, "aborted")
        await self.stream.abort()
