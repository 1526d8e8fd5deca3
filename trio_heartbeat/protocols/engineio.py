"""Engine.IO v4 over a WebSocket, sans I/O.

Connect to ``/engine.io/?EIO=4&transport=websocket`` (Socket.IO servers:
``/socket.io/``). Each WebSocket frame carries one packet: a text frame is
``<type digit><data>``, a binary frame is a message packet holding raw bytes::

    0{"sid":...,"pingInterval":25000,...}  open (first server frame, once)
    1                                       close
    2 / 2probe                              ping
    3 / 3probe                              pong
    4<text>                                 message (Socket.IO rides in here)
    5                                       upgrade
    6                                       noop

Heartbeat facts for a runtime: the *server* sends :data:`PING_FRAME` (``"2"``)
every ``ping_interval`` seconds and the client answers :data:`PONG_FRAME`
(``"3"``; :func:`encode_pong` echoes a ping's data). The client treats the link
as dead when no ping arrives within :attr:`EngineOpen.liveness_timeout`
(``ping_interval + ping_timeout`` seconds) after the open packet or the last
ping. The client never sends pings of its own.

Everything is pure. Malformed input from the peer raises
:class:`~trio_heartbeat.errors.RemoteProtocolError` only; misuse of the
encoders raises :class:`~trio_heartbeat.errors.UsageError`.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Final

import attrs

from trio_heartbeat._core.validate import positive_finite
from trio_heartbeat.errors import UsageError
from trio_heartbeat.protocols._json import (
    as_text,
    check_max_size,
    check_utf8,
    fail,
    json_dumps,
    json_loads,
)

__all__ = [
    "CLOSE_FRAME",
    "DEFAULT_MAX_PACKET_SIZE",
    "PING_FRAME",
    "PONG_FRAME",
    "EngineClose",
    "EngineDecoder",
    "EngineMessage",
    "EngineNoop",
    "EngineOpen",
    "EnginePacket",
    "EnginePing",
    "EnginePong",
    "EngineUpgrade",
    "PacketType",
    "decode_packet",
    "encode_message",
    "encode_packet",
    "encode_pong",
]

#: The server's heartbeat probe.
PING_FRAME: Final = "2"
#: The client's answer to :data:`PING_FRAME`.
PONG_FRAME: Final = "3"
#: A close packet (either side).
CLOSE_FRAME: Final = "1"
#: Default bound on an incoming packet, in characters (text) or bytes (binary);
#: the same as Engine.IO's default ``maxPayload``.
DEFAULT_MAX_PACKET_SIZE: Final = 1_000_000


class PacketType(enum.IntEnum):
    """Engine.IO packet type digits."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@attrs.frozen(kw_only=True)
class EngineOpen:
    """The server's open packet, with durations converted to float seconds.

    ``max_payload`` is the largest packet (bytes) the server accepts from us;
    ``upgrades`` the transports it offers (empty over a WebSocket).
    """

    sid: str
    ping_interval: float = attrs.field(converter=float, validator=positive_finite)
    ping_timeout: float = attrs.field(converter=float, validator=positive_finite)
    max_payload: int = 1_000_000
    upgrades: tuple[str, ...] = ()

    @property
    def liveness_timeout(self) -> float:
        """Seconds without a ping after which the client must consider the link dead."""
        return self.ping_interval + self.ping_timeout


@attrs.frozen
class EngineClose:
    """Close packet (``1``): the peer ends the Engine.IO session; no automatic retry
    is implied by the protocol, the runtime decides."""


@attrs.frozen
class EnginePing:
    """Ping (``2``); ``data`` is ``"probe"`` during transport upgrades, else empty."""

    data: str = ""


@attrs.frozen
class EnginePong:
    """Pong (``3``), echoing the ping's ``data``."""

    data: str = ""


@attrs.frozen
class EngineMessage:
    """Message (``4<text>`` or a binary frame): ``data`` is ``str`` or ``bytes``."""

    data: str | bytes


@attrs.frozen
class EngineUpgrade:
    """Upgrade packet (``5``)."""


@attrs.frozen
class EngineNoop:
    """Noop packet (``6``)."""


EnginePacket = (
    EngineOpen | EngineClose | EnginePing | EnginePong | EngineMessage | EngineUpgrade | EngineNoop
)


# --------------------------------------------------------------------------- decoding


def _millis(payload: dict[str, Any], key: str) -> float:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"Engine.IO open packet: {key!r} must be a number, got {value!r}")
    seconds = value / 1000.0
    if not (math.isfinite(seconds) and seconds > 0):
        fail(f"Engine.IO open packet: {key!r} must be positive and finite, got {value!r}")
    return seconds


def _decode_open(data: str) -> EngineOpen:
    payload = json_loads(data, "Engine.IO open packet")
    if not isinstance(payload, dict):
        fail("Engine.IO open packet must hold a JSON object")
    sid = payload.get("sid")
    if not isinstance(sid, str) or not sid:
        fail(f"Engine.IO open packet: 'sid' must be a non-empty string, got {sid!r}")
    ping_interval = _millis(payload, "pingInterval")
    ping_timeout = _millis(payload, "pingTimeout")
    max_payload = payload.get("maxPayload", 1_000_000)
    if isinstance(max_payload, bool) or not isinstance(max_payload, int) or max_payload < 0:
        fail(f"Engine.IO open packet: 'maxPayload' must be an int >= 0, got {max_payload!r}")
    upgrades = payload.get("upgrades", [])
    if not isinstance(upgrades, list) or not all(isinstance(u, str) for u in upgrades):
        fail("Engine.IO open packet: 'upgrades' must be a list of strings")
    return EngineOpen(
        sid=sid,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_payload=max_payload,
        upgrades=tuple(upgrades),
    )


def decode_packet(
    frame: str | bytes, *, max_packet_size: int = DEFAULT_MAX_PACKET_SIZE
) -> EnginePacket:
    """Decode one Engine.IO packet from a WebSocket frame, statelessly.

    ``bytes`` are a binary message. Raises RemoteProtocolError for an oversized
    or empty frame, an unknown type digit, trailing data on ``1``/``5``/``6``,
    and an open packet that is not a JSON object with a non-empty ``sid`` and
    positive ``pingInterval``/``pingTimeout`` (``maxPayload`` and ``upgrades``
    are optional). Use :class:`EngineDecoder` to also enforce the packet order.
    """
    if isinstance(frame, bytes | bytearray | memoryview):
        frame = bytes(frame)
        if len(frame) > max_packet_size:
            fail(f"Engine.IO binary packet of {len(frame)} bytes exceeds {max_packet_size}")
        return EngineMessage(frame)
    text = as_text(frame, max_packet_size, "Engine.IO packet")
    if not text:
        fail("empty Engine.IO packet")
    kind, data = text[0], text[1:]
    if kind == "4":
        return EngineMessage(data)
    if kind == "2":
        return EnginePing(data)
    if kind == "3":
        return EnginePong(data)
    if kind == "0":
        return _decode_open(data)
    if kind in ("1", "5", "6"):
        if data:
            fail(f"Engine.IO packet type {kind} with unexpected data {data[:40]!r}")
        if kind == "1":
            return EngineClose()
        return EngineUpgrade() if kind == "5" else EngineNoop()
    fail(f"unknown Engine.IO packet type {kind!r}")


class EngineDecoder:
    """Per-connection decoder for server packets; enforces the session order.

    The open packet must come first and only once; nothing may follow a close
    packet. Violations raise RemoteProtocolError; a failed :meth:`receive` leaves
    the state unchanged. After the open packet, :attr:`open_packet` holds it.
    """

    def __init__(self, *, max_packet_size: int = DEFAULT_MAX_PACKET_SIZE) -> None:
        check_max_size(max_packet_size)
        self.max_packet_size = max_packet_size
        self.open_packet: EngineOpen | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether a close packet has been received."""
        return self._closed

    def receive(self, frame: str | bytes) -> EnginePacket:
        """Decode the next server packet (see :func:`decode_packet`)."""
        if self._closed:
            fail("Engine.IO packet received after the close packet")
        packet = decode_packet(frame, max_packet_size=self.max_packet_size)
        if isinstance(packet, EngineOpen):
            if self.open_packet is not None:
                fail("second Engine.IO open packet")
            self.open_packet = packet
        elif self.open_packet is None:
            fail(f"Engine.IO session must start with an open packet, got {type(packet).__name__}")
        elif isinstance(packet, EngineClose):
            self._closed = True
        return packet


# --------------------------------------------------------------------------- encoding


def _millis_out(seconds: float) -> int | float:
    millis = seconds * 1000.0
    nearest = round(millis)
    return nearest if abs(millis - nearest) < 1e-6 else millis


def encode_packet(packet: EnginePacket) -> str | bytes:
    """Encode any packet as a WebSocket frame payload (``bytes`` for binary messages).

    Both sides use it: a client needs pongs, messages and close; a fake server
    (tests) needs open and ping too. Raises UsageError for data that cannot be
    sent (non-UTF-8 text, data on a type that carries none).
    """
    if isinstance(packet, EngineMessage):
        return encode_message(packet.data)
    if isinstance(packet, EnginePing | EnginePong):
        if not isinstance(packet.data, str):
            raise UsageError("Engine.IO ping/pong data must be str")
        digit = "2" if isinstance(packet, EnginePing) else "3"
        check_utf8(packet.data, "Engine.IO ping/pong data")
        return digit + packet.data
    if isinstance(packet, EngineOpen):
        payload = {
            "sid": packet.sid,
            "upgrades": list(packet.upgrades),
            "pingInterval": _millis_out(packet.ping_interval),
            "pingTimeout": _millis_out(packet.ping_timeout),
            "maxPayload": packet.max_payload,
        }
        return "0" + json_dumps(payload, "Engine.IO open packet")
    if isinstance(packet, EngineClose):
        return CLOSE_FRAME
    if isinstance(packet, EngineUpgrade):
        return "5"
    if isinstance(packet, EngineNoop):
        return "6"
    raise UsageError(f"not an Engine.IO packet: {packet!r}")


def encode_pong(data: str = "") -> str:
    """The answer to a ping carrying ``data``: ``"3" + data``."""
    if not isinstance(data, str):
        raise UsageError("Engine.IO pong data must be str")
    check_utf8(data, "Engine.IO pong data")
    return PONG_FRAME + data


def encode_message(data: str | bytes) -> str | bytes:
    """A message packet: ``"4" + text`` for ``str``; ``bytes`` go out unchanged as a
    binary frame. Raises UsageError for other types or non-UTF-8 text."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if not isinstance(data, str):
        raise UsageError(f"Engine.IO message must be str or bytes, got {type(data).__name__}")
    check_utf8(data, "Engine.IO message")
    return "4" + data
