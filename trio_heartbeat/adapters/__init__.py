"""Protocol adapters: managed connections that speak SockJS, Tradovate, Engine.IO
and Socket.IO on top of :func:`trio_heartbeat.open_managed_websocket`.

Each module pairs a wire codec from :mod:`trio_heartbeat.protocols` with the
protocol's own heartbeat and handshake; import the one you need, e.g.
``from trio_heartbeat.adapters.sockjs import open_sockjs``. What they share --
:class:`ManagedArguments` (the core keywords every adapter passes through) and
:class:`ProtocolSession` (codec factory plus on-connect step, owner of
``open_timeout``) and :func:`open_protocol_websocket` (the one call that joins
them to ``open_managed_websocket``) -- is here for writing an adapter of your own.
"""

from trio_heartbeat.adapters._base import (
    DEFAULT_OPEN_TIMEOUT,
    ManagedArguments,
    ProtocolSession,
    open_protocol_websocket,
)

__all__ = ["DEFAULT_OPEN_TIMEOUT", "ManagedArguments", "ProtocolSession", "open_protocol_websocket"]
