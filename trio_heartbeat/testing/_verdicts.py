"""The vocabulary shared by the fault switchboard and the relays it steers.

:mod:`trio_heartbeat.testing._faults` (the switchboard) decides, and
:mod:`trio_heartbeat.testing._relay` (one relayed connection) obeys and reports;
both speak in the types below, so neither imports the other's private names and
the switchboard needs nothing of the relay but the small :class:`RelayedLink`
protocol.
"""

from __future__ import annotations

import enum
from typing import Literal, Protocol

import attrs

from trio_heartbeat._core.close_codes import CloseCode

__all__ = [
    "DIRECTIONS",
    "Admission",
    "ConnectionStats",
    "RelayedConnection",
    "Direction",
    "Ending",
    "Kill",
    "RelayedLink",
    "UnitFate",
    "Verdict",
]


class Direction(enum.Flag):
    """Which way bytes flow through the relay. ``BOTH`` is both directions."""

    TO_SERVER = enum.auto()
    TO_CLIENT = enum.auto()
    BOTH = TO_SERVER | TO_CLIENT


DIRECTIONS = (Direction.TO_SERVER, Direction.TO_CLIENT)

Admission = Literal["relayed", "refused", "rejected", "closed_after_handshake"]
Ending = Literal["eof", "error", "closed", "dropped", "aborted", "refused", "rejected", "cancelled"]
UnitFate = Literal["deliver", "black_hole", "heartbeat"]


@attrs.frozen(kw_only=True)
class RelayedConnection:
    """A snapshot of one relayed connection.

    ``admission`` is what the switchboard decided when the connection arrived;
    ``ending`` says how it ended (``None`` while open): ``"eof"`` both sides shut
    down normally, ``"error"`` a side broke, ``"closed"``/``"dropped"``/``"aborted"``
    the matching fault, ``"refused"``/``"rejected"`` a handshake fault,
    ``"cancelled"`` the owning network or proxy stopped. Byte counts are bytes
    written to each side; ``*_black_holed`` bytes swallowed by a black hole and
    ``heartbeats_dropped_*`` ping/pong frames dropped. ``handshake_completed`` is
    True once the server's whole HTTP response reached the client, and
    ``close_frame_sent`` once the relay injected a close frame. Times are
    ``trio.current_time()`` values.
    """

    id: int
    admission: Admission
    is_open: bool
    ending: Ending | None
    opened_at: float
    closed_at: float | None
    bytes_to_server: int
    bytes_to_client: int
    bytes_black_holed_to_server: int
    bytes_black_holed_to_client: int
    heartbeats_dropped_to_server: int
    heartbeats_dropped_to_client: int
    handshake_completed: bool
    close_frame_sent: bool
    upstream_error: str | None


ConnectionStats = RelayedConnection
"""The former name of :class:`RelayedConnection` (kept as an alias)."""


@attrs.frozen(kw_only=True)
class Kill:
    """How a fault ends a relayed connection: a close frame, a drop (FIN) or an abort (RST)."""

    kind: Literal["close", "drop", "abort"]
    code: int = CloseCode.ABNORMAL_CLOSURE
    reason: str = ""
    grace_delay: float = 0.0


@attrs.frozen
class Verdict:
    """The switchboard's decision on a connection that just arrived."""

    admission: Admission
    status: int = 0
    retry_after: int | None = None


class RelayedLink(Protocol):
    """What the switchboard needs of a relayed connection it has registered."""

    @property
    def is_open(self) -> bool: ...

    def snapshot(self) -> RelayedConnection: ...

    def request_kill(self, kill: Kill) -> None: ...
