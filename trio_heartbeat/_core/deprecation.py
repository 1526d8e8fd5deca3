"""Old spellings that still work: one way to accept them and say so.

A renamed keyword keeps its old name as an alias; using it emits a
``DeprecationWarning`` that points at the first line outside this library (and
outside attrs' generated ``__init__`` and ``evolve``): the application's call,
however many of our frames (a preset calling the constructor...) lie between.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TypeVar

import attrs

__all__ = ["renamed", "warn_renamed"]

T = TypeVar("T")

_OURS = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
    os.path.dirname(os.path.abspath(attrs.__file__)) + os.sep,
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(attrs.__file__))), "attr")
    + os.sep,
)


def _internal(filename: str) -> bool:
    return filename.startswith("<attrs generated") or os.path.abspath(filename).startswith(_OURS)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in :func:`warn_renamed` that names
    the first frame outside the library."""
    level, frame = 1, sys._getframe(1)  # warn_renamed's own frame is level 1
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    return level


def warn_renamed(old: str, new: str) -> None:
    """Warn (DeprecationWarning) that ``old`` is deprecated in favour of ``new``,
    pointing at the application's line."""
    warnings.warn(
        f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=_caller_stacklevel()
    )


def renamed(where: str, old: str, new: str, old_value: T | None, value: T) -> T:
    """``value``, or ``old_value`` (with a DeprecationWarning) when the caller used the old name.

    For a function ``where`` whose keyword ``old`` became ``new`` (``None``: not given).
    """
    if old_value is None:
        return value
    warn_renamed(f"{where}({old}=...)", f"{new}=...")
    return old_value
