"""How a connection proves it is alive: the ``Heartbeat`` configuration.

One frozen object describes both halves of a heartbeat scheme, so that the
schemes met in the wild (and their combinations, e.g. Tradovate's client ``[]``
plus server ``h``) are all one shape:

- what the *client* sends, how often, and what reply it expects;
- what the *server* sends, and how the client answers;
- when the peer counts as dead.

All durations are seconds, as floats.
"""

from __future__ import annotations

import attrs

from trio_heartbeat._core.deprecation import renamed, warn_renamed
from trio_heartbeat._core.validate import argument, instance_of, optional, positive
from trio_heartbeat.errors import UsageError

__all__ = ["Heartbeat"]

Payload = str | bytes

_positive = optional(positive)
_payload = optional(instance_of(str, bytes))
_bool = instance_of(bool)


def _ping_payload_ok(inst: Heartbeat, attr: attrs.Attribute[Payload | None], value: object) -> None:
    if value is None and inst.reply is not None:
        raise UsageError("Heartbeat.reply only applies to application heartbeats (payload=...)")


def _seconds(preset: str, **values: float | None) -> None:
    """Check a preset's durations before arithmetic on them (a UsageError, not a TypeError)."""
    for name, value in values.items():
        if value is not None:
            argument(f"Heartbeat.{preset}({name}=...)", positive, value)


@attrs.frozen(kw_only=True)
class Heartbeat:
    """A heartbeat and liveness scheme.

    Client heartbeats (``interval`` set):
        Every ``interval`` seconds the client sends ``payload`` as an application
        message, or an RFC 6455 ping frame (with a unique payload) when
        ``payload`` is None. With ``idle_only`` the heartbeat is sent only after
        ``interval`` seconds without inbound traffic (the "heartCheck" probe).
        Inbound messages equal to ``reply`` are swallowed (never delivered to the
        application) and give the round-trip time. If nothing proves life within
        ``reply_timeout`` seconds of sending a heartbeat, the peer is dead.

    Server heartbeats (``server_payload`` set):
        Inbound messages equal to ``server_payload`` are swallowed; when
        ``server_answer`` is set it is sent back at once.

    Silence (``silence_timeout`` set):
        The peer is dead when nothing proves life for ``silence_timeout`` seconds
        (for a server heartbeat every 5 s with 1 s grace: 6.0).

    What proves life: with ``any_traffic_proves_life`` (the default) every inbound
    byte does, so a large message arriving slowly never causes a false timeout.
    Without it, only heartbeat traffic does: pongs, ``reply`` and
    ``server_payload`` messages.
    """

    interval: float | None = attrs.field(default=None, validator=_positive)
    payload: Payload | None = attrs.field(
        default=None, validator=attrs.validators.and_(_payload, _ping_payload_ok)
    )
    reply: Payload | None = attrs.field(default=None, validator=_payload)
    reply_timeout: float | None = attrs.field(default=None, validator=_positive)
    idle_only: bool = attrs.field(default=False, validator=_bool)
    server_payload: Payload | None = attrs.field(default=None, validator=_payload)
    server_answer: Payload | None = attrs.field(default=None, validator=_payload)
    silence_timeout: float | None = attrs.field(default=None, validator=_positive)
    any_traffic_proves_life: bool = attrs.field(default=True, validator=_bool)

    def __attrs_post_init__(self) -> None:
        if self.interval is None and self.reply_timeout is not None:
            raise UsageError("Heartbeat.reply_timeout needs a client heartbeat interval")
        if self.idle_only and self.interval is None:
            raise UsageError("Heartbeat.idle_only needs a client heartbeat interval")
        if self.server_answer is not None and self.server_payload is None:
            raise UsageError("Heartbeat.server_answer needs server_payload")
        if (
            not self.any_traffic_proves_life
            and self.interval is None
            and self.server_payload is None
            and self.silence_timeout is not None
        ):
            raise UsageError(
                "with any_traffic_proves_life=False, something must be a heartbeat: "
                "set interval or server_payload"
            )

    @property
    def uses_ping_frames(self) -> bool:
        """True when the client heartbeat is an RFC 6455 ping frame."""
        return self.interval is not None and self.payload is None

    @property
    def detects_death(self) -> bool:
        """True when some deadline can declare the peer dead."""
        return self.reply_timeout is not None or self.silence_timeout is not None

    # -- presets ---------------------------------------------------------------

    # Durations keep the names of the fields they set (``reply_timeout``,
    # ``silence_timeout``, ``interval``). The names these presets had before
    # (``timeout``, ``grace``, ``idle``) still work, with a DeprecationWarning.

    @classmethod
    def ping(
        cls, interval: float = 30.0, reply_timeout: float = 10.0, *, timeout: float | None = None
    ) -> Heartbeat:
        """RFC 6455 ping every ``interval`` s; dead if no pong (or traffic) within
        ``reply_timeout`` s. (``timeout``: deprecated alias of ``reply_timeout``.)"""
        reply_timeout = renamed(
            "Heartbeat.ping", "timeout", "reply_timeout", timeout, reply_timeout
        )
        return cls(interval=interval, reply_timeout=reply_timeout)

    @classmethod
    def text(
        cls,
        payload: Payload,
        *,
        interval: float,
        reply_timeout: float | None = None,
        reply: Payload | None = None,
        timeout: float | None = None,
    ) -> Heartbeat:
        """Send ``payload`` every ``interval`` s; the peer may echo it as ``reply``;
        dead if no reply (or traffic) within ``reply_timeout`` s (required;
        ``timeout``: its deprecated alias)."""
        reply_timeout = renamed(
            "Heartbeat.text", "timeout", "reply_timeout", timeout, reply_timeout
        )
        if reply_timeout is None:
            raise UsageError("Heartbeat.text() needs reply_timeout=...")
        return cls(interval=interval, payload=payload, reply=reply, reply_timeout=reply_timeout)

    @classmethod
    def talo(
        cls, interval: float = 25.0, reply_timeout: float = 10.0, *, timeout: float | None = None
    ) -> Heartbeat:
        """The Talo-style text heartbeat: ``v1.heartbeat`` every 25 s, echoed by the
        server at once (echo swallowed). ``timeout``: deprecated alias of ``reply_timeout``."""
        reply_timeout = renamed(
            "Heartbeat.talo", "timeout", "reply_timeout", timeout, reply_timeout
        )
        return cls.text(
            "v1.heartbeat", interval=interval, reply_timeout=reply_timeout, reply="v1.heartbeat"
        )

    @classmethod
    def tradovate(cls, interval: float = 2.5, silence_timeout: float = 10.0) -> Heartbeat:
        """Tradovate/SockJS: client ``[]`` every 2.5 s, server ``h`` frames swallowed."""
        return cls(
            interval=interval,
            payload="[]",
            server_payload="h",
            silence_timeout=silence_timeout,
        )

    @classmethod
    def server_sent(
        cls,
        payload: Payload = b"\x01",
        *,
        interval: float = 5.0,
        silence_timeout: float | None = None,
        answer: Payload | None = b"\x01",
        grace: float | None = None,
    ) -> Heartbeat:
        """The server sends ``payload`` every ``interval`` s and we send ``answer`` back;
        the peer is dead after ``silence_timeout`` s without one (default
        ``interval + 1``). ``grace`` (deprecated) sets ``silence_timeout = interval + grace``.
        """
        _seconds("server_sent", interval=interval, silence_timeout=silence_timeout, grace=grace)
        if grace is not None:
            if silence_timeout is not None:
                raise UsageError("Heartbeat.server_sent() takes silence_timeout or grace, not both")
            warn_renamed("Heartbeat.server_sent(grace=...)", "silence_timeout=interval + grace")
            silence_timeout = interval + grace
        if silence_timeout is None:
            silence_timeout = interval + 1.0
        return cls(server_payload=payload, server_answer=answer, silence_timeout=silence_timeout)

    @classmethod
    def engineio(cls, ping_interval: float = 25.0, ping_timeout: float = 20.0) -> Heartbeat:
        """Engine.IO v4: server ``2``, answer ``3``; dead after ping_interval + ping_timeout
        (the protocol's own ``pingInterval``/``pingTimeout``, in seconds)."""
        _seconds("engineio", ping_interval=ping_interval, ping_timeout=ping_timeout)
        return cls(
            server_payload="2", server_answer="3", silence_timeout=ping_interval + ping_timeout
        )

    @classmethod
    def idle_probe(
        cls,
        payload: Payload = "ping",
        *,
        interval: float = 10.0,
        reply_timeout: float = 11.0,
        idle: float | None = None,
    ) -> Heartbeat:
        """heartCheck: probe after ``interval`` s without inbound traffic; dead if
        nothing in ``reply_timeout`` s. (``idle``: deprecated alias of ``interval``.)"""
        interval = renamed("Heartbeat.idle_probe", "idle", "interval", idle, interval)
        return cls(interval=interval, payload=payload, idle_only=True, reply_timeout=reply_timeout)

    @classmethod
    def inbound_traffic(cls, silence_timeout: float) -> Heartbeat:
        """Send nothing: any inbound traffic proves life; dead after ``silence_timeout`` s."""
        return cls(silence_timeout=silence_timeout)

    @classmethod
    def disabled(cls) -> Heartbeat:
        """No heartbeat and no liveness deadline: only a dropped socket is noticed."""
        return cls()
