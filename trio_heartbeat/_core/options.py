"""Per-connection options that are neither heartbeat nor reconnect policy."""

from __future__ import annotations

import enum
import ssl

import attrs
from attrs import validators as v

from trio_heartbeat._core.redact import redact_headers

__all__ = ["ConnectionOptions", "Overflow", "Transport"]


class Overflow(enum.Enum):
    """What ``send()`` does when the outgoing buffer is full."""

    RAISE = "raise"  #: raise SendBufferFull; nothing is dropped
    DROP_OLDEST = "drop_oldest"  #: drop the oldest buffered message, count it, emit MessagesDropped


class Transport(enum.Enum):
    """Which engine drives the WebSocket protocol of a link."""

    DIRECT = "direct"  #: wsproto driven by the connection's own receiving task (fastest)
    TRIO_WEBSOCKET = "trio-websocket"  #: trio-websocket, with its traps neutralised


_pos_int = [v.instance_of(int), v.gt(0)]


def _pos(inst: object, attr: attrs.Attribute[float], value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attr.name} must be a number > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ConnectionOptions:
    """Buffers, limits and handshake details of a managed connection.

    - ``send_buffer_size``: messages that may wait for a connection; beyond it
      ``overflow`` decides (default: raise ``SendBufferFull``).
    - ``receive_buffer_size``: application messages held while the application
      is not reading. While it is full the connection stops reading (TCP
      back-pressure) and the liveness deadline is suspended, since the silence
      is ours, not the peer's.
    - ``max_message_size``: inbound messages larger than this (bytes or
      characters) end the link: close 1009 is sent and a ``MessageTooBig``
      (a counted protocol error) is retried by the reconnect policy like any
      broken frame; the message itself is lost.
    - ``close_timeout``: seconds a graceful close may take before the socket is
      aborted.
    - ``resend_unconfirmed``: when a link dies, re-send the messages written
      after the last heartbeat reply (the peer may not have read them):
      at-least-once delivery, so the peer may see duplicates. Off by default:
      they are reported in the ``Disconnected`` state change instead.
    - ``send_batch_size``: with a codec that batches (SockJS arrays), up to this
      many queued messages go out as one WebSocket message, order kept.
    - ``extra_headers``: sent with the upgrade request; their values never
      appear in a repr. Credentials in the URL are sent as Basic auth.
    - ``transport``: the protocol engine (see :class:`Transport`).
    - ``send_rate``: at most this many application messages per second (None:
      unlimited), ``send_burst`` of them at once. Delays, never drops; never
      applies to heartbeats or to the on-connect step.
    """

    send_buffer_size: int = attrs.field(default=1024, validator=_pos_int)
    overflow: Overflow = attrs.field(default=Overflow.RAISE, validator=v.instance_of(Overflow))
    receive_buffer_size: int = attrs.field(default=1024, validator=_pos_int)
    max_message_size: int = attrs.field(default=1024 * 1024, validator=_pos_int)
    close_timeout: float = attrs.field(default=5.0, validator=_pos)
    resend_unconfirmed: bool = attrs.field(default=False, validator=v.instance_of(bool))
    send_batch_size: int = attrs.field(default=1, validator=_pos_int)
    send_rate: float | None = attrs.field(default=None, validator=v.optional(_pos))
    send_burst: int = attrs.field(default=1, validator=_pos_int)
    subprotocols: tuple[str, ...] = attrs.field(
        default=(), converter=tuple, validator=v.deep_iterable(v.instance_of(str))
    )
    extra_headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=tuple, repr=redact_headers
    )
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(ssl.SSLContext))
    )
    read_size: int = attrs.field(default=64 * 1024, validator=_pos_int)
    transport: Transport = attrs.field(default=Transport.DIRECT, validator=v.instance_of(Transport))
