"""SockJS framing over a WebSocket, sans I/O.

A framed SockJS WebSocket (``ws://host/<prefix>/<server>/<session>/websocket``)
carries text frames. The server sends::

    o                   open, always the first frame, exactly once
    h                   heartbeat
    a["m1","m2"]        a JSON array of messages (Tradovate: objects, not strings)
    c[3000,"Go away!"]  close; the socket closes afterwards

and the client sends JSON arrays of strings (``["m1","m2"]``). The server ignores
an empty frame or ``[]``, which is why ``[]`` works as a client heartbeat.

Everything here is pure: functions and a small decoder object take ``str`` or
``bytes`` and return frozen event objects. Malformed input from the peer raises
:class:`~trio_heartbeat.errors.RemoteProtocolError` and nothing else; misuse of
the encoders raises :class:`~trio_heartbeat.errors.UsageError`.

Heartbeat facts for a runtime:

* the client may send :data:`CLIENT_HEARTBEAT_FRAME` (``"[]"``) at any time; the
  server ignores it (Tradovate requires it every 2.5 s, see
  :mod:`trio_heartbeat.protocols.tradovate`);
* the server's own heartbeat is :data:`SERVER_HEARTBEAT_FRAME` (``"h"``), decoded
  as :class:`SockJSHeartbeat`; sockjs-node sends it every
  :data:`SERVER_HEARTBEAT_DELAY` seconds on streaming transports (on the framed
  WebSocket it sends RFC 6455 pings instead, which the WebSocket layer answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from trio_heartbeat.errors import UsageError
from trio_heartbeat.protocols._json import as_text, check_max_size, fail, json_dumps, json_loads

__all__ = [
    "CLIENT_HEARTBEAT_FRAME",
    "DEFAULT_MAX_FRAME_SIZE",
    "OPEN_FRAME",
    "SERVER_HEARTBEAT_DELAY",
    "SERVER_HEARTBEAT_FRAME",
    "SockJSClose",
    "SockJSDecoder",
    "SockJSEvent",
    "SockJSHeartbeat",
    "SockJSMessages",
    "SockJSOpen",
    "batch_messages",
    "decode_client_frame",
    "decode_frame",
    "encode_close",
    "encode_messages",
    "encode_server_messages",
]

#: The client heartbeat: an empty message batch, ignored by the server.
CLIENT_HEARTBEAT_FRAME: Final = "[]"
#: The server heartbeat frame.
SERVER_HEARTBEAT_FRAME: Final = "h"
#: The server's open frame, always the first frame of a session.
OPEN_FRAME: Final = "o"
#: sockjs-node's default ``heartbeat_delay`` in seconds.
SERVER_HEARTBEAT_DELAY: Final = 25.0
#: Default bound on an incoming frame, in characters (text) or bytes (binary).
DEFAULT_MAX_FRAME_SIZE: Final = 1_000_000


@attrs.frozen
class SockJSOpen:
    """The server opened the session (frame ``o``)."""


@attrs.frozen
class SockJSHeartbeat:
    """The server's heartbeat (frame ``h``)."""


@attrs.frozen
class SockJSMessages:
    """A batch of messages (frame ``a[...]``), in the order the server sent them.

    ``items`` holds the decoded JSON elements: strings for plain SockJS,
    objects (``dict``) for Tradovate. The batch is never empty.
    """

    items: tuple[Any, ...]


@attrs.frozen
class SockJSClose:
    """The server closed the session (frame ``c[code,"reason"]``)."""

    code: int
    reason: str


SockJSEvent = SockJSOpen | SockJSHeartbeat | SockJSMessages | SockJSClose


# --------------------------------------------------------------------------- decoding


def decode_frame(
    frame: str | bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> SockJSEvent:
    """Decode one server frame without checking its place in the session.

    ``bytes`` are accepted if they are UTF-8 (servers send text frames).
    Raises RemoteProtocolError for an empty, oversized, non-UTF-8 or unknown
    frame, broken JSON, an empty or non-array ``a`` payload and a ``c`` payload
    that is not ``[int, str]``. Use :class:`SockJSDecoder` to also enforce that
    ``o`` comes first and only once.
    """
    text = as_text(frame, max_frame_size, "SockJS frame")
    if not text:
        fail("empty SockJS frame")
    kind, rest = text[0], text[1:]
    if kind in ("o", "h"):
        if rest:
            fail(f"SockJS {kind!r} frame with trailing data {rest[:40]!r}")
        return SockJSOpen() if kind == "o" else SockJSHeartbeat()
    if kind == "a":
        items = json_loads(rest, "SockJS 'a' frame")
        if not isinstance(items, list):
            fail(f"SockJS 'a' frame must hold a JSON array, got {type(items).__name__}")
        if not items:
            fail("SockJS 'a' frame with an empty array")
        return SockJSMessages(tuple(items))
    if kind == "c":
        payload = json_loads(rest, "SockJS 'c' frame")
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or isinstance(payload[0], bool)
            or not isinstance(payload[0], int)
            or not isinstance(payload[1], str)
        ):
            fail(f"SockJS 'c' frame must be c[code,\"reason\"], got {rest[:60]!r}")
        return SockJSClose(payload[0], payload[1])
    fail(f"unknown SockJS frame type {kind!r}")


class SockJSDecoder:
    """Per-connection decoder for server frames; enforces the session order.

    The first frame must be ``o`` and ``o`` may come only once; after ``c`` the
    session is over and any further frame is a protocol error. Each violation
    raises RemoteProtocolError; the decoder's state is unchanged by a failed
    :meth:`receive`.
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        check_max_size(max_frame_size)
        self.max_frame_size = max_frame_size
        self._opened = False
        self._closed = False

    @property
    def opened(self) -> bool:
        """Whether the ``o`` frame has been received."""
        return self._opened

    @property
    def closed(self) -> bool:
        """Whether the ``c`` frame has been received."""
        return self._closed

    def receive(self, frame: str | bytes) -> SockJSEvent:
        """Decode the next server frame (see :func:`decode_frame`)."""
        if self._closed:
            fail("SockJS frame received after the close frame")
        event = decode_frame(frame, max_frame_size=self.max_frame_size)
        if isinstance(event, SockJSOpen):
            if self._opened:
                fail("second SockJS open frame")
            self._opened = True
        elif not self._opened:
            fail(f"SockJS session must start with 'o', got {type(event).__name__}")
        elif isinstance(event, SockJSClose):
            self._closed = True
        return event


def decode_client_frame(
    frame: str | bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> tuple[str, ...]:
    """Server side: decode a client frame into its messages.

    An empty frame or ``[]`` (the client heartbeat) gives ``()``. Anything but
    a JSON array of strings raises RemoteProtocolError (sockjs-node closes with
    3000 "Broken framing." in that case). Meant for fake servers in tests.
    """
    text = as_text(frame, max_frame_size, "SockJS client frame")
    if not text:
        return ()
    items = json_loads(text, "SockJS client frame")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        fail("SockJS client frame must be a JSON array of strings")
    return tuple(items)


# --------------------------------------------------------------------------- encoding


def encode_messages(messages: Iterable[str]) -> str:
    """Client side: encode queued messages as one frame, order preserved.

    ``encode_messages(["m1", "m2"]) == '["m1","m2"]'``. An empty batch gives
    ``"[]"``, the heartbeat. Raises UsageError if an element is not a ``str`` or
    cannot be encoded as UTF-8.
    """
    batch = list(messages)
    for message in batch:
        if not isinstance(message, str):
            raise UsageError(f"SockJS messages must be str, got {type(message).__name__}")
    return json_dumps(batch, "SockJS message batch")


def batch_messages(messages: Sequence[str], *, max_frame_size: int) -> list[str]:
    """Client side: pack queued messages into as few frames as fit ``max_frame_size``.

    Frames hold consecutive messages, so concatenating the decoded frames gives
    ``messages`` back in order. ``max_frame_size`` counts characters. Raises
    UsageError if one message alone does not fit, or as :func:`encode_messages`.
    Returns ``[]`` for no messages.
    """
    check_max_size(max_frame_size)
    frames: list[str] = []
    current: list[str] = []
    size = 2  # the brackets
    for message in messages:
        encoded = encode_messages([message])
        item_size = len(encoded) - 2
        if item_size + 2 > max_frame_size:
            raise UsageError(
                f"a message of {item_size} encoded characters does not fit a frame of "
                f"{max_frame_size}"
            )
        extra = item_size + (1 if current else 0)
        if current and size + extra > max_frame_size:
            frames.append(encode_messages(current))
            current, size, extra = [], 2, item_size
        current.append(message)
        size += extra
    if current:
        frames.append(encode_messages(current))
    return frames


def encode_server_messages(items: Sequence[Any]) -> str:
    """Server side: encode an ``a[...]`` frame (for fake servers in tests).

    Raises UsageError for an empty batch or items JSON cannot hold.
    """
    if not items:
        raise UsageError("a SockJS 'a' frame needs at least one message")
    return "a" + json_dumps(list(items), "SockJS server messages")


def encode_close(code: int, reason: str) -> str:
    """Server side: encode a ``c[code,"reason"]`` frame (for fake servers in tests)."""
    if isinstance(code, bool) or not isinstance(code, int) or not isinstance(reason, str):
        raise UsageError("SockJS close needs an int code and a str reason")
    return "c" + json_dumps([code, reason], "SockJS close")
