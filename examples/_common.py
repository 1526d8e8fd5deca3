"""Shared by the example scripts: the timeline printer and a clean Ctrl-C."""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

_t0 = 0.0


def say(who: str, text: str) -> None:
    """Print one timeline line: seconds since the start, who, what."""
    print(f"[{trio.current_time() - _t0:5.2f}s] {who:<8} {text}", flush=True)


async def _cancel_on_ctrl_c(
    scope: trio.CancelScope, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            scope.cancel()
            return


def run(main: Callable[[], Awaitable[bool]]) -> NoReturn:
    """Run ``main`` with trio and exit: 0 if it returned True, 1 if False, 130 on Ctrl-C.

    Ctrl-C cancels ``main``, so every ``async with`` in it closes its connections
    properly before the process exits.
    """

    async def guarded() -> bool | None:
        global _t0
        _t0 = trio.current_time()
        outcome: list[bool] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(_cancel_on_ctrl_c, nursery.cancel_scope)
            outcome.append(await main())
            nursery.cancel_scope.cancel()
        return outcome[0] if outcome else None

    ok: bool | None = None
    try:
        ok = trio.run(guarded)
    except* KeyboardInterrupt:  # Ctrl-C before the signal receiver was installed
        pass
    if ok is None:
        print("interrupted", file=sys.stderr)
    sys.exit(130 if ok is None else 0 if ok else 1)
