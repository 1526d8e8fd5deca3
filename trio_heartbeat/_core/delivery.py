"""Which written messages the peer has provably read (pure).

A WebSocket has no acknowledgements, but a peer processes frames in order: a
heartbeat reply (pong, or an echoed application heartbeat) to a heartbeat
written after message ``m`` proves the peer read ``m``. Messages written since
the last such proof are *unconfirmed*: when the link dies they may or may not
have arrived, and the connection reports them (or re-sends them, if asked).

Nothing is forgotten: the ledger holds every unconfirmed message until a reply
confirms it or the link ends. Memory is bounded by a window instead: while
``window`` messages are unconfirmed the writer must stop (:attr:`room` is 0),
and once half a window was written since the last heartbeat, :meth:`wants_probe`
asks for an extra heartbeat (a *probe*) so that confirmation comes sooner than
the heartbeat schedule.

Only heartbeats that get a reply can confirm anything (:func:`confirms_delivery`);
with other styles no ledger is kept (see ``ConnectionOptions.unconfirmed_window``).
"""

from __future__ import annotations

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat.errors import UsageError

__all__ = ["DeliveryLedger", "Unconfirmed", "confirms_delivery"]

Message = str | bytes
#: An unconfirmed message and how many times it was written (1: once).
Unconfirmed = tuple[Message, int]


def confirms_delivery(heartbeat: Heartbeat) -> bool:
    """True when ``heartbeat`` gets replies, which prove what the peer read."""
    return heartbeat.uses_ping_frames or (
        heartbeat.interval is not None and heartbeat.reply is not None
    )


class DeliveryLedger:
    """The unconfirmed written messages of one link, at most ``window`` of them."""

    __slots__ = ("_heartbeats", "_probe_at", "_seq", "_unconfirmed", "window")

    def __init__(self, window: int) -> None:
        v.argument("DeliveryLedger(window=...)", v.positive_int, window)
        self.window = window
        # A list, not a deque: an empty deque costs 0.6 KiB per connection, and
        # a confirmation removes a prefix in one slice deletion. Written
        # messages are numbered 1, 2, ... (``_seq``: the last one): the
        # unconfirmed ones are the last ``len(_unconfirmed)`` numbers.
        self._unconfirmed: list[Unconfirmed] = []
        # Heartbeats awaiting their reply: (token, last seq written before it, probe?).
        self._heartbeats: list[tuple[object, int, bool]] = []
        self._seq = 0
        # A probe is wanted once this seq was written without a heartbeat after it.
        self._probe_at = max(1, window // 2)

    def __len__(self) -> int:
        return len(self._unconfirmed)

    @property
    def room(self) -> int:
        """How many more messages may be written before a reply must confirm some."""
        return self.window - len(self._unconfirmed)

    def written(self, message: Message, writes: int = 1) -> None:
        """``message`` was written to the link (``writes``: times so far, this one included).

        Raises :class:`UsageError` when the window is full: the writer must wait
        for :attr:`room` instead of writing.
        """
        unconfirmed = self._unconfirmed
        if len(unconfirmed) >= self.window:
            raise UsageError("the unconfirmed window is full: wait for a heartbeat reply")
        self._seq += 1
        unconfirmed.append((message, writes))

    def wants_probe(self) -> bool:
        """True when half a window was written since the last heartbeat went out."""
        return self._seq >= self._probe_at

    def heartbeat_written(self, token: object, *, probe: bool = False) -> None:
        """A heartbeat that expects a reply is (about to be) written.

        ``probe``: an extra heartbeat sent for :meth:`wants_probe`, outside the
        heartbeat schedule.
        """
        self._heartbeats.append((token, self._seq, probe))
        self._probe_at = self._seq + max(1, self.window // 2)

    def reply(self, token: object = None) -> bool:
        """The reply to heartbeat ``token`` (None: the oldest) arrived.

        Confirms every message written before that heartbeat. Returns False
        when the reply answered a probe (the heartbeat schedule should not count
        it as the reply to one of its own heartbeats), else True.
        """
        beats = self._heartbeats
        if not beats:
            return True
        upto = 0
        if token is not None:
            for upto, (hb_token, _, _) in enumerate(beats):  # noqa: B007
                if hb_token == token:
                    break
            else:
                return True
        _, confirmed, probe = beats[upto]
        del beats[: upto + 1]
        unconfirmed = self._unconfirmed
        # Numbers self._seq - len + 1 ... self._seq are unconfirmed: those up to
        # ``confirmed`` are confirmed now.
        done = min(max(confirmed - self._seq + len(unconfirmed), 0), len(unconfirmed))
        del unconfirmed[:done]
        return not probe

    def take_unconfirmed(self) -> tuple[Unconfirmed, ...]:
        """Remove and return the unconfirmed messages, oldest first, with their write counts."""
        messages = tuple(self._unconfirmed)
        self._unconfirmed.clear()
        self._heartbeats.clear()
        return messages
