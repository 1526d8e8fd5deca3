"""Which written messages the peer has provably read (pure).

A WebSocket has no acknowledgements, but a peer processes frames in order: a
heartbeat reply (pong, or an echoed application heartbeat) to a heartbeat
written after message ``m`` proves the peer read ``m``. Messages written since
the last such proof are *unconfirmed*: when the link dies they may or may not
have arrived, and the connection reports them (or re-sends them, if asked).
"""

from __future__ import annotations

from collections import deque

__all__ = ["DeliveryLedger"]

Message = str | bytes


class DeliveryLedger:
    """Unconfirmed written messages, at most ``capacity`` of them.

    When more than ``capacity`` are unconfirmed the oldest leave the window and
    count in ``overflowed`` (they are then presumed delivered).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._unconfirmed: deque[tuple[int, Message]] = deque()
        self._heartbeats: deque[tuple[object, int]] = deque()
        self._seq = 0
        self.overflowed = 0

    def written(self, message: Message) -> None:
        """``message`` was written to the link."""
        self._seq += 1
        self._unconfirmed.append((self._seq, message))
        if len(self._unconfirmed) > self.capacity:
            self._unconfirmed.popleft()
            self.overflowed += 1

    def heartbeat_written(self, token: object) -> None:
        """A heartbeat that expects a reply is (about to be) written."""
        self._heartbeats.append((token, self._seq))

    def reply(self, token: object = None) -> None:
        """The reply to heartbeat ``token`` (None: the oldest) arrived."""
        confirmed = None
        if token is not None and all(t != token for t, _ in self._heartbeats):
            return
        while self._heartbeats:
            hb_token, seq = self._heartbeats.popleft()
            confirmed = seq
            if token is None or hb_token == token:
                break
        if confirmed is not None:
            while self._unconfirmed and self._unconfirmed[0][0] <= confirmed:
                self._unconfirmed.popleft()

    def take_unconfirmed(self) -> tuple[Message, ...]:
        """Remove and return the unconfirmed messages, oldest first."""
        messages = tuple(message for _, message in self._unconfirmed)
        self._unconfirmed.clear()
        self._heartbeats.clear()
        return messages
