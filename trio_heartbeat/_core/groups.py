"""Flattening exception groups: the one walk every layer uses (pure, no trio)."""

from __future__ import annotations

__all__ = ["leaf_exceptions"]


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
