"""A client's opening: TLS, the WebSocket upgrade and the ``authorize`` step,
bounded by ``handshake_timeout``; counted and logged whatever the outcome."""

from __future__ import annotations

import logging

import attrs
import trio

from trio_heartbeat._transport.server_engine import (
    ServerLink,
    ServerStream,
    UpgradeAnswer,
    UpgradeAsked,
    open_server_link,
)
from trio_heartbeat.errors import ConnectError
from trio_heartbeat.server._config import Counters, ServerOptions
from trio_heartbeat.server._hooks import Accept, Authorize, Reject, UpgradeRequest, upgrade_answer

__all__ = ["Opened", "open_client"]

logger = logging.getLogger("trio_heartbeat.server")


@attrs.frozen
class Opened:
    """An accepted client: its link, its request and what ``authorize`` said."""

    link: ServerLink
    request: UpgradeRequest
    accept: Accept


async def open_client(
    nursery: trio.Nursery,
    watched: ServerStream,
    remote: str | None,
    *,
    options: ServerOptions,
    authorize: Authorize | None,
    counts: Counters,
) -> Opened | None:
    """Open one client on ``watched`` (the link's tasks run in ``nursery``).

    Returns None when it did not end in an accepted client: rejected by
    ``authorize`` (``counts.rejected``), or the peer left, timed out or sent
    no WebSocket upgrade (``counts.handshake_failures``). Never raises ours.
    """
    seen: list[tuple[UpgradeRequest, Accept | Reject]] = []

    async def decide(asked: UpgradeAsked) -> UpgradeAnswer:
        request = UpgradeRequest.from_asked(asked, remote)
        decision, answer = await _decide(authorize, request, counts)
        seen.append((request, decision))
        return answer

    timeout = options.handshake_timeout
    counts.handshaking += 1
    link: ServerLink | None = None
    why = f"it did not finish within {timeout:g} s"
    try:
        with trio.move_on_after(timeout):
            link = await open_server_link(
                nursery, watched, decide, max_message_size=options.max_message_size
            )
    except ConnectError as exc:
        why = str(exc)
    finally:
        counts.handshaking -= 1
    if seen and isinstance(reject := seen[0][1], Reject):
        counts.rejected += 1
        path = seen[0][0].path
        logger.info("upgrade from %s (path %s) rejected: HTTP %d", remote, path, reject.status)
        return None
    if link is None or not seen:
        counts.handshake_failures += 1
        logger.info("WebSocket handshake from %s failed: %s", remote, why)
        return None
    request, accept = seen[0]
    assert isinstance(accept, Accept)
    return Opened(link, request, accept)


async def _decide(
    authorize: Authorize | None, request: UpgradeRequest, counts: Counters
) -> tuple[Accept | Reject, UpgradeAnswer]:
    """Ask ``authorize``; a failing or misbehaving hook is a 500 (logged, counted)."""
    if authorize is None:
        return Accept(), UpgradeAnswer()
    try:
        decision = await authorize(request)
        return decision, upgrade_answer(decision, request)
    except Exception:
        counts.handler_errors += 1
        logger.exception(
            "authorize raised for an upgrade from %s (path %s)", request.remote, request.path
        )
        reject = Reject(500, "internal error")
        return reject, upgrade_answer(reject, request)
