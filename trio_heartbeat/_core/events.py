"""State changes and statistics of a managed connection (frozen value objects)."""

from __future__ import annotations

import attrs

__all__ = [
    "Closed",
    "Connected",
    "Connecting",
    "ConnectionStatistics",
    "Disconnected",
    "GaveUp",
    "MessagesDropped",
    "StateChange",
    "WaitingToReconnect",
]


@attrs.frozen
class Connecting:
    """Connection attempt number ``attempt`` (1-based within the current outage) begins."""

    attempt: int


@attrs.frozen
class Connected:
    """The link is up and the on-connect step succeeded; buffered messages flush next."""

    attempt: int
    subprotocol: str | None = None


@attrs.frozen
class Disconnected:
    """An attempt or a connection ended with ``cause``.

    ``code``/``reason`` are the WebSocket close code and reason where one applies
    (1006: no close frame). ``was_connected`` tells a lost connection from a
    failed attempt. ``unconfirmed`` are the messages written on this link after
    the last heartbeat reply, which the peer may never have read (re-sent when
    ``ConnectionOptions.resend_unconfirmed`` is set; always empty for heartbeat
    styles without replies, which cannot confirm anything).
    """

    cause: BaseException
    code: int | None
    reason: str
    was_connected: bool
    unconfirmed: tuple[str | bytes, ...] = ()


@attrs.frozen
class WaitingToReconnect:
    """Sleeping ``delay`` seconds before attempt number ``attempt``."""

    delay: float
    attempt: int


@attrs.frozen
class GaveUp:
    """The reconnect policy stopped; ``error`` is what ``receive()`` now raises."""

    error: BaseException


@attrs.frozen
class MessagesDropped:
    """``count`` outgoing messages were dropped (``reason`` says why)."""

    count: int
    reason: str


@attrs.frozen
class Closed:
    """The managed connection closed; ``undelivered`` were still buffered."""

    undelivered: tuple[str | bytes, ...]


StateChange = (
    Connecting | Connected | Disconnected | WaitingToReconnect | GaveUp | MessagesDropped | Closed
)


@attrs.frozen(kw_only=True)
class ConnectionStatistics:
    """A snapshot of a managed connection's counters. Times in seconds.

    ``rtt_last``/``rtt_smoothed`` come from heartbeat replies (None until one
    arrives). ``uptime`` is how long the current link has been up (0.0 when
    down). Byte counts are on the wire (frames included), over all links.
    ``duplicates_dropped``: inbound messages dropped as replays of a position
    already delivered or queued (only with ``resume=``; ``messages_in``
    includes them).
    """

    state: str
    rtt_last: float | None
    rtt_smoothed: float | None
    heartbeats_sent: int
    heartbeats_answered: int
    heartbeats_missed: int
    connects: int
    reconnects: int
    attempts: int
    uptime: float
    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    messages_dropped: int
    protocol_errors: int
    send_buffered: int
    duplicates_dropped: int = 0
