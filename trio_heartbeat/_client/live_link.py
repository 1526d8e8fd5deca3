"""What the on-connect step sees: :class:`LiveLink`, and the runner for both hook shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from trio_heartbeat._client.queues import Inbox
from trio_heartbeat._client.session import LinkSession
from trio_heartbeat._transport.links import Link
from trio_heartbeat._transport.pump import PumpedLink
from trio_heartbeat.errors import UsageError

__all__ = ["LiveLink", "OnConnect", "run_on_connect"]

Message = str | bytes
OnConnect = Callable[["LiveLink"], Awaitable[object] | AbstractAsyncContextManager[object]]
"""``on_connect(link)``: an async function, or a function returning an async
context manager that stays entered while the link is up."""


@asynccontextmanager
async def run_on_connect(hook: OnConnect | None, link: LiveLink) -> AsyncIterator[None]:
    """Run an on-connect ``hook`` of either shape and stay inside while the link lives.

    An async function is awaited on entry; an async context manager is entered
    on entry and exited when the ``async with`` ends (the link is lost).
    Adapters use it to chain a user's hook after their own step.
    """
    result = hook(link) if hook is not None else None
    if isinstance(result, AbstractAsyncContextManager):
        async with result:
            yield
        return
    if result is not None:
        await result
    yield


class LiveLink:
    """The live connection as the on-connect step sees it.

    ``send`` goes out at once (not buffered, not rate-limited); ``receive``
    returns the next application message (the application's own readers wait
    until the step is done). Both raise :class:`ConnectionLost` if the link
    drops; the step is then cancelled and the attempt counts as failed.
    """

    def __init__(self, link: Link, inbox: Inbox, attempt: int, session: LinkSession) -> None:
        self._link = link
        self._inbox = inbox
        self._session = session
        self.attempt = attempt

    @property
    def subprotocol(self) -> str | None:
        return self._link.subprotocol

    @property
    def resume_position(self) -> Any:
        """The position of the last message delivered to the application, to
        ask the server to replay from (None: nothing yet, or no ``resume=``)."""
        resume = self._inbox.resume
        return resume.delivered if resume is not None else None

    async def send(self, message: Message) -> None:
        await self._link.send(message)

    async def receive(self) -> Message:
        return await self._inbox.get_for_hook()

    def set_silence_timeout(self, seconds: float) -> None:
        """Declare this link dead after ``seconds`` without a sign of life.

        For protocols that announce their timing when a link opens (Engine.IO's
        pingInterval + pingTimeout). Applies to this link only; the heartbeat
        must have some deadline for a watchdog to exist (:class:`UsageError`
        with ``Heartbeat.disabled()``).
        """
        self._session.set_silence_timeout(seconds)

    def _stop_pongs_after(self, count: int) -> None:
        """Testing aid (the CLI's ``--stop-pongs-after``): answer ``count`` pings
        on this link in all, then none, so the server's heartbeat should drop it.

        Private: only the DIRECT and WEBSOCKETS engines support it (trio-websocket
        answers pings in its own reader task); :class:`UsageError` on another.
        """
        if not isinstance(self._link, PumpedLink):
            raise UsageError("stopping pongs needs Transport.DIRECT or Transport.WEBSOCKETS")
        self._link.stop_pongs_after(count)
