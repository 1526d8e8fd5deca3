"""The two message buffers of a managed connection.

- :class:`Outbox`: application messages waiting to be written, bounded, with
  an overflow policy; survives reconnects.
- :class:`Inbox`: application messages waiting to be read, bounded (the reader
  waits when it is full); one stream that survives reconnects. While an
  on-connect step runs, it alone reads the inbox (the application's readers
  wait), so an authorization reply cannot be stolen by the application.
  With a :class:`ResumeTracker`, replayed duplicates are dropped on the way
  in and delivered positions recorded on the way out.
"""

from __future__ import annotations

from typing import Any

import trio
from trio.lowlevel import ParkingLot

from trio_heartbeat._client.fifo import Fifo
from trio_heartbeat._core.options import Overflow
from trio_heartbeat._core.resume import ResumeTracker
from trio_heartbeat.errors import SendBufferFull, UsageError

__all__ = ["Inbox", "Outbox", "not_text"]


def not_text(exc: UnicodeEncodeError) -> UsageError:
    """The error for a ``str`` message with no UTF-8 form (a lone surrogate), its
    content left out."""
    return UsageError(f"a text message must be valid Unicode: {exc.reason} at index {exc.start}")


Message = str | bytes


class Outbox:
    """Bounded FIFO of outgoing messages.

    Each message knows how many times it was already written (0 for a new one;
    more for an unconfirmed message put back to be re-sent).
    """

    def __init__(self, capacity: int, overflow: Overflow) -> None:
        self.capacity = capacity
        self.overflow = overflow
        self.items: Fifo[Message] = Fifo()
        # Write counts of the first len(_writes) items, the first item's last
        # (popped from the end in O(1)); the items after them were never written.
        self._writes: list[int] = []
        self.dropped = 0
        self.in_flight = False
        # Parking lots are made by the first task that waits (most never do).
        self._settled: ParkingLot | None = None
        self._space: ParkingLot | None = None

    def __len__(self) -> int:
        return len(self.items)

    def put(self, message: Message) -> int:
        """Append ``message``; return how many old ones were dropped to make room.

        Raises :class:`SendBufferFull` when full under ``Overflow.RAISE``.
        """
        dropped = 0
        if len(self.items) >= self.capacity:
            if self.overflow is Overflow.RAISE:
                raise SendBufferFull(self.capacity)
            self.items.popleft()
            self._pop_writes(1)
            dropped = 1
            self.dropped += 1
        self.items.append(message)
        return dropped

    @property
    def full(self) -> bool:
        return len(self.items) >= self.capacity

    def _pop_writes(self, count: int) -> tuple[int, ...]:
        writes = self._writes
        if not writes:
            return (0,) * count
        return tuple(writes.pop() if writes else 0 for _ in range(count))

    def take(self) -> tuple[Message, int]:
        """Remove the oldest message for writing (must not be empty).

        Returns it and how many times it was already written.
        """
        self.in_flight = True
        message = self.items.popleft()
        if self._space:
            self._space.unpark()
        writes = self._writes
        return message, writes.pop() if writes else 0

    def written(self) -> None:
        """The message last taken was written."""
        self.in_flight = False
        if not self.items and self._settled:
            self._settled.unpark_all()

    def take_batch(self, limit: int) -> tuple[tuple[Message, ...], tuple[int, ...]]:
        """Remove up to ``limit`` of the oldest messages (at least one).

        Returns them and how many times each was already written.
        """
        self.in_flight = True
        count = min(limit, len(self.items))
        batch = tuple(self.items.popleft() for _ in range(count))
        if self._space:
            self._space.unpark_all()
        return batch, self._pop_writes(count)

    def put_back(self, messages: tuple[Message, ...], writes: tuple[int, ...] = ()) -> None:
        """Messages taken but perhaps not delivered: they go out first next time, in order.

        ``writes``: how many times each was already written (default: never).
        May exceed ``capacity``: a returned message is not dropped by the
        overflow check of the put-back itself.
        """
        self.in_flight = False
        self.items.put_front(messages)
        self.look_again()
        if self._writes or any(writes):
            # The put-back messages become the front: their counts go last.
            self._writes.extend(reversed(writes or (0,) * len(messages)))

    async def wait_not_full(self) -> None:
        """Return once there is room for one more message."""
        while len(self.items) >= self.capacity:
            if self._space is None:
                self._space = ParkingLot()
            await self._space.park()

    async def wait_progress(self) -> None:
        """Return once every message was written, or some were put back (a
        write failed), or everything was drained, or :meth:`look_again` was
        called: then look again."""
        if self._settled is None:
            self._settled = ParkingLot()
        await self._settled.park()

    def look_again(self) -> None:
        """Wake :meth:`wait_progress` (the writer stopped, or now waits for room)."""
        if self._settled:
            self._settled.unpark_all()

    async def wait_settled(self) -> None:
        """Return once every message was taken and written."""
        while self.items or self.in_flight:
            if self._settled is None:
                self._settled = ParkingLot()
            await self._settled.park()

    def drain_all(self) -> tuple[Message, ...]:
        """Remove and return everything (for reporting undelivered messages)."""
        items = tuple(self.items)
        self.items.clear()
        self._writes.clear()
        if self._settled:
            self._settled.unpark_all()
        if self._space:
            self._space.unpark_all()
        return items


class Inbox:
    """Bounded FIFO of inbound application messages, with an on-connect gate."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: Fifo[Message] = Fifo()
        # Parking lots are made by the first task that waits (most never do).
        self._readable: ParkingLot | None = None
        self._writable: ParkingLot | None = None
        self._unblocked: ParkingLot | None = None
        self._low_water = capacity // 2
        self.hook_active = False
        self.closed_with: BaseException | None = None
        self.resume: ResumeTracker[Any] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.capacity

    async def put(self, message: Message) -> None:
        """Append ``message``, waiting while the inbox is full (a replayed
        duplicate is dropped at once, see :attr:`resume`)."""
        if self.resume is not None and not self.resume.admit(message):
            return
        while len(self.items) >= self.capacity:
            if self._writable is None:
                self._writable = ParkingLot()
            await self._writable.park()
        self.items.append(message)
        if self._readable:
            self._readable.unpark_all()

    def _pop(self) -> Message:
        message = self.items.popleft()
        if self.resume is not None:
            self.resume.deliver(message)
        # Wake a blocked writer only at the low-water mark: it then refills in
        # one go, instead of the two tasks taking turns for every message.
        if self._writable and len(self.items) <= self._low_water:
            self._writable.unpark_all()
            if self._unblocked:
                self._unblocked.unpark_all()
        return message

    async def wait_not_full(self) -> None:
        """Return once the inbox has room (the reader is no longer held back)."""
        while len(self.items) >= self.capacity:
            if self._unblocked is None:
                self._unblocked = ParkingLot()
            await self._unblocked.park()

    async def get(self) -> Message:
        """Next message for the application; raises ``closed_with`` once drained."""
        await trio.lowlevel.checkpoint_if_cancelled()
        parked = False
        while True:
            if not self.hook_active:
                if self.items:
                    message = self._pop()
                    if not parked:
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return message
                if self.closed_with is not None:
                    raise self.closed_with
            if self._readable is None:
                self._readable = ParkingLot()
            await self._readable.park()
            parked = True

    async def get_for_hook(self) -> Message:
        """Next message for the on-connect step (ignores the gate)."""
        while not self.items:
            if self._readable is None:
                self._readable = ParkingLot()
            await self._readable.park()
        return self._pop()

    def set_hook_active(self, active: bool) -> None:
        self.hook_active = active
        if self._readable:
            self._readable.unpark_all()

    def close(self, error: BaseException) -> None:
        """After the buffered messages, readers get ``error``."""
        self.closed_with = error
        if self._readable:
            self._readable.unpark_all()
