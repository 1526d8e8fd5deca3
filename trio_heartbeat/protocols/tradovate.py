"""The Tradovate flavour of SockJS, sans I/O.

Tradovate's WebSocket API speaks the server side of SockJS (see
:mod:`trio_heartbeat.protocols.sockjs`): frames ``o``, ``h``, ``a[...]``,
``c[...]``. The elements of an ``a`` frame are objects:

* responses ``{"s": 200, "i": 7, "d": {...}}`` (status, request id, optional data);
* events ``{"e": "props", "d": {...}}`` (name, optional data).

Client requests are not SockJS arrays but plain text ``url\\nid\\nquery\\nbody``;
the first one, right after ``o``, is ``authorize\\n0\\n\\n<token>`` (id 0, the token
as the raw body). Later requests take ids from a per-connection counter
starting at 1.

Heartbeat facts for a runtime: the client sends
:data:`CLIENT_HEARTBEAT_FRAME` (``"[]"``) every :data:`CLIENT_HEARTBEAT_INTERVAL`
(2.5 s) from the moment the socket opens; without it the server drops the
client after about :data:`SERVER_IDLE_TIMEOUT` (25 s). The server sends ``h``
frames, decoded as :class:`~trio_heartbeat.protocols.sockjs.SockJSHeartbeat`.

Malformed input from the server raises
:class:`~trio_heartbeat.errors.RemoteProtocolError` only; misuse raises
:class:`~trio_heartbeat.errors.UsageError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeGuard

import attrs

from trio_heartbeat.errors import UsageError
from trio_heartbeat.protocols._json import as_text, check_utf8, fail, json_dumps
from trio_heartbeat.protocols.sockjs import (
    CLIENT_HEARTBEAT_FRAME,
    DEFAULT_MAX_FRAME_SIZE,
    encode_server_messages,
)

__all__ = [
    "AUTHORIZE_ID",
    "CLIENT_HEARTBEAT_FRAME",
    "CLIENT_HEARTBEAT_INTERVAL",
    "SERVER_IDLE_TIMEOUT",
    "ClientHeartbeat",
    "Event",
    "Request",
    "RequestCorrelator",
    "RequestCounter",
    "RequestFailed",
    "Response",
    "decode_client_frame",
    "decode_item",
    "decode_items",
    "encode_authorize",
    "encode_request",
    "encode_server_frame",
]

#: Seconds between client heartbeats (``"[]"``), as Tradovate's tutorial sends them.
CLIENT_HEARTBEAT_INTERVAL: Final = 2.5
#: Seconds of client silence after which the server drops the connection (about).
SERVER_IDLE_TIMEOUT: Final = 25.0
#: The request id of the ``authorize`` request sent right after ``o``.
AUTHORIZE_ID: Final = 0


@attrs.frozen
class Response:
    """A response to request ``id``: HTTP-like ``status`` and ``data`` (None if absent)."""

    id: int
    status: int
    data: Any = None

    @property
    def ok(self) -> bool:
        """Whether ``status`` is 2xx."""
        return 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        """The wire object (``d`` omitted when ``data`` is None); for fake servers."""
        obj: dict[str, Any] = {"s": self.status, "i": self.id}
        if self.data is not None:
            obj["d"] = self.data
        return obj


@attrs.frozen
class Event:
    """A server-pushed event ``name`` (``props``, ``md``, ``shutdown``...) with ``data``."""

    name: str
    data: Any = None

    def to_json(self) -> dict[str, Any]:
        """The wire object (``d`` omitted when ``data`` is None); for fake servers."""
        obj: dict[str, Any] = {"e": self.name}
        if self.data is not None:
            obj["d"] = self.data
        return obj


@attrs.frozen
class Request:
    """A client request as the server sees it; ``body`` is the raw text."""

    url: str
    id: int
    query: str = ""
    body: str = ""


@attrs.frozen
class ClientHeartbeat:
    """The client's heartbeat frame (``[]`` or an empty frame), as the server sees it."""


@attrs.frozen
class RequestFailed:
    """Decision: request ``id`` will get no response; fail its waiter with ``error``."""

    id: int
    error: BaseException


# --------------------------------------------------------------------------- decoding


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_item(item: Any) -> Response | Event:
    """Decode one element of an ``a[...]`` frame.

    An object with ``i`` is a response (``i`` and ``s`` must be integers); one with
    ``e`` is an event (``e`` must be a string); ``d`` is optional. Unknown keys are
    ignored. Anything else raises RemoteProtocolError.
    """
    if not isinstance(item, dict):
        fail(f"Tradovate message must be a JSON object, got {type(item).__name__}")
    if "i" in item:
        request_id, status = item.get("i"), item.get("s")
        if not (_is_int(request_id) and _is_int(status)):
            fail(f"Tradovate response needs integer 'i' and 's', got {request_id!r}, {status!r}")
        return Response(request_id, status, item.get("d"))
    if "e" in item:
        name = item["e"]
        if not isinstance(name, str):
            fail(f"Tradovate event name must be a string, got {type(name).__name__}")
        return Event(name, item.get("d"))
    fail(f"Tradovate message is neither a response nor an event: keys {sorted(item)[:8]}")


def decode_items(items: Iterable[Any]) -> tuple[Response | Event, ...]:
    """Decode the items of a :class:`~trio_heartbeat.protocols.sockjs.SockJSMessages`."""
    return tuple(decode_item(item) for item in items)


def decode_client_frame(
    frame: str | bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> Request | ClientHeartbeat:
    """Server side: decode a client frame (for fake servers in tests).

    ``[]`` or an empty frame is the heartbeat; anything else must be
    ``url\\nid\\nquery\\nbody`` with a non-empty url and a decimal id (the body
    may contain newlines). Raises RemoteProtocolError otherwise.
    """
    text = as_text(frame, max_frame_size, "Tradovate request")
    if text in ("", CLIENT_HEARTBEAT_FRAME):
        return ClientHeartbeat()
    parts = text.split("\n", 3)
    if len(parts) != 4:
        fail(f"Tradovate request must have 4 newline-separated parts, got {len(parts)}")
    url, raw_id, query, body = parts
    if not url:
        fail("Tradovate request with an empty url")
    if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 18:
        fail(f"Tradovate request id must be a decimal integer, got {raw_id[:20]!r}")
    return Request(url, int(raw_id), query, body)


# --------------------------------------------------------------------------- encoding


def encode_request(url: str, request_id: int, *, query: str = "", body: Any = None) -> str:
    """Encode a request frame ``url\\nid\\nquery\\nbody``.

    ``body`` None gives an empty body, a ``str`` is sent as is (e.g. a token),
    anything else is JSON-encoded compactly. Raises UsageError for an empty url,
    a newline in ``url`` or ``query``, a negative or non-int id, or a body JSON
    cannot hold.
    """
    if not isinstance(url, str) or not url or "\n" in url:
        raise UsageError(f"Tradovate url must be a non-empty str without newlines: {url!r}")
    if not isinstance(query, str) or "\n" in query:
        raise UsageError(f"Tradovate query must be a str without newlines: {query!r}")
    if not _is_int(request_id) or request_id < 0:
        raise UsageError(f"Tradovate request id must be an int >= 0, got {request_id!r}")
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
    else:
        text = json_dumps(body, "Tradovate request body")
    frame = f"{url}\n{request_id}\n{query}\n{text}"
    check_utf8(frame, "Tradovate request")
    return frame


def encode_authorize(token: str) -> str:
    """Encode the first request after ``o``: ``authorize\\n0\\n\\n<token>``."""
    if not isinstance(token, str) or not token:
        raise UsageError("Tradovate access token must be a non-empty str")
    return encode_request("authorize", AUTHORIZE_ID, body=token)


def encode_server_frame(messages: Iterable[Response | Event]) -> str:
    """Server side: encode responses and events as one ``a[...]`` frame (for tests)."""
    return encode_server_messages([message.to_json() for message in messages])


# --------------------------------------------------------------------------- state


class RequestCounter:
    """Per-connection request ids: 1, 2, 3... (0 is reserved for ``authorize``)."""

    def __init__(self, *, start: int = 1) -> None:
        if not _is_int(start) or start < 0:
            raise UsageError(f"start must be an int >= 0, got {start!r}")
        self._next = start

    def next_id(self) -> int:
        """Return a fresh id and advance the counter."""
        request_id = self._next
        self._next += 1
        return request_id


class RequestCorrelator:
    """Pure bookkeeping of requests waiting for their response.

    The runtime registers each id it sends, feeds every decoded
    :class:`Response`, and on connection loss calls :meth:`fail_all` to learn
    which waiters to fail. Nothing here waits or times out.
    """

    def __init__(self) -> None:
        self._pending: dict[int, None] = {}  # insertion-ordered set

    @property
    def pending(self) -> tuple[int, ...]:
        """Ids still waiting, in registration order."""
        return tuple(self._pending)

    def register(self, request_id: int) -> None:
        """Mark ``request_id`` as waiting; UsageError if it already is."""
        if not _is_int(request_id):
            raise UsageError(f"request id must be an int, got {request_id!r}")
        if request_id in self._pending:
            raise UsageError(f"request id {request_id} is already pending")
        self._pending[request_id] = None

    def feed(self, response: Response) -> Response | None:
        """Match a response: return it (no longer pending) or None for an unknown id.

        An unknown id is a late answer to a cancelled request or a stray; the
        runtime may log and ignore it.
        """
        if response.id not in self._pending:
            return None
        del self._pending[response.id]
        return response

    def cancel(self, request_id: int) -> bool:
        """Stop waiting for ``request_id`` (e.g. its caller timed out); True if it was pending."""
        if request_id not in self._pending:
            return False
        del self._pending[request_id]
        return True

    def fail_all(self, error: BaseException) -> tuple[RequestFailed, ...]:
        """The connection is lost: forget every pending id and say which waiters to fail."""
        failed = tuple(RequestFailed(request_id, error) for request_id in self._pending)
        self._pending.clear()
        return failed
