"""Walking exception trees: the one walk every layer uses (pure, no trio).

- :func:`leaf_exceptions` flattens exception groups;
- :func:`release_frames` lets go of what a kept exception's tracebacks hold.
"""

from __future__ import annotations

import contextlib
import itertools
from types import TracebackType

__all__ = ["leaf_exceptions", "release_frames"]

#: Exceptions :func:`release_frames` visits at most (a bound for hostile trees).
RELEASE_LIMIT = 256
#: This library's top-level package (see :func:`release_frames`).
OWN_PACKAGE = "trio_heartbeat"
#: Top-level packages the library runs links on: their frames are dropped from kept
#: tracebacks (what they held is the dead link). Never the application's.
DEPENDENCY_PACKAGES = (
    "trio",
    "trio_websocket",
    "wsproto",
    "h11",
    "websockets",
    "outcome",
)
#: Every package whose finished frames :func:`release_frames` lets go of.
LIBRARY_MODULES = (OWN_PACKAGE, *DEPENDENCY_PACKAGES)


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


def release_frames(error: BaseException, *, explained: bool) -> None:
    """Let go of what the tracebacks of ``error``, its causes, contexts and group
    members (at most :data:`RELEASE_LIMIT` exceptions) hold of the library.

    ``explained``: ``error`` is one of the library's own exceptions, whose type,
    message and chain say what failed (a refused connect, a lost link). Then
    every frame of this library and of trio and the engines is unlinked from the
    tracebacks: a finished frame keeps its function, and a nested function's
    closure (trio's connect attempts, for one) keeps sockets, nurseries and
    cancel scopes alive. Otherwise (an exception the library did not classify,
    perhaps a bug) the library's frames stay for the reader, locals cleared,
    and only the dependencies' frames go. The application's frames always stay
    as they are, locals and all (a debugger may want them).

    Call it only once every such frame has finished (a link's tasks, the attempt
    that opened it). Exceptions, messages and chains are kept. An exception kept
    in a state change is then a few objects, not the dead link: 1,000 clients
    failing attempts in a reconnect storm otherwise keep every attempt alive
    until ``state_changes`` is read, and the garbage collector's full passes
    grow with them.
    """
    seen: set[int] = set()
    stack = [error]
    while stack and len(seen) < RELEASE_LIMIT:
        exc = stack.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = _released(exc.__traceback__, keep_own=not explained)
        for linked in (exc.__cause__, exc.__context__):
            if linked is not None:
                stack.append(linked)
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)


def _released(tb: TracebackType | None, *, keep_own: bool) -> TracebackType | None:
    """``tb`` without the library's entries (``keep_own``: this library's stay, cleared)."""
    kept: list[TracebackType] = []
    while tb is not None:
        package = _package(tb)
        if package == OWN_PACKAGE:
            if keep_own:
                with contextlib.suppress(RuntimeError):  # a frame still running
                    tb.tb_frame.clear()
                kept.append(tb)
        elif package not in DEPENDENCY_PACKAGES:
            kept.append(tb)
        tb = tb.tb_next
    for entry, following in itertools.pairwise(kept):
        entry.tb_next = following
    if kept:
        kept[-1].tb_next = None
    return kept[0] if kept else None


def _package(tb: TracebackType) -> str:
    name = tb.tb_frame.f_globals.get("__name__", "")
    return name.partition(".")[0] if isinstance(name, str) else ""
