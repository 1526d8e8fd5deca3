"""Counters over all of a managed connection's links, and its statistics snapshot."""

from __future__ import annotations

from trio_heartbeat._client.session import Counters, LinkSession
from trio_heartbeat._core.events import ConnectionState, ConnectionStatistics

__all__ = ["LinkTotals"]


class LinkTotals:
    """What finished links add up to, plus the live link's share on demand.

    The supervisor calls :meth:`absorb` when a link ends and :meth:`connected`
    when one opens; :meth:`snapshot` adds the live session's numbers.
    """

    __slots__ = (
        "answered",
        "bytes_in",
        "bytes_out",
        "connects",
        "counters",
        "missed",
        "rtt",
        "sent",
    )

    def __init__(self) -> None:
        self.counters = Counters()
        self.connects = 0
        self.sent = self.answered = self.missed = 0
        self.rtt: tuple[float | None, float | None] = (None, None)
        self.bytes_in = 0
        self.bytes_out = 0

    def absorb(self, session: LinkSession) -> None:
        """Fold an ended link's heartbeat, RTT and byte counts into the totals."""
        live = session.liveness
        if live is not None:
            self.sent += live.sent
            self.answered += live.answered
            self.missed += live.missed
            if live.rtt_last is not None:
                self.rtt = (live.rtt_last, live.rtt_smoothed)
        self.bytes_in += session.link.stream.bytes_in
        self.bytes_out += session.link.stream.bytes_out

    def snapshot(
        self,
        session: LinkSession | None,
        *,
        state: ConnectionState,
        uptime: float,
        attempts: int,
        messages_dropped: int,
        send_buffered: int,
    ) -> ConnectionStatistics:
        """The totals plus ``session``'s live share, as a frozen snapshot."""
        sent, answered, missed = self.sent, self.answered, self.missed
        rtt_last, rtt_smoothed = self.rtt
        bytes_in, bytes_out = self.bytes_in, self.bytes_out
        if session is not None:
            live = session.liveness
            if live is not None:
                sent, answered, missed = (
                    sent + live.sent,
                    answered + live.answered,
                    missed + live.missed,
                )
                rtt_last = live.rtt_last if live.rtt_last is not None else rtt_last
                if live.rtt_smoothed is not None:
                    rtt_smoothed = live.rtt_smoothed
            bytes_in += session.link.stream.bytes_in
            bytes_out += session.link.stream.bytes_out
        return ConnectionStatistics(
            state=state,
            rtt_last=rtt_last,
            rtt_smoothed=rtt_smoothed,
            heartbeats_sent=sent,
            heartbeats_answered=answered,
            heartbeats_missed=missed,
            connects=self.connects,
            reconnects=max(self.connects - 1, 0),
            attempts=attempts,
            uptime=uptime,
            messages_in=self.counters.messages_in,
            messages_out=self.counters.messages_out,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            messages_dropped=messages_dropped,
            protocol_errors=self.counters.protocol_errors,
            send_buffered=send_buffered,
            messages_abandoned=self.counters.messages_abandoned,
        )
