"""Naming a server connection's peer for logs and ``ClientInfo.remote``.

(The stream wrapper the server watches its clients through is
:class:`trio_heartbeat._transport.server_engine.ServerStream`.)
"""

from __future__ import annotations

import trio

__all__ = ["describe_peer"]


def describe_peer(stream: trio.abc.Stream) -> str | None:
    """``"host:port"`` (``"[v6]:port"``) of a socket stream's peer, else None."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if not isinstance(stream, trio.SocketStream):
        return None
    try:
        peer = stream.socket.getpeername()
    except OSError:
        return None
    if not isinstance(peer, tuple) or len(peer) < 2:
        return str(peer) if peer else None
    host, port = str(peer[0]), peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
