"""Fifo (a list and a read position) behaves like a deque for what the queues use."""

from __future__ import annotations

import tracemalloc
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_heartbeat._client.fifo import Fifo
from trio_heartbeat._client.queues import Inbox, Outbox
from trio_heartbeat._core.options import Overflow

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers()),
        st.tuples(st.just("pop"), st.none()),
        st.tuples(st.just("front"), st.lists(st.integers(), max_size=5)),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=300,
)


@given(ops)
def test_a_fifo_agrees_with_a_deque(steps: list[tuple[str, object]]) -> None:
    fifo: Fifo[int] = Fifo()
    model: deque[int] = deque()
    for op, arg in steps:
        if op == "append":
            assert isinstance(arg, int)
            fifo.append(arg)
            model.append(arg)
        elif op == "pop":
            if model:
                assert fifo.popleft() == model.popleft()
            else:
                with pytest.raises(IndexError):
                    fifo.popleft()
        elif op == "front":
            assert isinstance(arg, list)
            fifo.put_front(arg)
            model.extendleft(reversed(arg))
        else:
            fifo.clear()
            model.clear()
        assert list(fifo) == list(model)
        assert len(fifo) == len(model)
        assert bool(fifo) == bool(model)


def test_a_popped_item_is_no_longer_referenced_and_the_list_is_compacted() -> None:
    fifo: Fifo[object] = Fifo()
    for n in range(1000):
        fifo.append(object())
        if n % 2:
            fifo.popleft()
    assert len(fifo) == 500
    assert len(fifo._items) <= 2 * 500 + 1  # read slots are reclaimed
    assert all(slot is None for slot in fifo._items[: fifo._head])


def test_empty_queues_are_small() -> None:
    """The two queues of an idle connection (there may be 10,000 of them)."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        queues = [(Inbox(100), Outbox(100, Overflow.RAISE)) for _ in range(200)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    per_connection = sum(d.size_diff for d in after.compare_to(before, "filename")) / len(queues)
    assert per_connection < 1024  # a deque and five parking lots each: about 3 KiB
