"""Request/response bookkeeping shared by the Tradovate and Socket.IO clients.

A :class:`Waiters` table maps ids to :class:`Waiter` objects. The codec resolves
a waiter synchronously when the answer is decoded (so an answer is matched on
the link it arrived on); the link's on-connect context fails every waiter of
the link when it ends. Nothing here reads a clock: callers bound the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import trio

from trio_heartbeat.errors import RequestTimeout, UsageError

__all__ = ["RequestTimeout", "Waiter", "Waiters"]

T = TypeVar("T")


class Waiter(Generic[T]):
    """One pending answer: resolved with a value or failed with an exception, once."""

    def __init__(self) -> None:
        self._done = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def resolve(self, value: T) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> T:
        """The value, or raise the failure."""
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set together with _done


class Waiters(Generic[T]):
    """Pending answers by integer id."""

    def __init__(self) -> None:
        self._pending: dict[int, Waiter[T]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def register(self, key: int) -> Waiter[T]:
        if key in self._pending:
            raise UsageError(f"id {key} is already pending")
        waiter: Waiter[T] = Waiter()
        self._pending[key] = waiter
        return waiter

    def resolve(self, key: int, value: T) -> bool:
        """Resolve ``key``'s waiter; False for an unknown id (late or stray answer)."""
        waiter = self._pending.pop(key, None)
        if waiter is None:
            return False
        waiter.resolve(value)
        return True

    def discard(self, key: int) -> None:
        self._pending.pop(key, None)

    def fail_all(self, make_error: Callable[[], BaseException]) -> int:
        """Fail every pending waiter with ``make_error()`` (one instance each); how many."""
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.fail(make_error())
        return len(pending)
