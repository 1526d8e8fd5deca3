"""A WebSocket server that enforces heartbeats (the Node ``ws`` isAlive pattern, for trio).

Every ``interval`` seconds the server runs one heartbeat *round* over all
connected clients: a client that has not answered since the previous round is
terminated (its stream aborted, no 60 s closing handshake), every other client
gets a heartbeat -- an RFC 6455 ping frame with a unique payload, or an
application message such as ``b"\\x01"`` that the client must echo. A client
that falls silent is therefore terminated within ``2 * interval``.

Example (a chat room)::

    async def chat(client: ServerClient) -> None:
        async for message in client:
            await server.broadcast(message, exclude=client.id)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(serve_heartbeat, chat, "127.0.0.1", 8080, heartbeat=ServerHeartbeat.ping())
        )

Each client runs in the server's nursery: the WebSocket engine's reader, a
task that keeps reading messages (so pongs are processed even when the handler
is busy; up to ``max_pending_messages`` unread messages are buffered, beyond
that the client is dropped), a writer task that sends the client's own queue
of outgoing messages (a slow consumer fills only its own queue:
``ServerOptions.full_queue`` says what ``broadcast()`` does then), a heartbeat
task, and the user's handler. The handler returning or raising closes that
client only (raising is logged and counted).

Who may connect: ``authorize`` sees each upgrade request (path, query, headers,
subprotocols) and returns ``Accept(subprotocol=..., data=...)`` or
``Reject(status, reason)``; ``validate`` sees each inbound message and raises
``InvalidMessage(reason, code)`` to close that client. Timeouts, limits and TLS
(``ssl_context``) are :class:`ServerOptions`.
"""

from trio_heartbeat.server._client import ClientEnd, ClientInfo, ServerClient
from trio_heartbeat.server._config import (
    FullQueue,
    ServerHeartbeat,
    ServerOptions,
    ServerStatistics,
)
from trio_heartbeat.server._hooks import Accept, InvalidMessage, Reject, UpgradeRequest
from trio_heartbeat.server._serve import open_heartbeat_server, serve_heartbeat
from trio_heartbeat.server._server import HeartbeatServer

__all__ = [
    "Accept",
    "ClientEnd",
    "ClientInfo",
    "FullQueue",
    "HeartbeatServer",
    "InvalidMessage",
    "Reject",
    "ServerClient",
    "ServerHeartbeat",
    "ServerOptions",
    "ServerStatistics",
    "UpgradeRequest",
    "open_heartbeat_server",
    "serve_heartbeat",
]
