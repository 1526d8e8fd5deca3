"""A first-in first-out list that costs little when empty (a list and a read position).

An empty ``collections.deque`` holds 0.6-0.8 KiB; a managed connection has
two queues, and a process may hold 10,000 connections. :class:`Fifo` keeps
its items in a list with the index of the oldest: appends and pops from the
front are O(1) amortized (the list is compacted once half of it is read).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["Fifo"]

T = TypeVar("T")

# Read slots kept before the list is compacted (then at least half is read).
_COMPACT_AFTER = 32


class Fifo(Generic[T]):
    """Append at the back, pop from the front, put back at the front."""

    __slots__ = ("_head", "_items")

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T | None] = list(items)
        self._head = 0

    def __len__(self) -> int:
        return len(self._items) - self._head

    def __bool__(self) -> bool:
        return len(self._items) > self._head

    def __iter__(self) -> Iterator[T]:
        return iter(self._items[self._head :])  # type: ignore[arg-type]  # all hold items

    def append(self, item: T) -> None:
        self._items.append(item)

    def popleft(self) -> T:
        """The oldest item, removed; ``IndexError`` when empty."""
        items, head = self._items, self._head
        if head >= len(items):
            raise IndexError("pop from an empty Fifo")
        item = items[head]
        items[head] = None  # the queue no longer keeps it alive
        head += 1
        if head == len(items):
            items.clear()
            head = 0
        elif head >= _COMPACT_AFTER and head * 2 >= len(items):
            del items[:head]
            head = 0
        self._head = head
        return item  # type: ignore[return-value]  # a slot at the head holds an item

    def put_front(self, items: Iterable[T]) -> None:
        """Put ``items`` before the oldest, in the order given."""
        self._items[self._head : self._head] = list(items)

    def clear(self) -> None:
        self._items.clear()
        self._head = 0
