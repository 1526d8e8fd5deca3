"""The state changes of one managed connection that nobody has read yet, bounded.

Until someone asks for :attr:`StateHistory.channel` they wait in a plain list
(an idle connection nobody watches stays small); from then on in a trio memory
channel, which the application reads. Either way at most ``limit`` wait: an
application that never reads ``state_changes`` must not keep every failed
attempt of a week-long outage. What does not fit is counted, never lost
silently: the first change kept after the gap is preceded by a
:class:`StateChangesDropped` saying how many are missing there.
"""

from __future__ import annotations

import math

import trio

from trio_heartbeat._core.events import (
    Closed,
    Disconnected,
    GaveUp,
    StateChange,
    StateChangesDropped,
)

__all__ = ["StateHistory"]


class StateHistory:
    """State changes in order, at most ``limit`` unread (see the module docstring).

    Kept past the limit if need be (with the report of a gap before them):
    the last ones, ``GaveUp`` and ``Closed``, and a ``Disconnected`` that hands
    back messages (``unconfirmed`` or ``abandoned``: it is the only report of
    them, and it comes at most once per write of a message). Closing the
    reading end stops the recording.
    """

    __slots__ = ("_dropped", "_early", "_limit", "_receive", "_send", "_stopped")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._early: list[StateChange] = []
        self._send: trio.MemorySendChannel[StateChange] | None = None
        self._receive: trio.MemoryReceiveChannel[StateChange] | None = None
        self._dropped = 0  # not kept since the last one that was
        self._stopped = False

    @property
    def channel(self) -> trio.MemoryReceiveChannel[StateChange]:
        """The reading end (made at the first call, with what waited so far)."""
        if self._receive is None:
            self._send, self._receive = trio.open_memory_channel[StateChange](math.inf)
            for event in self._early:
                self._send.send_nowait(event)
            self._early.clear()
        return self._receive

    def unread(self) -> int:
        """How many changes wait to be read."""
        if self._send is None:
            return len(self._early)
        return self._send.statistics().current_buffer_used

    def record(self, event: StateChange) -> None:
        """Keep ``event`` if it fits (a report of a gap before it takes a place too)."""
        if self._stopped:
            return
        if not _always_kept(event) and self.unread() + (2 if self._dropped else 1) > self._limit:
            self._dropped += 1
            return
        if self._dropped:
            self._put(StateChangesDropped(self._dropped))
            self._dropped = 0
        self._put(event)

    def close(self) -> None:
        """No more changes: a reader's ``async for`` ends after the last one."""
        self.channel  # noqa: B018 - a late reader still gets what was kept
        assert self._send is not None
        self._send.close()
        self._stopped = True

    def _put(self, event: StateChange) -> None:
        if self._send is None:
            self._early.append(event)
            return
        try:
            self._send.send_nowait(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._stopped = True  # the application closed its end: nobody will read


def _always_kept(event: StateChange) -> bool:
    """The last changes, and those that hand messages back."""
    if isinstance(event, Disconnected):
        return bool(event.unconfirmed or event.abandoned)
    return isinstance(event, GaveUp | Closed)
