"""The liveness state machine: when to send a heartbeat, when the peer is dead.

Pure: no trio, no clock. Every method takes ``now`` (seconds, any monotonic
origin) and the runtime asks two questions, each answered with an absolute
time: :meth:`Liveness.next_heartbeat_deadline` and :meth:`Liveness.dead_deadline`.
"""

from __future__ import annotations

import math

import attrs

from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.validate import positive
from trio_heartbeat.errors import UsageError

__all__ = ["HeartbeatCounts", "Liveness"]

# The weight of a new RTT sample in the smoothed RTT (RFC 6298 uses 1/8).
RTT_ALPHA = 0.125


@attrs.frozen
class HeartbeatCounts:
    """Heartbeats sent, answered (reply or pong seen) and missed (window passed)."""

    sent: int
    answered: int
    missed: int


class Liveness:
    """Liveness of one connection, from ``connected_at`` on.

    Proof of life is recorded with :meth:`observe_traffic` (any inbound bytes)
    and :meth:`observe_heartbeat` (pong, reply or server heartbeat). The peer is
    dead at :meth:`dead_deadline`: ``reply_timeout`` after the oldest heartbeat
    not followed by proof of life, or ``silence_timeout`` after the last proof of
    life, whichever is first.
    """

    def __init__(self, heartbeat: Heartbeat, *, connected_at: float) -> None:
        self._hb = heartbeat
        self._silence_timeout = heartbeat.silence_timeout
        self._last_life = connected_at
        # Time of the oldest heartbeat not yet followed by proof of life.
        self._unanswered_since: float | None = None
        # Heartbeats waiting for their own reply: (token, sent_at).
        # A list, not a deque: it holds a pending heartbeat or two, and an
        # empty deque costs 0.6 KiB per connection.
        self._awaiting_reply: list[tuple[object, float]] = []
        self._expects_reply = heartbeat.uses_ping_frames or heartbeat.reply is not None
        self._reply_window = heartbeat.reply_timeout or heartbeat.interval or math.inf
        interval = heartbeat.interval
        self._next_send = math.inf if interval is None else connected_at + interval
        self.sent = 0
        self.answered = 0
        self.missed = 0
        self.rtt_last: float | None = None
        self.rtt_smoothed: float | None = None

    # -- observations ----------------------------------------------------------

    def observe_traffic(self, at: float) -> None:
        """Inbound bytes arrived at ``at``; proof of life unless the config says otherwise."""
        if self._hb.any_traffic_proves_life:
            self._prove_life(at)

    def observe_heartbeat(self, at: float) -> None:
        """A server heartbeat (or any heartbeat-class message) arrived at ``at``."""
        self._prove_life(at)

    def observe_reply(self, at: float, token: object = None) -> float | None:
        """The reply to heartbeat ``token`` (None: the oldest) arrived at ``at``.

        A reply also acknowledges every earlier heartbeat (a peer may answer
        several pings with one pong). Returns the round-trip time of the matched
        heartbeat, or None when no heartbeat was waiting for it.
        """
        self._prove_life(at)
        rtt: float | None = None
        if token is not None and all(t != token for t, _ in self._awaiting_reply):
            return None
        while self._awaiting_reply:
            sent_token, sent_at = self._awaiting_reply.pop(0)
            self.answered += 1
            if token is None or sent_token == token:
                rtt = at - sent_at
                break
        if rtt is not None:
            self.rtt_last = rtt
            if self.rtt_smoothed is None:
                self.rtt_smoothed = rtt
            else:
                self.rtt_smoothed += RTT_ALPHA * (rtt - self.rtt_smoothed)
        return rtt

    def heartbeat_sent(self, now: float, token: object = None) -> None:
        """A client heartbeat identified by ``token`` went out at ``now``."""
        self.sent += 1
        self.expire(now)
        if self._expects_reply:
            self._awaiting_reply.append((token, now))
        if self._unanswered_since is None:
            self._unanswered_since = now
        interval = self._hb.interval
        assert interval is not None
        if self._hb.idle_only:
            self._next_send = math.inf  # one probe until life is proven again
        else:
            self._next_send += interval
            if self._next_send <= now:  # we were late by a whole interval: skip, don't burst
                self._next_send = now + interval

    def expire(self, now: float) -> None:
        """Count heartbeats whose reply window has passed as missed."""
        window = self._reply_window
        while self._awaiting_reply and self._awaiting_reply[0][1] + window <= now:
            del self._awaiting_reply[0]
            self.missed += 1

    def _prove_life(self, at: float) -> None:
        if at > self._last_life:
            self._last_life = at
        if self._unanswered_since is not None and at >= self._unanswered_since:
            self._unanswered_since = None
        if self._hb.idle_only and self._unanswered_since is None:
            assert self._hb.interval is not None
            self._next_send = self._last_life + self._hb.interval

    # -- questions -------------------------------------------------------------

    @property
    def last_life(self) -> float:
        """When life was last proven (the connect time at first)."""
        return self._last_life

    def next_heartbeat_deadline(self) -> float:
        """When the next client heartbeat is due (``inf``: none is)."""
        return self._next_send

    def dead_deadline(self) -> float:
        """When the peer counts as dead unless life is proven first (``inf``: never)."""
        deadline = math.inf
        if self._hb.reply_timeout is not None and self._unanswered_since is not None:
            deadline = self._unanswered_since + self._hb.reply_timeout
        if self._silence_timeout is not None:
            deadline = min(deadline, self._last_life + self._silence_timeout)
        return deadline

    def is_dead(self, now: float) -> bool:
        """True when ``now`` is at or past :meth:`dead_deadline`."""
        return now >= self.dead_deadline()

    def dead_bound(self) -> float:
        """The timeout that ran out (seconds), for error messages."""
        hb, since, silence = self._hb, self._unanswered_since, self._silence_timeout
        reply_deadline = math.inf
        if hb.reply_timeout is not None and since is not None:
            reply_deadline = since + hb.reply_timeout
        if silence is None or reply_deadline <= self._last_life + silence:
            return hb.reply_timeout or math.inf
        return silence

    def set_silence_timeout(self, seconds: float) -> None:
        """Use ``seconds`` as this link's silence bound from now on.

        For protocols that announce their own timing when a link opens
        (Engine.IO's pingInterval + pingTimeout). Raises :class:`UsageError`
        unless ``seconds`` is a number > 0.
        """
        if not positive.test(seconds):
            raise UsageError(f"silence_timeout must be {positive.allowed}, got {seconds!r}")
        self._silence_timeout = seconds

    def counts(self) -> HeartbeatCounts:
        """Heartbeats sent, answered and missed so far."""
        return HeartbeatCounts(self.sent, self.answered, self.missed)
