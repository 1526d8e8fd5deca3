"""The pure resume tracker: positions delivered and accepted, duplicates dropped."""

from __future__ import annotations

import pytest

from trio_heartbeat import Resume
from trio_heartbeat._core.resume import ResumeTracker


def seq(message: str | bytes) -> int | None:
    text = message.decode() if isinstance(message, bytes) else message
    return int(text[4:]) if text.startswith("seq:") else None


def test_duplicates_at_or_before_the_accepted_position_are_dropped() -> None:
    tracker = ResumeTracker(Resume(position_of=seq))
    assert [tracker.admit(f"seq:{n}") for n in (1, 2, 3)] == [True, True, True]
    assert tracker.accepted == 3 and tracker.delivered is None
    assert [tracker.admit(f"seq:{n}") for n in (2, 3, 4)] == [False, False, True]
    assert tracker.duplicates_dropped == 2 and tracker.accepted == 4


def test_delivered_follows_what_the_application_got() -> None:
    tracker = ResumeTracker(Resume(position_of=seq))
    for n in (1, 2, 3):
        tracker.admit(f"seq:{n}")
    tracker.deliver("seq:1")
    tracker.deliver("hello")  # no position: the delivered mark stays
    assert tracker.delivered == 1 and tracker.accepted == 3


def test_messages_without_a_position_always_pass() -> None:
    tracker = ResumeTracker(Resume(position_of=seq))
    assert tracker.admit("seq:5")
    assert tracker.admit("welcome") and tracker.admit("welcome")
    assert tracker.duplicates_dropped == 0


def test_start_position_drops_what_was_processed_before() -> None:
    tracker = ResumeTracker(Resume(position_of=seq, start=10))
    assert tracker.delivered == 10
    assert not tracker.admit("seq:10")
    assert tracker.admit("seq:11")
    assert tracker.duplicates_dropped == 1


def test_a_failing_extractor_delivers_and_counts_never_drops() -> None:
    def broken(message: str | bytes) -> int | None:
        raise ValueError("bad message")

    tracker = ResumeTracker(Resume(position_of=broken))
    assert tracker.admit("x") and tracker.admit("x")
    tracker.deliver("x")
    assert tracker.unreadable == 2 and tracker.duplicates_dropped == 0
    assert tracker.delivered is None


def test_tuple_positions_order_epoch_then_offset() -> None:
    def epoch_offset(message: str | bytes) -> tuple[int, int]:
        epoch, offset = str(message).split("/")
        return int(epoch), int(offset)

    tracker = ResumeTracker(Resume(position_of=epoch_offset))
    assert tracker.admit("1/9")
    assert not tracker.admit("1/8")
    assert tracker.admit("2/0")  # a new epoch starts over at a higher position


def test_position_of_must_be_callable() -> None:
    with pytest.raises(TypeError):
        Resume(position_of=3)  # type: ignore[arg-type]
