"""Socket.IO v5 packets inside Engine.IO v4 messages, sans I/O.

A Socket.IO packet is the data of an Engine.IO message packet (``4...``)::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]

    0 CONNECT        client: 40 or 40{"token":...}; server: 40{"sid":...}
    1 DISCONNECT     41 (from the server: it ended the session, do not reconnect)
    2 EVENT          42["name",...] or 421["name"] (asks for ack 1)
    3 ACK            431[...]
    4 CONNECT_ERROR  44{"message":...}
    5 BINARY_EVENT   451-["name",{"_placeholder":true,"num":0}] + 1 binary frame
    6 BINARY_ACK     461-1[...] + 1 binary frame

The encoders here return complete Engine.IO frames, ready to send
(``encode_connect() == "40"``). :class:`SioDecoder` takes the data of each
Engine.IO message (``EngineMessage.data``: the text after ``4``, or the bytes
of a binary frame) and reassembles binary packets from their attachments.

Heartbeats belong to Engine.IO (:mod:`trio_heartbeat.protocols.engineio`);
Socket.IO adds one rule for the runtime: a DISCONNECT received from the server
(:func:`is_server_disconnect`) and a CONNECT_ERROR end the session for good,
with no automatic reconnect, while a lost transport may be retried.

Malformed input from the peer raises
:class:`~trio_heartbeat.errors.RemoteProtocolError` only; misuse of the
encoders raises :class:`~trio_heartbeat.errors.UsageError`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

import attrs

from trio_heartbeat.errors import UsageError
from trio_heartbeat.protocols._json import check_max_size, fail, json_dumps, json_loads

__all__ = [
    "DEFAULT_MAX_ATTACHMENTS",
    "RESERVED_EVENTS",
    "SioAck",
    "SioConnect",
    "SioConnectError",
    "SioDecoder",
    "SioDisconnect",
    "SioEvent",
    "SioPacket",
    "SioPacketType",
    "encode_ack",
    "encode_connect",
    "encode_disconnect",
    "encode_event",
    "encode_packet",
    "is_server_disconnect",
]

#: Event names the Socket.IO protocol keeps for itself; never sent as EVENT.
RESERVED_EVENTS: Final = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
#: Default bound on binary attachments per packet.
DEFAULT_MAX_ATTACHMENTS: Final = 64
_MAX_ID_DIGITS: Final = 15  # JavaScript numbers stay exact below 2**53


class SioPacketType(enum.IntEnum):
    """Socket.IO packet type digits."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@attrs.frozen
class SioConnect:
    """CONNECT: the client's request (``data`` = auth object or None) or the server's
    acceptance (``data`` = ``{"sid": ...}``)."""

    namespace: str = "/"
    data: dict[str, Any] | None = None

    @property
    def sid(self) -> str | None:
        """The session id in a server's CONNECT, if present."""
        sid = (self.data or {}).get("sid")
        return sid if isinstance(sid, str) else None


@attrs.frozen
class SioDisconnect:
    """DISCONNECT. Received by a client it means the server ended the session on
    purpose: the runtime must not reconnect automatically."""

    namespace: str = "/"


@attrs.frozen
class SioEvent:
    """EVENT ``name`` with ``args``; ``ack_id`` set when the sender wants an ACK.

    ``args`` may contain ``bytes`` (anywhere inside lists and dicts): such events
    travel as BINARY_EVENT with attachments.
    """

    name: str
    args: tuple[Any, ...] = ()
    namespace: str = "/"
    ack_id: int | None = None


@attrs.frozen
class SioAck:
    """ACK for the event that carried ``ack_id``; ``args`` may contain ``bytes``."""

    ack_id: int
    args: tuple[Any, ...] = ()
    namespace: str = "/"


@attrs.frozen
class SioConnectError:
    """CONNECT_ERROR: the server refused the namespace connection (do not retry
    blindly). ``data`` is ``{"message": ...}`` (v5) or a string (older servers)."""

    namespace: str = "/"
    data: Any = None

    @property
    def message(self) -> str:
        """The human-readable refusal reason, or ``""``."""
        if isinstance(self.data, str):
            return self.data
        if isinstance(self.data, dict) and isinstance(self.data.get("message"), str):
            return str(self.data["message"])
        return ""


SioPacket = SioConnect | SioDisconnect | SioEvent | SioAck | SioConnectError


def is_server_disconnect(packet: SioPacket, namespace: str = "/") -> bool:
    """Whether ``packet``, received by a client, ends ``namespace`` by the server's will
    (a DISCONNECT or CONNECT_ERROR). The runtime must not reconnect after it."""
    return isinstance(packet, SioDisconnect | SioConnectError) and packet.namespace == namespace


# --------------------------------------------------------------------------- decoding


@attrs.frozen
class _Header:
    kind: SioPacketType
    attachments: int
    namespace: str
    ack_id: int | None
    payload: Any  # decoded JSON; None when has_payload is False
    has_payload: bool


def _parse(text: str) -> _Header:
    if not text:
        fail("empty Socket.IO packet")
    if text[0] not in "0123456":
        fail(f"unknown Socket.IO packet type {text[0]!r}")
    kind = SioPacketType(int(text[0]))
    i = 1
    attachments = 0
    if kind in (SioPacketType.BINARY_EVENT, SioPacketType.BINARY_ACK):
        dash = text.find("-", i)
        digits = text[i:dash] if dash != -1 else ""
        if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_ID_DIGITS:
            fail(f"Socket.IO binary packet without a valid attachment count: {text[:40]!r}")
        attachments = int(digits)
        i = dash + 1
    namespace = "/"
    if text.startswith("/", i):
        comma = text.find(",", i)
        end = len(text) if comma == -1 else comma
        namespace = text[i:end]
        i = end + 1
    j = i
    while j < len(text) and "0" <= text[j] <= "9":
        j += 1
    ack_id: int | None = None
    if j > i:
        if j - i > _MAX_ID_DIGITS:
            fail(f"Socket.IO ack id too long: {text[i:j][:20]!r}...")
        ack_id = int(text[i:j])
    rest = text[j:]
    has_payload = bool(rest)
    payload = json_loads(rest, "Socket.IO packet") if has_payload else None
    return _Header(kind, attachments, namespace, ack_id, payload, has_payload)


def _check_event_array(payload: Any, has_payload: bool) -> tuple[str, tuple[Any, ...]]:
    if not has_payload or not isinstance(payload, list) or not payload:
        fail("Socket.IO EVENT needs a non-empty JSON array")
    name = payload[0]
    if not isinstance(name, str):
        fail(f"Socket.IO event name must be a string, got {type(name).__name__}")
    if name in RESERVED_EVENTS:
        fail(f"Socket.IO EVENT uses the reserved name {name!r}")
    return name, tuple(payload[1:])


def _build(header: _Header, attachments: list[bytes]) -> SioPacket:
    kind, payload, has_payload = header.kind, header.payload, header.has_payload
    if attachments:
        payload = _reconstruct(payload, attachments)
    if kind is SioPacketType.CONNECT:
        if has_payload and not isinstance(payload, dict):
            fail("Socket.IO CONNECT data must be a JSON object")
        return SioConnect(header.namespace, payload if has_payload else None)
    if kind is SioPacketType.DISCONNECT:
        if has_payload:
            fail("Socket.IO DISCONNECT carries no data")
        return SioDisconnect(header.namespace)
    if kind is SioPacketType.CONNECT_ERROR:
        if not has_payload or not isinstance(payload, dict | str):
            fail("Socket.IO CONNECT_ERROR data must be a JSON object or string")
        return SioConnectError(header.namespace, payload)
    if kind in (SioPacketType.EVENT, SioPacketType.BINARY_EVENT):
        name, args = _check_event_array(payload, has_payload)
        return SioEvent(name, args, header.namespace, header.ack_id)
    # ACK / BINARY_ACK
    if header.ack_id is None:
        fail("Socket.IO ACK without an ack id")
    if not has_payload or not isinstance(payload, list):
        fail("Socket.IO ACK data must be a JSON array")
    return SioAck(header.ack_id, tuple(payload), header.namespace)


def _reconstruct(value: Any, attachments: list[bytes]) -> Any:
    try:
        return _replace_placeholders(value, attachments)
    except RecursionError as exc:
        fail("Socket.IO binary packet nested too deeply", exc)


def _replace_placeholders(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, list):
        return [_replace_placeholders(item, attachments) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True and "num" in value:
            num = value["num"]
            if isinstance(num, bool) or not isinstance(num, int) or not 0 <= num < len(attachments):
                fail(f"Socket.IO placeholder refers to missing attachment {num!r}")
            return attachments[num]
        return {key: _replace_placeholders(item, attachments) for key, item in value.items()}
    return value


class SioDecoder:
    """Per-connection Socket.IO decoder; reassembles binary packets.

    Feed it the data of every Engine.IO message. :meth:`receive` returns the
    decoded packet, or None while a binary packet still waits for attachments.
    Raises RemoteProtocolError for malformed packets, for a text message while
    attachments are expected, for bytes when none are, and for more than
    ``max_attachments`` attachments. After an error the decoder drops any
    partial packet and can go on.
    """

    def __init__(self, *, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> None:
        check_max_size(max_attachments)
        self.max_attachments = max_attachments
        self._header: _Header | None = None
        self._buffers: list[bytes] = []

    @property
    def awaiting_attachments(self) -> int:
        """How many binary attachments the current packet still needs."""
        if self._header is None:
            return 0
        return self._header.attachments - len(self._buffers)

    def receive(self, data: str | bytes) -> SioPacket | None:
        """Decode the next Engine.IO message data (see the class docstring)."""
        if isinstance(data, bytes | bytearray | memoryview):
            if self._header is None:
                fail("binary Engine.IO message while no Socket.IO attachment is expected")
            self._buffers.append(bytes(data))
            if len(self._buffers) < self._header.attachments:
                return None
            header, buffers = self._header, self._buffers
            self._header, self._buffers = None, []
            return _build(header, buffers)
        if not isinstance(data, str):
            raise UsageError(f"expected str or bytes, got {type(data).__name__}")
        if self._header is not None:
            self._header, self._buffers = None, []
            fail("text Socket.IO packet while binary attachments were expected")
        header = _parse(data)
        if header.attachments > self.max_attachments:
            fail(
                f"Socket.IO packet announces {header.attachments} attachments "
                f"(limit {self.max_attachments})"
            )
        if header.attachments:
            # validate the JSON shape now, with placeholders standing in for buffers
            _build(header, [b""] * header.attachments)
            self._header = header
            return None
        return _build(header, [])


# --------------------------------------------------------------------------- encoding


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not namespace.startswith("/") or "," in namespace:
        raise UsageError(f"namespace must be a str starting with '/' without ',': {namespace!r}")


def _deconstruct(value: Any, buffers: list[bytes]) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        buffers.append(bytes(value))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(value, list | tuple):
        return [_deconstruct(item, buffers) for item in value]
    if isinstance(value, dict):
        return {key: _deconstruct(item, buffers) for key, item in value.items()}
    return value


def _deconstruct_args(values: list[Any], buffers: list[bytes]) -> Any:
    try:
        return _deconstruct(values, buffers)
    except RecursionError as exc:
        raise UsageError("Socket.IO arguments nested too deeply") from exc


def _check_ack_id(ack_id: int | None) -> None:
    if ack_id is None:
        return
    if isinstance(ack_id, bool) or not isinstance(ack_id, int) or not 0 <= ack_id < 10**15:
        raise UsageError(f"ack id must be an int in [0, 10**15), got {ack_id!r}")


def encode_packet(packet: SioPacket) -> tuple[str | bytes, ...]:
    """Encode any packet as Engine.IO frames: one text frame (``"4..."``) followed,
    for events and acks holding ``bytes``, by one binary frame per attachment.

    Raises UsageError for a bad namespace or ack id, a reserved event name, or
    data JSON cannot hold.
    """
    if not isinstance(packet, SioConnect | SioDisconnect | SioEvent | SioAck | SioConnectError):
        raise UsageError(f"not a Socket.IO packet: {packet!r}")
    _check_namespace(packet.namespace)
    prefix = "" if packet.namespace == "/" else packet.namespace + ","
    buffers: list[bytes] = []
    if isinstance(packet, SioConnect):
        if packet.data is not None and not isinstance(packet.data, Mapping):
            raise UsageError("Socket.IO CONNECT data must be a mapping")
        body = "" if packet.data is None else json_dumps(dict(packet.data), "CONNECT data")
        return (f"40{prefix}{body}",)
    if isinstance(packet, SioDisconnect):
        return (f"41{prefix}",)
    if isinstance(packet, SioConnectError):
        if not isinstance(packet.data, dict | str):
            raise UsageError("Socket.IO CONNECT_ERROR data must be a dict or str")
        return (f"44{prefix}{json_dumps(packet.data, 'CONNECT_ERROR data')}",)
    if isinstance(packet, SioEvent):
        if not isinstance(packet.name, str) or packet.name in RESERVED_EVENTS:
            raise UsageError(f"invalid Socket.IO event name {packet.name!r}")
        _check_ack_id(packet.ack_id)
        array = _deconstruct_args([packet.name, *packet.args], buffers)
        ack = "" if packet.ack_id is None else str(packet.ack_id)
        kind = SioPacketType.BINARY_EVENT if buffers else SioPacketType.EVENT
    else:
        if packet.ack_id is None:
            raise UsageError("Socket.IO ACK needs an ack id")
        _check_ack_id(packet.ack_id)
        array = _deconstruct_args(list(packet.args), buffers)
        ack = str(packet.ack_id)
        kind = SioPacketType.BINARY_ACK if buffers else SioPacketType.ACK
    count = f"{len(buffers)}-" if buffers else ""
    text = f"4{int(kind)}{count}{prefix}{ack}{json_dumps(array, 'Socket.IO arguments')}"
    return (text, *buffers)


def _single_frame(packet: SioPacket, what: str) -> str:
    frames = encode_packet(packet)
    if len(frames) != 1:
        raise UsageError(f"{what} with bytes arguments needs several frames: use encode_packet")
    frame = frames[0]
    assert isinstance(frame, str)
    return frame


def encode_connect(namespace: str = "/", auth: Mapping[str, Any] | None = None) -> str:
    """The client's CONNECT frame: ``"40"``, ``'40{"token":"x"}'``, ``"40/admin,"``."""
    if auth is not None and not isinstance(auth, Mapping):
        raise UsageError(f"Socket.IO auth must be a mapping, got {type(auth).__name__}")
    return _single_frame(SioConnect(namespace, None if auth is None else dict(auth)), "CONNECT")


def encode_disconnect(namespace: str = "/") -> str:
    """The DISCONNECT frame: ``"41"`` or ``"41/admin,"``."""
    return _single_frame(SioDisconnect(namespace), "DISCONNECT")


def encode_event(name: str, *args: Any, namespace: str = "/", ack_id: int | None = None) -> str:
    """An EVENT frame: ``encode_event("hi", 1) == '42["hi",1]'``; with ``ack_id=1``:
    ``'421["hi",1]'``. Arguments holding ``bytes`` need :func:`encode_packet`."""
    return _single_frame(SioEvent(name, args, namespace, ack_id), "EVENT")


def encode_ack(ack_id: int, *args: Any, namespace: str = "/") -> str:
    """An ACK frame: ``encode_ack(1, "ok") == '431["ok"]'``."""
    return _single_frame(SioAck(ack_id, args, namespace), "ACK")
