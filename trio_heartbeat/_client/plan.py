"""Asking the connect plan where the next attempt goes (the runtime half).

The pure decision is :func:`~trio_heartbeat._core.endpoint.next_endpoint`;
this module calls the application's factory when the plan has one (sync or
async), bounded by ``connect_timeout``, and classifies its failures like any
other failure of an attempt:

- a :class:`HeartbeatError` it raises is the attempt's error as it is (the
  policy decides: ``HandshakeRejected(401)`` stops by default, a
  ``ConnectError`` is retried);
- any other exception becomes a :class:`ConnectError` (retried), chained as
  its ``__cause__``, its message left out (it may carry a secret);
- a value that is neither an Endpoint nor a URL is a :class:`UsageError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import trio

from trio_heartbeat._core.endpoint import (
    AskFactory,
    ConnectPlan,
    Endpoint,
    Outcome,
    as_endpoint,
    next_endpoint,
)
from trio_heartbeat.errors import ConnectError, ConnectTimeout, HeartbeatError

__all__ = ["call_user", "choose_endpoint"]


async def choose_endpoint(
    plan: ConnectPlan,
    previous: Outcome | None,
    *,
    attempt: int,
    total_attempts: int,
    outage_elapsed: float,
    timeout: float,
) -> tuple[int | None, Endpoint]:
    """The plan's endpoint for the coming attempt, and its index in the plan's
    list (None when a factory gave it). Raises as described in the module docstring;
    :class:`ConnectTimeout` when the factory takes longer than ``timeout`` seconds.
    """
    decision = next_endpoint(
        plan,
        previous,
        attempt=attempt,
        total_attempts=total_attempts,
        outage_elapsed=outage_elapsed,
    )
    if not isinstance(decision, AskFactory):
        await trio.lowlevel.checkpoint()
        return decision.index, decision.endpoint
    assert plan.factory is not None
    try:
        with trio.fail_after(timeout):
            value = await call_user(plan.factory, decision.context, what="the connect plan")
    except trio.TooSlowError:
        raise ConnectTimeout(timeout) from None
    return None, as_endpoint(value)


async def call_user(function: Callable[..., object], *args: object, what: str) -> object:
    """``function(*args)``, awaited if it returns an awaitable; its failures classified.

    A :class:`HeartbeatError` passes as it is (the policy decides); any other
    exception becomes a :class:`ConnectError` naming ``what`` and the
    exception's type (not its message, which may carry a secret), with the
    original as ``__cause__``.
    """
    try:
        value = function(*args)
        if inspect.isawaitable(value):
            value = await value
    except HeartbeatError:
        raise
    except Exception as exc:
        raise ConnectError(f"{what} raised {type(exc).__name__}") from exc
    return value
