"""The framing seam: how application messages map onto WebSocket messages.

A codec is pure and per link (a new one for every connection, from the
factory given to ``open_managed_websocket(codec=...)``):

- ``decode(message)`` turns one inbound WebSocket message into zero or more
  application messages. It may raise :class:`RemoteProtocolError` (a bad frame:
  the link ends, the policy retries), :class:`ConnectionLost` (the protocol's
  own close frame, e.g. SockJS ``c[3000,"Go away!"]``: handled by the close-code
  table) or :class:`SessionEnded` (the server ended the session on purpose: no
  reconnect).
- ``encode(messages)`` turns one or more queued application messages (at most
  ``ConnectionOptions.send_batch_size``) into one WebSocket message.

Heartbeat traffic is matched before ``decode`` and never passes through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from trio_heartbeat.errors import UsageError

__all__ = ["Codec", "CodecFactory", "PlainCodec"]

Message = str | bytes


class Codec(Protocol):
    """Per-link framing between application messages and WebSocket messages."""

    def decode(self, message: Message) -> Iterable[Message]: ...

    def encode(self, messages: Sequence[Message]) -> Message: ...


CodecFactory = Callable[[], Codec]


class PlainCodec:
    """No framing: one WebSocket message is one application message."""

    def decode(self, message: Message) -> Iterable[Message]:
        return (message,)

    def encode(self, messages: Sequence[Message]) -> Message:
        if len(messages) != 1:
            raise UsageError("PlainCodec cannot batch messages: send_batch_size must be 1")
        return messages[0]
