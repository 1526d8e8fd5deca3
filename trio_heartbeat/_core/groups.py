"""Walking exception trees: the one walk every layer uses (pure, no trio).

- :func:`leaf_exceptions` flattens exception groups;
- :func:`release_frames` lets go of what a kept exception's tracebacks hold.
"""

from __future__ import annotations

import contextlib

__all__ = ["leaf_exceptions", "release_frames"]

#: Exceptions :func:`release_frames` visits at most (a bound for hostile trees).
RELEASE_LIMIT = 256
#: Top-level packages whose frames :func:`release_frames` clears: this library
#: and the ones it runs links on, never the application's.
LIBRARY_MODULES = (
    "trio_heartbeat",
    "trio",
    "trio_websocket",
    "wsproto",
    "h11",
    "websockets",
    "outcome",
)


def leaf_exceptions(error: BaseException) -> list[BaseException]:
    """Every non-group exception inside ``error``, depth first, in order.

    A plain exception is its own single leaf.
    """
    leaves: list[BaseException] = []
    stack = [error]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    return leaves


def release_frames(error: BaseException, modules: tuple[str, ...] = LIBRARY_MODULES) -> None:
    """Clear the local variables of the frames of ``modules`` (names, or their
    prefixes followed by a dot) in the tracebacks of ``error``, its causes,
    contexts and group members (at most :data:`RELEASE_LIMIT` exceptions).

    Call it only once every such frame has finished (a link's tasks, the
    attempt that opened it). The tracebacks still format (file, line,
    function): only the locals go, so an exception kept in a state change no
    longer keeps the dead link's streams, tasks and buffers alive. The
    application's own frames keep their locals (a debugger may want them).
    """
    seen: set[int] = set()
    stack = [error]
    while stack and len(seen) < RELEASE_LIMIT:
        exc = stack.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_globals.get("__name__", "")
            if isinstance(name, str) and name.partition(".")[0] in modules:
                with contextlib.suppress(RuntimeError):  # a frame still running
                    tb.tb_frame.clear()
            tb = tb.tb_next
        for linked in (exc.__cause__, exc.__context__):
            if linked is not None:
                stack.append(linked)
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
