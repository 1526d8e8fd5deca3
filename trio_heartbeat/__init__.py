"""trio_heartbeat: WebSocket connections that stay honest, for trio.

Heartbeats, a liveness deadline, and reconnect with backoff, run as sibling
tasks in a nursery. See :func:`open_managed_websocket`.
"""

import logging as _logging

from trio_heartbeat._client.clock import HeartbeatClock, open_heartbeat_clock
from trio_heartbeat._client.connection import (
    LiveLink,
    ManagedWebSocket,
    OnConnect,
    open_managed_websocket,
)
from trio_heartbeat._core.codec import Codec, CodecFactory, PlainCodec
from trio_heartbeat._core.events import (
    Closed,
    Connected,
    Connecting,
    ConnectionStatistics,
    Disconnected,
    GaveUp,
    MessagesDropped,
    StateChange,
    WaitingToReconnect,
)
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.liveness import Liveness
from trio_heartbeat._core.options import ConnectionOptions, Overflow, PerMessageDeflate, Transport
from trio_heartbeat._core.reconnect import Backoff, CloseAction, ReconnectAfter, ReconnectPolicy
from trio_heartbeat._core.reconnect import GiveUp as GiveUpDecision
from trio_heartbeat.errors import (
    ConnectError,
    ConnectionClosedError,
    ConnectionLost,
    ConnectTimeout,
    HandshakeRejected,
    HeartbeatError,
    PeerUnresponsive,
    ReconnectGaveUp,
    RemoteProtocolError,
    RequestTimeout,
    SendBufferFull,
    SessionEnded,
    UsageError,
)

__version__ = "0.1.0"

# Library convention: silent unless the application configures logging.
_logging.getLogger("trio_heartbeat").addHandler(_logging.NullHandler())

__all__ = [
    "Backoff",
    "CloseAction",
    "Closed",
    "Codec",
    "CodecFactory",
    "ConnectError",
    "ConnectTimeout",
    "Connected",
    "Connecting",
    "ConnectionClosedError",
    "ConnectionLost",
    "ConnectionOptions",
    "ConnectionStatistics",
    "Disconnected",
    "GaveUp",
    "GiveUpDecision",
    "HandshakeRejected",
    "Heartbeat",
    "HeartbeatClock",
    "HeartbeatError",
    "LiveLink",
    "Liveness",
    "ManagedWebSocket",
    "MessagesDropped",
    "OnConnect",
    "Overflow",
    "PerMessageDeflate",
    "PlainCodec",
    "PeerUnresponsive",
    "ReconnectAfter",
    "ReconnectGaveUp",
    "ReconnectPolicy",
    "RemoteProtocolError",
    "RequestTimeout",
    "SendBufferFull",
    "SessionEnded",
    "StateChange",
    "Transport",
    "UsageError",
    "WaitingToReconnect",
    "open_heartbeat_clock",
    "open_managed_websocket",
]
