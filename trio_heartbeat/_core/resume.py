"""Resume a numbered stream where it left off (pure: no I/O, no clock).

Feeds that number their messages (sequence numbers, offsets, event ids)
replay from a position after a reconnect. :class:`Resume` says how to read
that position from an inbound application message; a :class:`ResumeTracker`
(one per managed connection, across all its links) then

- remembers the last position *delivered* to the application (returned by
  ``receive()`` or iteration, or read by the on-connect step): that is what
  the on-connect step of the next link asks the server to resume from;
- drops an inbound message whose position is at or before the last one
  already accepted for delivery (a replayed duplicate), and counts it.

Positions must increase along the stream (any values ordered by ``<=``: ints,
``(epoch, offset)`` tuples...). A message without a position (the extractor
returns None) is always delivered; so is a message whose extractor raised
(counted in :attr:`ResumeTracker.unreadable`, never dropped silently).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat.errors import UsageError

__all__ = ["Position", "Resume", "ResumeTracker"]

Message = str | bytes


class Position(Protocol):
    """A value ordered by ``<=`` (int, float, str, tuples of those...)."""

    def __le__(self, other: Any, /) -> bool: ...


P = TypeVar("P", bound=Position)


@attrs.frozen(kw_only=True)
class Resume(Generic[P]):
    """How a managed connection resumes a numbered stream.

    - ``position_of(message)``: the position of an inbound application
      message, or None for a message without one. Called once per inbound
      message (in the connection's receiving task: keep it cheap) and once
      when the message is delivered.
    - ``start``: the position already processed before this connection
      (persisted by the application across restarts), or None.
    """

    position_of: Callable[[Message], P | None] = attrs.field(validator=v.callable_value)
    start: P | None = None


class ResumeTracker(Generic[P]):
    """Delivered and accepted positions of one stream, and what was dropped."""

    __slots__ = ("_position_of", "accepted", "delivered", "duplicates_dropped", "unreadable")

    def __init__(self, resume: Resume[P]) -> None:
        """Raises :class:`UsageError` if ``resume`` is not a :class:`Resume`."""
        if not isinstance(resume, Resume):
            raise UsageError(f"resume must be a Resume, got {type(resume).__name__}")
        self._position_of = resume.position_of
        #: The last position delivered to the application (None: none yet).
        self.delivered: P | None = resume.start
        #: The last position accepted for delivery (queued); at least ``delivered``.
        self.accepted: P | None = resume.start
        #: Inbound messages dropped as replays of an accepted position.
        self.duplicates_dropped = 0
        #: Messages whose ``position_of`` raised (delivered, never dropped).
        self.unreadable = 0

    def _read(self, message: Message) -> P | None:
        try:
            return self._position_of(message)
        except Exception:
            return None

    def admit(self, message: Message) -> bool:
        """An inbound message: True to queue it, False to drop it as a duplicate."""
        try:
            position = self._position_of(message)
        except Exception:
            self.unreadable += 1
            return True
        if position is None:
            return True
        accepted = self.accepted
        if accepted is not None and position <= accepted:
            self.duplicates_dropped += 1
            return False
        self.accepted = position
        return True

    def deliver(self, message: Message) -> None:
        """``message`` (admitted earlier) was handed to the application."""
        position = self._read(message)
        if position is not None:
            self.delivered = position
