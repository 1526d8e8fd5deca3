"""Pure (sans-I/O) codecs for the framings real services wrap around WebSocket messages.

* :mod:`~trio_heartbeat.protocols.sockjs` — SockJS frames ``o``/``h``/``a[...]``/``c[...]``;
* :mod:`~trio_heartbeat.protocols.tradovate` — Tradovate requests, responses, events
  and a request correlator, on top of SockJS;
* :mod:`~trio_heartbeat.protocols.engineio` — Engine.IO v4 packets over a WebSocket;
* :mod:`~trio_heartbeat.protocols.socketio` — Socket.IO v5 packets inside Engine.IO.

Nothing here imports trio, reads a clock or performs I/O: functions and small
decoder objects take ``str``/``bytes`` and return frozen attrs objects. Bad input
from the peer raises :class:`~trio_heartbeat.errors.RemoteProtocolError` and
nothing else; misuse raises :class:`~trio_heartbeat.errors.UsageError`.

The Tradovate ``Response``/``Event`` classes are re-exported here as
``TradovateResponse``/``TradovateEvent``.
"""

from __future__ import annotations

from trio_heartbeat.protocols import engineio, socketio, sockjs, tradovate
from trio_heartbeat.protocols.engineio import (
    EngineClose,
    EngineDecoder,
    EngineMessage,
    EngineNoop,
    EngineOpen,
    EnginePacket,
    EnginePing,
    EnginePong,
    EngineUpgrade,
)
from trio_heartbeat.protocols.socketio import (
    SioAck,
    SioConnect,
    SioConnectError,
    SioDecoder,
    SioDisconnect,
    SioEvent,
    SioPacket,
    is_server_disconnect,
)
from trio_heartbeat.protocols.sockjs import (
    SockJSClose,
    SockJSDecoder,
    SockJSEvent,
    SockJSHeartbeat,
    SockJSMessages,
    SockJSOpen,
)
from trio_heartbeat.protocols.tradovate import Event as TradovateEvent
from trio_heartbeat.protocols.tradovate import RequestCorrelator, RequestCounter, RequestFailed
from trio_heartbeat.protocols.tradovate import Response as TradovateResponse

__all__ = [
    "EngineClose",
    "EngineDecoder",
    "EngineMessage",
    "EngineNoop",
    "EngineOpen",
    "EnginePacket",
    "EnginePing",
    "EnginePong",
    "EngineUpgrade",
    "RequestCorrelator",
    "RequestCounter",
    "RequestFailed",
    "SioAck",
    "SioConnect",
    "SioConnectError",
    "SioDecoder",
    "SioDisconnect",
    "SioEvent",
    "SioPacket",
    "SockJSClose",
    "SockJSDecoder",
    "SockJSEvent",
    "SockJSHeartbeat",
    "SockJSMessages",
    "SockJSOpen",
    "TradovateEvent",
    "TradovateResponse",
    "engineio",
    "is_server_disconnect",
    "socketio",
    "sockjs",
    "tradovate",
]
