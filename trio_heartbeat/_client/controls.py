"""What an application does to a live connection beyond send and receive.

Mixed into :class:`~trio_heartbeat._client.connection.ManagedWebSocket`:
``probe_now()`` and ``reconnect_now()`` (for applications that learn of a
network change themselves) and ``resume_position`` (see ``Resume``).
"""

from __future__ import annotations

from typing import Any

from trio_heartbeat._client.queues import Inbox
from trio_heartbeat._client.session import LinkSession
from trio_heartbeat._client.suspend import WakeControl
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.events import ConnectionState

__all__ = ["LinkControls"]


class LinkControls:
    """Probe, reconnect at once, and the resume position of a managed connection."""

    __slots__ = ()

    _inbox: Inbox
    _session: LinkSession | None
    _state: ConnectionState
    _wake: WakeControl

    def _check_usable(self) -> None:
        raise NotImplementedError

    @property
    def resume_position(self) -> Any:
        """The position of the last message delivered to the application (with
        ``resume=``; None before the first one or without it): persist it to
        resume after a restart with ``Resume(start=...)``."""
        tracker = self._inbox.resume
        return tracker.delivered if tracker is not None else None

    def probe_now(self, timeout: float = 2.0) -> bool:
        """Verify at once that the link is alive (after a network change, say): an
        RFC 6455 ping whose pong must come within ``timeout`` s, else the link is
        dropped (:class:`PeerUnresponsive`) and reconnected at once, buffered
        messages kept. Does not wait; returns False when no link is up."""
        v.argument("probe_now(timeout=...)", v.positive, timeout)
        session = self._session
        if session is None or self._state is not ConnectionState.CONNECTED:
            return False
        return session.start_probe(timeout, "requested")

    def reconnect_now(self, code: int | None = None, reason: str = "") -> None:
        """Drop the link or end the backoff wait, and reconnect at once, buffered
        messages kept; nothing while an attempt is under way.

        The link is aborted (:class:`ConnectionLost` 1006), or with ``code``
        closed politely with that close code and ``reason`` (within
        ``options.close_timeout``). Raises :class:`UsageError` for a code that
        may not be sent, and the terminal error after close or give-up.
        """
        v.argument("reconnect_now(code=...)", v.optional(v.close_code), code)
        self._check_usable()
        if self._state is ConnectionState.CONNECTING:
            return  # an attempt is already under way
        self._wake.reconnect_at_once()
        if self._session is not None:
            self._session.end_for_reconnect(code, reason)
