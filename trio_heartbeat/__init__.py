"""trio_heartbeat: WebSocket connections that stay honest, for trio.

Heartbeats, a liveness deadline, and reconnect with backoff, run as sibling
tasks in a nursery. See :func:`open_managed_websocket`.
"""

import logging as _logging

from trio_heartbeat._client.clock import HeartbeatClock, open_heartbeat_clock
from trio_heartbeat._client.connection import (
    ConnectTarget,
    LiveLink,
    ManagedWebSocket,
    OnConnect,
    open_managed_websocket,
)
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.codec import Codec, CodecFactory, PlainCodec
from trio_heartbeat._core.endpoint import AttemptContext, Endpoint, EndpointFactory
from trio_heartbeat._core.events import (
    Closed,
    Connected,
    Connecting,
    ConnectionState,
    ConnectionStatistics,
    Disconnected,
    GaveUp,
    MessagesDropped,
    StateChange,
    StateChangesDropped,
    Step,
    WaitingToReconnect,
)
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.liveness import Liveness
from trio_heartbeat._core.options import ConnectionOptions, Overflow, PerMessageDeflate, Transport
from trio_heartbeat._core.reconnect import (
    Backoff,
    CloseAction,
    ReconnectAfter,
    ReconnectPolicy,
    StopReconnecting,
)
from trio_heartbeat._core.resume import Resume
from trio_heartbeat._core.suspend import SuspendCheck
from trio_heartbeat.errors import (
    BadHandshake,
    ConnectError,
    ConnectionClosedError,
    ConnectionLost,
    ConnectTimeout,
    HandshakeRejected,
    HeartbeatError,
    MessageTooBig,
    PeerUnresponsive,
    ProxyRejected,
    ReconnectGaveUp,
    RemoteProtocolError,
    RequestTimeout,
    SendBufferFull,
    SessionEnded,
    TLSVerificationFailed,
    UsageError,
)

__version__ = "0.1.0"

GiveUpDecision = StopReconnecting
"""The former public name of :class:`StopReconnecting` (kept as an alias)."""

# Library convention: silent unless the application configures logging.
_logging.getLogger("trio_heartbeat").addHandler(_logging.NullHandler())

__all__ = [
    "AttemptContext",
    "BadHandshake",
    "Backoff",
    "CloseAction",
    "CloseCode",
    "Closed",
    "Codec",
    "CodecFactory",
    "ConnectError",
    "ConnectTarget",
    "ConnectTimeout",
    "Connected",
    "Connecting",
    "ConnectionClosedError",
    "ConnectionLost",
    "ConnectionOptions",
    "ConnectionState",
    "ConnectionStatistics",
    "Disconnected",
    "Endpoint",
    "EndpointFactory",
    "GaveUp",
    "GiveUpDecision",
    "HandshakeRejected",
    "Heartbeat",
    "HeartbeatClock",
    "HeartbeatError",
    "LiveLink",
    "Liveness",
    "ManagedWebSocket",
    "MessageTooBig",
    "MessagesDropped",
    "OnConnect",
    "Overflow",
    "PerMessageDeflate",
    "PlainCodec",
    "PeerUnresponsive",
    "ProxyRejected",
    "ReconnectAfter",
    "ReconnectGaveUp",
    "ReconnectPolicy",
    "RemoteProtocolError",
    "RequestTimeout",
    "Resume",
    "SendBufferFull",
    "SessionEnded",
    "StateChange",
    "StateChangesDropped",
    "Step",
    "StopReconnecting",
    "SuspendCheck",
    "TLSVerificationFailed",
    "Transport",
    "UsageError",
    "WaitingToReconnect",
    "open_heartbeat_clock",
    "open_managed_websocket",
]
