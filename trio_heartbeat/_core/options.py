"""Per-connection options that are neither heartbeat nor reconnect policy."""

from __future__ import annotations

import enum
import ssl
from collections.abc import Callable

import attrs
from attrs import validators as v

__all__ = ["ConnectionOptions", "Overflow", "PerMessageDeflate", "Transport"]


class Overflow(enum.Enum):
    """What ``send()`` does when the outgoing buffer is full."""

    RAISE = "raise"  #: raise SendBufferFull; nothing is dropped
    DROP_OLDEST = "drop_oldest"  #: drop the oldest buffered message, count it, emit MessagesDropped


class Transport(enum.Enum):
    """Which engine drives the WebSocket protocol of a link.

    All three pass the same test suite and the Autobahn client cases 1-7, 9,
    10. ``WEBSOCKETS`` moves messages 1.3-3x cheaper and is the only one with
    compression; ``DIRECT`` (the default) holds up to 2 KiB less per idle
    connection and did better at 5,000 x 1 s heartbeats (see the README's
    Performance section).
    """

    DIRECT = "direct"  #: wsproto driven by the connection's own receiving task
    TRIO_WEBSOCKET = "trio-websocket"  #: trio-websocket, with its traps neutralised
    #: websockets' sans-I/O protocol (C masking) driven by the connection's own
    #: receiving task; offers permessage-deflate
    WEBSOCKETS = "websockets"


_pos_int = [v.instance_of(int), v.gt(0)]


def _window_bits(low: int) -> Callable[[object, attrs.Attribute[int | None], object], None]:
    """A validator: None, or an int within ``low``..15 (RFC 7692 window bits)."""

    def check(inst: object, attr: attrs.Attribute[int | None], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 15:
            raise ValueError(f"{attr.name} must be None or an int from {low} to 15, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class PerMessageDeflate:
    """The permessage-deflate offer (RFC 7692) of a connection.

    - ``client_max_window_bits``: the window (9-15, log2 of bytes) our compressor
      uses at most; None offers the parameter without a value, so that the
      server may choose (15 when it does not).
    - ``server_max_window_bits``: ask the server to compress with at most this
      window (8-15); None: the server chooses.
    - ``client_no_context_takeover`` / ``server_no_context_takeover``: reset
      the compression context after every message (less memory between
      messages, a worse ratio).
    - ``compress_level`` (0-9) and ``mem_level`` (1-9): zlib's settings for our
      compressor; ``mem_level`` 5 costs far less memory than zlib's 8.

    Decompression of an incoming message never produces more than
    ``ConnectionOptions.max_message_size`` bytes: a larger message closes the
    connection with 1009. A server that declines compression is fine: the
    connection opens uncompressed.
    """

    client_max_window_bits: int | None = attrs.field(default=None, validator=_window_bits(9))
    server_max_window_bits: int | None = attrs.field(default=None, validator=_window_bits(8))
    client_no_context_takeover: bool = attrs.field(default=False, validator=v.instance_of(bool))
    server_no_context_takeover: bool = attrs.field(default=False, validator=v.instance_of(bool))
    compress_level: int = attrs.field(default=6, validator=[v.instance_of(int), v.ge(0), v.le(9)])
    mem_level: int = attrs.field(default=5, validator=[v.instance_of(int), v.ge(1), v.le(9)])


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
      characters) close the connection with code 1009.
    - ``close_timeout``: seconds a graceful close may take before the socket is
      aborted.
    - ``resend_unconfirmed``: when a link dies, re-send the messages written
      after the last heartbeat reply (the peer may not have read them):
      at-least-once delivery, so the peer may see duplicates. Off by default:
      they are reported in the ``Disconnected`` state change instead.
    - ``send_batch_size``: with a codec that batches (SockJS arrays), up to this
      many queued messages go out as one WebSocket message, order kept.
    - ``transport``: the protocol engine (see :class:`Transport`).
    - ``compression``: offer permessage-deflate with these parameters (None,
      the default: no compression; it costs memory per connection and CPU per
      message). Needs ``transport=Transport.WEBSOCKETS``; ``ValueError`` otherwise.
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
    extra_headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=tuple)
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(ssl.SSLContext))
    )
    read_size: int = attrs.field(default=64 * 1024, validator=_pos_int)
    transport: Transport = attrs.field(default=Transport.DIRECT, validator=v.instance_of(Transport))
    compression: PerMessageDeflate | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(PerMessageDeflate))
    )

    def __attrs_post_init__(self) -> None:
        if self.compression is not None and self.transport is not Transport.WEBSOCKETS:
            raise ValueError(
                f"compression needs transport=Transport.WEBSOCKETS, not {self.transport}"
            )
