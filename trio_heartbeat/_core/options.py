"""Per-connection options that are neither heartbeat nor reconnect policy."""

from __future__ import annotations

import enum
import ssl

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.endpoint import check_proxy_url
from trio_heartbeat._core.redact import redact_headers, redact_to_origin
from trio_heartbeat.errors import UsageError

__all__ = ["ConnectionOptions", "Overflow", "PerMessageDeflate", "Transport"]


class Overflow(enum.Enum):
    """What ``send()`` does when the outgoing buffer is full."""

    RAISE = "raise"  #: raise SendBufferFull; nothing is dropped
    DROP_OLDEST = "drop_oldest"  #: drop the oldest buffered message, count it, emit MessagesDropped


class Transport(enum.Enum):
    """Which engine drives the WebSocket protocol of a link.

    All three pass the same test suite and the Autobahn client cases 1-7, 9,
    10. ``DIRECT`` (the default) frames messages with our own codec (C
    masking, one slice per message): the cheapest per message and per idle
    connection; ``WEBSOCKETS`` is the only one with compression (see the
    README's Performance section).
    """

    #: our frame codec (wsproto runs only the opening handshake), driven by the
    #: connection's own receiving task
    DIRECT = "direct"
    TRIO_WEBSOCKET = "trio-websocket"  #: trio-websocket, with its traps neutralised
    #: websockets' sans-I/O protocol (C masking) driven by the connection's own
    #: receiving task; offers permessage-deflate
    WEBSOCKETS = "websockets"


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

    client_max_window_bits: int | None = attrs.field(
        default=None, validator=v.optional(v.int_range(9, 15))
    )
    server_max_window_bits: int | None = attrs.field(
        default=None, validator=v.optional(v.int_range(8, 15))
    )
    client_no_context_takeover: bool = attrs.field(default=False, validator=v.instance_of(bool))
    server_no_context_takeover: bool = attrs.field(default=False, validator=v.instance_of(bool))
    compress_level: int = attrs.field(default=6, validator=v.int_range(0, 9))
    mem_level: int = attrs.field(default=5, validator=v.int_range(1, 9))


@attrs.frozen(kw_only=True)
class ConnectionOptions:
    """Buffers, limits and handshake details of a managed connection.

    - ``send_buffer_size``: messages that may wait for a connection; beyond it
      ``overflow`` decides (default: raise ``SendBufferFull``).
    - ``receive_buffer_size``: application messages held while the application
      is not reading. While it is full the connection stops reading (TCP
      back-pressure) and the liveness deadline is suspended, since the silence
      is ours, not the peer's.
    - ``max_message_size``: inbound messages larger than this (payload
      bytes, judged from the frame headers before the payload is read, or
      while inflating it with compression; characters of text with
      ``TRIO_WEBSOCKET``) end the link: close 1009 is
      sent and a ``MessageTooBig``
      (a counted protocol error) is retried by the reconnect policy like any
      broken frame; the message itself is lost.
    - ``connect_timeout``: seconds each connection attempt's opening may take
      (dial, TLS and HTTP upgrade together); else it fails with ``ConnectTimeout``.
    - ``close_timeout``: seconds a graceful close may take before the socket is
      aborted.
    - ``unconfirmed_window``: at most this many messages written to the link
      may await a heartbeat reply that confirms them (a reply proves the peer's
      WebSocket stack read every message before its heartbeat). Nothing is
      forgotten: while the window is full the connection stops writing
      (back-pressure: ``send()`` waits once the send buffer is full too,
      ``send_nowait()`` queues under ``overflow``) until a reply confirms some.
      Once half a window was written since the last heartbeat, an extra
      heartbeat goes out at once to ask for that confirmation. Only heartbeats
      with replies confirm (ping frames, or ``payload`` with ``reply``); with
      any other style (``Heartbeat.disabled()``, ``inbound_traffic``,
      ``server_sent``...) nothing can prove what the peer read, so nothing is
      tracked: a message counts as delivered once written to the socket, there
      is no window, and ``Disconnected.unconfirmed`` is always empty. A peer
      that never answers heartbeats stalls writing once the window is full, and
      so does an application that stops reading: replies queue behind the
      messages waiting in a full receive buffer.
    - ``resend_unconfirmed``: when a link dies, re-send its unconfirmed messages
      first on the next link: at-least-once delivery, so the peer may see
      duplicates. Off by default: they are reported in the ``Disconnected``
      state change instead. Nothing to re-send with heartbeats without replies.
    - ``max_resends``: with ``resend_unconfirmed``, a message is re-sent at most
      this many times (written at most ``max_resends + 1`` times); one still
      unconfirmed after that is not re-sent again but reported in
      ``Disconnected.abandoned`` and counted in ``statistics().messages_abandoned``.
      This guarantees progress when every link dies before its first reply
      (otherwise the same window would be re-sent forever).
    - ``send_batch_size``: with a codec that batches (SockJS arrays), up to this
      many queued messages go out as one WebSocket message, order kept.
    - ``extra_headers``: sent with the upgrade request; their values never
      appear in a repr. Credentials in the URL are sent as Basic auth.
    - ``transport``: the protocol engine (see :class:`Transport`).
    - ``proxy``: the proxy every endpoint goes through unless it names its own
      (``http://``, ``https://``, ``socks5://``, ``socks5h://``; SOCKS needs the
      ``socks`` extra). None: detect it from the environment (``HTTPS_PROXY``,
      ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) unless
      ``proxy_from_environment`` is False.
    - ``compression``: offer permessage-deflate with these parameters (None,
      the default: no compression; it costs memory per connection and CPU per
      message). Needs ``transport=Transport.WEBSOCKETS``; ``UsageError`` otherwise.
    - ``max_unread_state_changes`` (at least 2: a change and the report of a
      gap before it): at most this many state changes wait unread in
      ``state_changes`` (an application that never reads them keeps
      a bounded history through any outage); later ones are not kept until the
      reader makes room, and a ``StateChangesDropped`` with their count stands
      where they were. ``GaveUp``, ``Closed`` and a ``Disconnected`` that hands
      back unconfirmed or abandoned messages are always kept.
    - ``send_rate``: at most this many application messages per second (None:
      unlimited), ``send_burst`` of them at once. Delays, never drops; never
      applies to heartbeats or to the on-connect step.
    """

    send_buffer_size: int = attrs.field(default=1024, validator=v.positive_int)
    overflow: Overflow = attrs.field(default=Overflow.RAISE, validator=v.instance_of(Overflow))
    receive_buffer_size: int = attrs.field(default=1024, validator=v.positive_int)
    max_message_size: int = attrs.field(default=1024 * 1024, validator=v.positive_int)
    connect_timeout: float = attrs.field(default=10.0, validator=v.positive)
    close_timeout: float = attrs.field(default=5.0, validator=v.positive)
    unconfirmed_window: int = attrs.field(default=1024, validator=v.positive_int)
    resend_unconfirmed: bool = attrs.field(default=False, validator=v.instance_of(bool))
    max_resends: int = attrs.field(default=3, validator=v.number(ge=0, integer=True))
    send_batch_size: int = attrs.field(default=1, validator=v.positive_int)
    max_unread_state_changes: int = attrs.field(default=256, validator=v.number(ge=2, integer=True))
    send_rate: float | None = attrs.field(default=None, validator=v.optional(v.positive))
    send_burst: int = attrs.field(default=1, validator=v.positive_int)
    subprotocols: tuple[str, ...] = attrs.field(
        default=(), converter=v.tuple_unless_str, validator=v.tuple_of(str)
    )
    extra_headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=v.header_pairs, validator=v.headers, repr=redact_headers
    )
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(ssl.SSLContext))
    )
    read_size: int = attrs.field(default=64 * 1024, validator=v.positive_int)
    transport: Transport = attrs.field(default=Transport.DIRECT, validator=v.instance_of(Transport))
    proxy: str | None = attrs.field(
        default=None,
        validator=check_proxy_url,
        repr=lambda url: "None" if url is None else repr(redact_to_origin(url)),
    )
    proxy_from_environment: bool = attrs.field(default=True, validator=v.instance_of(bool))
    compression: PerMessageDeflate | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(PerMessageDeflate))
    )

    def __attrs_post_init__(self) -> None:
        if self.compression is not None and self.transport is not Transport.WEBSOCKETS:
            raise UsageError(
                "ConnectionOptions.compression needs transport=Transport.WEBSOCKETS, "
                f"got {self.transport}"
            )
