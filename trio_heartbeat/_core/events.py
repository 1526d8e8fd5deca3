"""State changes and statistics of a managed connection (frozen value objects).

A managed connection is in one :class:`ConnectionState` at a time::

    CONNECTING ------> CONNECTED
        |                  |
        | attempt failed   | link lost      (either way: a Disconnected change)
        +--------+---------+
                 +--> WAITING --> CONNECTING ...
                 +--> GAVE_UP
    any state --> CLOSED                    (the ``async with`` block was left)

Each state change that enters a state says which in its ``state`` class
attribute; :class:`Disconnected`, :class:`MessagesDropped` and
:class:`StateChangesDropped` enter none.
"""

from __future__ import annotations

import enum
from typing import ClassVar

import attrs

from trio_heartbeat._core.endpoint import Endpoint
from trio_heartbeat.errors import describe_failure

__all__ = [
    "Closed",
    "Connected",
    "Connecting",
    "ConnectionState",
    "ConnectionStatistics",
    "Disconnected",
    "GaveUp",
    "MessagesDropped",
    "StateChange",
    "StateChangesDropped",
    "Step",
    "WaitingToReconnect",
]


class ConnectionState(enum.StrEnum):
    """The state of a managed connection; a ``str``, so ``state == "connected"`` works."""

    CONNECTING = "connecting"  #: an attempt is under way (dial, upgrade, on-connect step)
    CONNECTED = "connected"  #: the link is up and the on-connect step succeeded
    WAITING = "waiting"  #: the link is down; sleeping before the next attempt
    GAVE_UP = "gave_up"  #: the reconnect policy stopped; ``receive()`` raises ReconnectGaveUp
    CLOSED = "closed"  #: the ``async with`` block was left


class Step(enum.StrEnum):
    """The step of a connection's life that failed (see :attr:`Disconnected.step`)."""

    CONNECT = "connect"  #: dialling: TCP, and TLS for ``wss://``
    UPGRADE = "upgrade"  #: the HTTP upgrade to WebSocket
    ON_CONNECT = "on_connect"  #: the application's on-connect step
    LINK = "link"  #: the open link died (liveness timeout, close frame, dropped socket...)


@attrs.frozen
class Connecting:
    """Connection attempt number ``attempt`` (1-based within the current outage) begins.

    ``endpoint`` is where it goes (None when the connect plan's factory failed).
    """

    state: ClassVar[ConnectionState | None] = ConnectionState.CONNECTING
    attempt: int
    endpoint: Endpoint | None = None


@attrs.frozen
class Connected:
    """The link is up and the on-connect step succeeded; buffered messages flush next.

    ``endpoint`` is the one connected to.
    """

    state: ClassVar[ConnectionState | None] = ConnectionState.CONNECTED
    attempt: int
    subprotocol: str | None = None
    endpoint: Endpoint | None = None


@attrs.frozen
class Disconnected:
    """An attempt or a connection ended with ``cause``.

    ``code``/``reason`` are the WebSocket close code and reason where one applies
    (1006: no close frame). ``was_connected`` tells a lost connection from a
    failed attempt. ``unconfirmed`` are the messages written on this link after
    the last heartbeat reply, which the peer may never have read (re-sent when
    ``ConnectionOptions.resend_unconfirmed`` is set; always empty for heartbeat
    styles without replies, which cannot confirm anything). ``abandoned`` are
    those of them that will not be re-sent: each was already re-sent
    ``ConnectionOptions.max_resends`` times without a confirmation. ``step``
    names what failed (default: ``LINK`` when it was connected, else
    ``CONNECT``); :attr:`summary` says it in words, with the exception type.
    """

    state: ClassVar[ConnectionState | None] = None
    cause: BaseException
    code: int | None
    reason: str
    was_connected: bool
    unconfirmed: tuple[str | bytes, ...] = ()
    abandoned: tuple[str | bytes, ...] = ()
    step: Step = attrs.field(
        kw_only=True,
        default=attrs.Factory(
            lambda self: Step.LINK if self.was_connected else Step.CONNECT, takes_self=True
        ),
    )

    @property
    def summary(self) -> str:
        """E.g. ``on_connect failed with AssertionError`` (never empty)."""
        return describe_failure(self.step, self.cause)


@attrs.frozen
class WaitingToReconnect:
    """Sleeping ``delay`` seconds before attempt number ``attempt``."""

    state: ClassVar[ConnectionState | None] = ConnectionState.WAITING

    delay: float
    attempt: int


@attrs.frozen
class GaveUp:
    """The reconnect policy stopped; ``error`` (a ReconnectGaveUp) is what ``receive()`` raises."""

    state: ClassVar[ConnectionState | None] = ConnectionState.GAVE_UP

    error: BaseException


@attrs.frozen
class MessagesDropped:
    """``count`` outgoing messages were dropped (``reason`` says why)."""

    state: ClassVar[ConnectionState | None] = None

    count: int
    reason: str


@attrs.frozen
class StateChangesDropped:
    """``count`` state changes were not kept here: more than
    ``ConnectionOptions.max_unread_state_changes`` were waiting unread.

    It stands where they would have been, before the first change kept after
    them; it enters no state (``ManagedWebSocket.state`` is the one in force).
    """

    state: ClassVar[ConnectionState | None] = None

    count: int


@attrs.frozen
class Closed:
    """The managed connection closed; ``undelivered`` were still buffered.

    ``unconfirmed``: messages written on the last link after its last heartbeat
    reply (see ``Disconnected.unconfirmed``); the peer may not have read them.
    """

    state: ClassVar[ConnectionState | None] = ConnectionState.CLOSED

    undelivered: tuple[str | bytes, ...]
    unconfirmed: tuple[str | bytes, ...] = ()


StateChange = (
    Connecting
    | Connected
    | Disconnected
    | WaitingToReconnect
    | GaveUp
    | MessagesDropped
    | StateChangesDropped
    | Closed
)


@attrs.frozen(kw_only=True)
class ConnectionStatistics:
    """A snapshot of a managed connection's counters. Times in seconds.

    ``rtt_last``/``rtt_smoothed`` come from heartbeat replies (None until one
    arrives). ``uptime`` is how long the current link has been up (0.0 when
    down). Byte counts are on the wire (frames included), over all links.
    ``messages_abandoned``: unconfirmed messages not re-sent again after
    ``max_resends`` re-sends (see ``Disconnected.abandoned``).
    ``duplicates_dropped``: inbound messages dropped as replays of a position
    already delivered or queued (only with ``resume=``; ``messages_in``
    includes them).
    """

    state: ConnectionState
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
    messages_abandoned: int = 0
    duplicates_dropped: int = 0
