"""Configuration and statistics of :mod:`trio_heartbeat.server` (re-exported there)."""

from __future__ import annotations

import enum
import ssl
from typing import TypedDict

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.deprecation import renamed, warn_renamed
from trio_heartbeat.errors import UsageError

__all__ = ["FullQueue", "ServerHeartbeat", "ServerOptions", "ServerStatistics"]


def _proves_life(where: str, value: bool, old_value: bool | None) -> bool:
    """``any_traffic_proves_life``, or its old name ``any_traffic_counts`` (deprecated)."""
    return renamed(where, "any_traffic_counts", "any_traffic_proves_life", old_value, value)


_message = v.optional(v.instance_of(bytes, str))


@attrs.frozen(kw_only=True, init=False)
class ServerHeartbeat:
    """How the server checks that its clients are alive.

    ``interval`` (s) is the time between rounds. ``payload`` None sends RFC 6455
    ping frames (a unique payload per round; the pong is the answer); a bytes or
    str payload is sent as an application message (binary or text) and
    ``answer`` is the message the client must send back -- matched answers are
    swallowed, never delivered to the handler. With ``any_traffic_proves_life``
    (the default, named as in the client's ``Heartbeat``) any inbound byte also
    counts as an answer; when false only the pong / the ``answer`` message does.
    ``any_traffic_counts`` is its deprecated old name (a DeprecationWarning).

    Raises UsageError (also a ValueError) for a non-positive interval, an ``answer`` with ping
    frames, or an application heartbeat that nothing could ever answer.
    """

    interval: float = attrs.field(validator=v.positive_finite)
    payload: bytes | str | None = attrs.field(default=None, validator=_message)
    answer: bytes | str | None = attrs.field(default=None, validator=_message)
    any_traffic_proves_life: bool = attrs.field(default=True, validator=v.instance_of(bool))

    def __init__(
        self,
        *,
        interval: float,
        payload: bytes | str | None = None,
        answer: bytes | str | None = None,
        any_traffic_proves_life: bool = True,
        any_traffic_counts: bool | None = None,
    ) -> None:
        any_traffic_proves_life = _proves_life(
            "ServerHeartbeat", any_traffic_proves_life, any_traffic_counts
        )
        self.__attrs_init__(
            interval=interval,
            payload=payload,
            answer=answer,
            any_traffic_proves_life=any_traffic_proves_life,
        )

    def __attrs_post_init__(self) -> None:
        if self.payload is None and self.answer is not None:
            raise UsageError("ping-frame heartbeats are answered by pongs: answer is None")
        if self.payload is not None and self.answer is None and not self.any_traffic_proves_life:
            raise UsageError("a heartbeat without an answer needs any_traffic_proves_life=True")

    @property
    def any_traffic_counts(self) -> bool:
        """Deprecated name of :attr:`any_traffic_proves_life`."""
        warn_renamed("ServerHeartbeat.any_traffic_counts", "any_traffic_proves_life")
        return self.any_traffic_proves_life

    @property
    def uses_ping_frames(self) -> bool:
        """True when heartbeats are RFC 6455 ping frames."""
        return self.payload is None

    @classmethod
    def ping(
        cls,
        interval: float = 30.0,
        *,
        any_traffic_proves_life: bool = True,
        any_traffic_counts: bool | None = None,
    ) -> ServerHeartbeat:
        """RFC 6455 ping every ``interval`` s; pong answers (Node ``ws`` isAlive)."""
        return cls(
            interval=interval,
            any_traffic_proves_life=_proves_life(
                "ServerHeartbeat.ping", any_traffic_proves_life, any_traffic_counts
            ),
        )

    @classmethod
    def binary(
        cls,
        interval: float = 5.0,
        *,
        any_traffic_proves_life: bool = True,
        any_traffic_counts: bool | None = None,
    ) -> ServerHeartbeat:
        """Binary message ``0x01`` every ``interval`` s, answered by ``0x01``."""
        return cls(
            interval=interval,
            payload=b"\x01",
            answer=b"\x01",
            any_traffic_proves_life=_proves_life(
                "ServerHeartbeat.binary", any_traffic_proves_life, any_traffic_counts
            ),
        )

    @classmethod
    def engineio(
        cls,
        interval: float = 25.0,
        *,
        any_traffic_proves_life: bool = True,
        any_traffic_counts: bool | None = None,
    ) -> ServerHeartbeat:
        """Engine.IO v4 style: text ``"2"`` (ping) every ``interval`` s, answered ``"3"``."""
        return cls(
            interval=interval,
            payload="2",
            answer="3",
            any_traffic_proves_life=_proves_life(
                "ServerHeartbeat.engineio", any_traffic_proves_life, any_traffic_counts
            ),
        )


class FullQueue(enum.Enum):
    """What ``broadcast()`` does for a client whose send queue is full (a slow consumer).

    Either way the other clients are not delayed, and it is counted.
    """

    #: close that client with ``ServerOptions.slow_close_code`` (counted in ``dropped``)
    DISCONNECT = "disconnect"
    #: skip the message for that client only (counted in ``messages_dropped``)
    DROP_MESSAGE = "drop_message"


@attrs.frozen(kw_only=True)
class ServerOptions:
    """The server's timeouts and limits, in one place (seconds as floats).

    - ``handshake_timeout``: bounds a client's whole opening (TLS, the HTTP
      upgrade and the ``authorize`` step); a peer that leaves earlier is let go
      at once.
    - ``close_timeout``: bounds each closing handshake (including sending what
      is still queued for that client) and the wait for a handler after its
      connection ended; the stream is aborted after it.
    - ``send_timeout``: bounds each write to one client; a client whose write
      stalls that long is dropped (1006).
    - ``send_queue_size``: messages queued per client for its writer task.
      ``send()`` to one client waits for room (only the caller waits);
      ``broadcast()`` never waits and applies ``full_queue`` instead.
    - ``full_queue`` (:class:`FullQueue`) and ``slow_close_code`` (default
      1008, policy violation): the policy for a full queue.
    - ``max_pending_messages``: unread inbound messages buffered per client;
      one more drops the client.
    - ``max_message_size``: an inbound message over this many bytes (or
      characters) closes that client with 1009 (counted in ``invalid_messages``).
    - ``ssl_context``: serve ``wss://`` (a server-side ``ssl.SSLContext`` with
      its certificate loaded); None serves plain ``ws://``.

    Raises :class:`~trio_heartbeat.errors.UsageError` for a bad setting (also a
    ValueError when out of range, a TypeError when of the wrong type).
    """

    handshake_timeout: float = attrs.field(default=10.0, validator=v.positive_finite)
    close_timeout: float = attrs.field(default=5.0, validator=v.positive_finite)
    send_timeout: float = attrs.field(default=10.0, validator=v.positive_finite)
    send_queue_size: int = attrs.field(default=256, validator=v.positive_int)
    full_queue: FullQueue = attrs.field(
        default=FullQueue.DISCONNECT, validator=v.instance_of(FullQueue)
    )
    slow_close_code: int = attrs.field(default=CloseCode.POLICY_VIOLATION, validator=v.close_code)
    max_pending_messages: int = attrs.field(default=256, validator=v.positive_int)
    max_message_size: int = attrs.field(default=1024 * 1024, validator=v.positive_int)
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(ssl.SSLContext))
    )


class LegacySettings(TypedDict, total=False):
    """The keyword arguments the server functions took before :class:`ServerOptions`."""

    handshake_timeout: float
    close_timeout: float
    send_timeout: float
    max_pending_messages: int


def merge_options(options: ServerOptions | None, legacy: LegacySettings) -> ServerOptions:
    """The settings to run with: ``options``, or else a :class:`ServerOptions`
    made from the old keyword arguments (all defaults without any).

    Raises UsageError for an unknown keyword, for keywords given together
    with ``options`` (one owner per setting), or a foreign ``options``.
    """
    unknown = set(legacy) - set(LegacySettings.__annotations__)
    if unknown:
        raise UsageError(f"unknown server setting(s): {', '.join(sorted(unknown))}")
    if options is not None and not isinstance(options, ServerOptions):
        raise UsageError(f"options must be a ServerOptions, got {type(options).__name__}")
    if options is not None and legacy:
        raise UsageError("pass the server's settings in options=ServerOptions(...) only")
    return options if options is not None else ServerOptions(**legacy)


@attrs.frozen(kw_only=True)
class ServerStatistics:
    """A snapshot of a server's counters (all since it started).

    ``clients`` are connected now, ``accepted`` completed the WebSocket
    handshake, ``handshake_failures`` did not (peer left, timed out, not an
    upgrade), ``rejected`` were refused by ``authorize``; ``handshaking`` are
    in their opening handshake now. Of the ended clients, ``terminated`` did
    not answer a heartbeat round and ``dropped`` had a send fail or stall, a
    full send queue (:attr:`FullQueue.DISCONNECT`) or too many unread
    messages; ``invalid_messages`` counts clients closed for a message that
    failed ``validate`` or exceeded ``max_message_size``; ``closed`` counts
    every ended client whatever the reason. ``handler_errors`` counts handlers
    and hooks that raised. ``messages_in`` / ``messages_out`` count application
    messages received / written (heartbeats and their answers excluded),
    ``heartbeats_sent`` / ``heartbeat_answers`` those. ``messages_dropped``
    counts broadcasts skipped for a full queue (:attr:`FullQueue.DROP_MESSAGE`),
    ``messages_unsent`` messages still queued when their client ended.
    """

    clients: int
    accepted: int
    handshake_failures: int
    rejected: int
    handshaking: int
    rounds: int
    terminated: int
    dropped: int
    closed: int
    handler_errors: int
    messages_in: int
    messages_out: int
    heartbeats_sent: int
    heartbeat_answers: int
    invalid_messages: int
    messages_dropped: int
    messages_unsent: int


@attrs.define
class Counters:
    accepted: int = 0
    handshake_failures: int = 0
    rejected: int = 0
    handshaking: int = 0
    terminated: int = 0
    dropped: int = 0
    closed: int = 0
    handler_errors: int = 0
    messages_in: int = 0
    messages_out: int = 0
    heartbeats_sent: int = 0
    heartbeat_answers: int = 0
    invalid_messages: int = 0
    messages_dropped: int = 0
    messages_unsent: int = 0
