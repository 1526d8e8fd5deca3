"""Which written messages the peer has provably read (pure).

A WebSocket has no acknowledgements, but a peer processes frames in order: a
heartbeat reply (pong, or an echoed application heartbeat) to a heartbeat
written after message ``m`` proves the peer read ``m``. Messages written since
the last such proof are *unconfirmed*: when the link dies they may or may not
have arrived, and the connection reports them (or re-sends them, if asked).
"""

from __future__ import annotations

__all__ = ["DeliveryLedger"]

Message = str | bytes


class DeliveryLedger:
    """Unconfirmed written messages, at most ``capacity`` of them.

    When more than ``capacity`` are unconfirmed the oldest leave the window and
    count in ``overflowed`` (they are then presumed delivered).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # Lists, not deques: they stay short, and an empty deque costs 0.6 KiB
        # per connection.
        self._unconfirmed: list[tuple[int, Message]] = []
        self._heartbeats: list[tuple[object, int]] = []
        self._seq = 0
        self.overflowed = 0

    def written(self, message: Message) -> None:
        """``message`` was written to the link."""
        self._seq += 1
        self._unconfirmed.append((self._seq, message))
        if len(self._unconfirmed) > self.capacity:
            del self._unconfirmed[0]
            self.overflowed += 1

    def heartbeat_written(self, token: object) -> None:
        """A heartbeat that expects a reply is (about to be) written."""
        self._heartbeats.append((token, self._seq))

    def reply(self, token: object = None) -> None:
        """The reply to heartbeat ``token`` (None: the oldest) arrived."""
        beats = self._heartbeats
        if not beats:
            return
        if token is None:
            upto = 0
        else:
            for upto, (hb_token, _) in enumerate(beats):  # noqa: B007
                if hb_token == token:
                    break
            else:
                return
        confirmed = beats[upto][1]
        del beats[: upto + 1]
        done = 0
        for done, (seq, _) in enumerate(self._unconfirmed):  # noqa: B007
            if seq > confirmed:
                break
        else:
            done = len(self._unconfirmed)
        del self._unconfirmed[:done]

    def take_unconfirmed(self) -> tuple[Message, ...]:
        """Remove and return the unconfirmed messages, oldest first."""
        messages = tuple(message for _, message in self._unconfirmed)
        self._unconfirmed.clear()
        self._heartbeats.clear()
        return messages
