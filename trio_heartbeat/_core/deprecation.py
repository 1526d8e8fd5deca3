"""Old spellings that still work: one way to accept them and say so.

A renamed keyword keeps its old name as an alias; using it emits a
``DeprecationWarning`` that points at the caller's line, and the value is used
as if it had been given under the new name.
"""

from __future__ import annotations

import warnings
from typing import TypeVar

__all__ = ["renamed", "warn_renamed"]

T = TypeVar("T")


def warn_renamed(old: str, new: str, *, stacklevel: int = 2) -> None:
    """Warn that ``old`` is deprecated in favour of ``new``.

    ``stacklevel`` counts from the function that calls this one (2: its caller).
    """
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=stacklevel + 1)


def renamed(where: str, old: str, new: str, old_value: T | None, value: T, *, depth: int = 1) -> T:
    """``value``, or ``old_value`` (with a DeprecationWarning) when the caller used the old name.

    For a function ``where`` whose keyword ``old`` became ``new`` (``None``:
    not given); the warning points at the caller of ``where``, which is
    ``depth`` frames above the caller of this function.
    """
    if old_value is None:
        return value
    warn_renamed(f"{where}({old}=...)", f"{new}=...", stacklevel=2 + depth)
    return old_value
