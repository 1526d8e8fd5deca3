"""Configuration and statistics of :mod:`trio_heartbeat.server._serve` (re-exported there)."""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["ServerHeartbeat", "ServerStatistics"]

_message = attrs.validators.optional(attrs.validators.instance_of((bytes, str)))


def _finite(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


@attrs.frozen(kw_only=True)
class ServerHeartbeat:
    """How the server checks that its clients are alive.

    ``interval`` (s) is the time between rounds. ``payload`` None sends RFC 6455
    ping frames (a unique payload per round; the pong is the answer); a bytes or
    str payload is sent as an application message (binary or text) and
    ``answer`` is the message the client must send back -- matched answers are
    swallowed, never delivered to the handler. With ``any_traffic_counts`` (the
    default) any inbound byte also counts as an answer; when false only the
    pong / the ``answer`` message does.

    Raises ValueError for a non-positive interval, an ``answer`` with ping
    frames, or an application heartbeat that nothing could ever answer.
    """

    interval: float = attrs.field(
        validator=attrs.validators.and_(
            attrs.validators.instance_of((int, float)), attrs.validators.gt(0), _finite
        )
    )
    payload: bytes | str | None = attrs.field(default=None, validator=_message)
    answer: bytes | str | None = attrs.field(default=None, validator=_message)
    any_traffic_counts: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        if self.payload is None and self.answer is not None:
            raise ValueError("ping-frame heartbeats are answered by pongs; answer must be None")
        if self.payload is not None and self.answer is None and not self.any_traffic_counts:
            raise ValueError("a heartbeat without an answer needs any_traffic_counts=True")

    @property
    def uses_ping_frames(self) -> bool:
        """True when heartbeats are RFC 6455 ping frames."""
        return self.payload is None

    @classmethod
    def ping(cls, interval: float = 30.0, *, any_traffic_counts: bool = True) -> ServerHeartbeat:
        """RFC 6455 ping every ``interval`` s; pong answers (Node ``ws`` isAlive)."""
        return cls(interval=interval, any_traffic_counts=any_traffic_counts)

    @classmethod
    def binary(cls, interval: float = 5.0, *, any_traffic_counts: bool = True) -> ServerHeartbeat:
        """Binary message ``0x01`` every ``interval`` s, answered by ``0x01``."""
        return cls(
            interval=interval,
            payload=b"\x01",
            answer=b"\x01",
            any_traffic_counts=any_traffic_counts,
        )

    @classmethod
    def engineio(
        cls, interval: float = 25.0, *, any_traffic_counts: bool = True
    ) -> ServerHeartbeat:
        """Engine.IO v4 style: text ``"2"`` (ping) every ``interval`` s, answered ``"3"``."""
        return cls(
            interval=interval, payload="2", answer="3", any_traffic_counts=any_traffic_counts
        )


@attrs.frozen(kw_only=True)
class ServerStatistics:
    """A snapshot of a server's counters (all since it started).

    ``clients`` are connected now, ``accepted`` completed the WebSocket
    handshake, ``handshake_failures`` did not. Of the ended clients,
    ``terminated`` did not answer a heartbeat round and ``dropped`` had a send
    fail or stall or too many unread messages; ``closed`` counts every ended
    client whatever the reason. ``handler_errors`` counts handlers that raised.
    ``messages_in`` / ``messages_out`` count application messages (heartbeats and
    their answers excluded), ``heartbeats_sent`` / ``heartbeat_answers`` those.
    """

    clients: int
    accepted: int
    handshake_failures: int
    rounds: int
    terminated: int
    dropped: int
    closed: int
    handler_errors: int
    messages_in: int
    messages_out: int
    heartbeats_sent: int
    heartbeat_answers: int


@attrs.define
class _Counters:
    accepted: int = 0
    handshake_failures: int = 0
    terminated: int = 0
    dropped: int = 0
    closed: int = 0
    handler_errors: int = 0
    messages_in: int = 0
    messages_out: int = 0
    heartbeats_sent: int = 0
    heartbeat_answers: int = 0
