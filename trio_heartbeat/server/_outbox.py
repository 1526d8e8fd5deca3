"""One client's outgoing messages: a bounded FIFO queue and the writer task that drains it.

Every send to a client -- ``client.send()``, ``server.send()``, ``broadcast()`` --
only puts the message in that client's queue; the client's own writer task
writes it. So a slow consumer fills its own queue and never delays anybody
else: ``broadcast()`` does not wait for any client (a full queue is handled by
the server's :class:`~trio_heartbeat.server._config.FullQueue` policy), and
``send()`` waits only for room in the one queue it writes to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

__all__ = ["Outbox"]

Message = str | bytes


class Outbox:
    """A bounded queue of ``capacity`` messages, written in order by :meth:`run`."""

    def __init__(self, capacity: int) -> None:
        self._send, self._receive = trio.open_memory_channel[Message](capacity)
        self._in_flight = False
        self._discarded = False
        self.unsent = 0  # messages that will never be written (see discard())
        self.drained = trio.Event()  # set once run() has written everything it will

    def put_nowait(self, message: Message) -> bool:
        """Queue ``message``; False if the queue is full.

        Raises trio.ClosedResourceError / BrokenResourceError once closed.
        """
        try:
            self._send.send_nowait(message)
        except trio.WouldBlock:
            return False
        return True

    async def put(self, message: Message) -> None:
        """Queue ``message``, waiting for room while the queue is full.

        Raises trio.ClosedResourceError / BrokenResourceError once closed
        (also if it closes while waiting).
        """
        await self._send.send(message)

    def finish(self) -> None:
        """Accept nothing more; :meth:`run` ends after writing what is queued."""
        self._send.close()

    def discard(self) -> None:
        """Close for good: what is still queued is never written. ``unsent``
        counts those, plus a message whose write was interrupted or failed."""
        if self._discarded:
            return
        self._discarded = True
        self.unsent += self._receive.statistics().current_buffer_used
        self._send.close()
        self._receive.close()

    async def run(self, write: Callable[[Message], Awaitable[bool]]) -> None:
        """Write queued messages in order with ``write(message)`` until the queue
        is finished or ``write`` returns False (the connection is gone)."""
        try:
            while True:
                try:
                    message = await self._receive.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return
                self._in_flight = True
                if not await write(message):
                    return
                self._in_flight = False
        finally:
            self.unsent += int(self._in_flight)
            self._in_flight = False
            self.drained.set()
