"""The delivery ledger (pure) and the outbox's write counts, with no clock at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_heartbeat import ConnectionOptions, Heartbeat, Overflow
from trio_heartbeat._client.queues import Outbox
from trio_heartbeat._core.delivery import DeliveryLedger, confirms_delivery


def test_a_reply_confirms_what_was_written_before_its_heartbeat() -> None:
    ledger = DeliveryLedger(10)
    ledger.written("a")
    ledger.written("b")
    ledger.heartbeat_written(b"1")
    ledger.written("c")
    assert ledger.reply(b"1") is True
    assert ledger.take_unconfirmed() == (("c", 1),)


def test_a_later_reply_confirms_earlier_heartbeats_too() -> None:
    ledger = DeliveryLedger(10)
    ledger.written("a")
    ledger.heartbeat_written(b"1")
    ledger.written("b")
    ledger.heartbeat_written(b"2")
    ledger.written("c")
    ledger.reply(b"2")
    assert len(ledger) == 1
    ledger.reply(b"1")  # already covered: nothing changes
    assert ledger.take_unconfirmed() == (("c", 1),)


def test_an_unknown_token_confirms_nothing() -> None:
    ledger = DeliveryLedger(10)
    ledger.written("a")
    ledger.heartbeat_written(b"1")
    assert ledger.reply(b"zz") is True
    assert len(ledger) == 1


def test_a_full_window_refuses_writes_instead_of_forgetting() -> None:
    ledger = DeliveryLedger(3)
    for m in "abc":
        ledger.written(m)
    assert ledger.room == 0
    with pytest.raises(ValueError, match="window is full"):
        ledger.written("d")
    ledger.heartbeat_written(b"1")
    ledger.reply(b"1")
    assert ledger.room == 3
    assert ledger.take_unconfirmed() == ()


def test_a_probe_is_wanted_every_half_window() -> None:
    ledger = DeliveryLedger(4)
    ledger.written("a")
    assert not ledger.wants_probe()
    ledger.written("b")
    assert ledger.wants_probe()
    ledger.heartbeat_written(1, probe=True)
    assert not ledger.wants_probe()
    ledger.written("c")
    ledger.written("d")
    assert ledger.wants_probe()


def test_the_reply_to_a_probe_is_not_a_scheduled_reply() -> None:
    ledger = DeliveryLedger(4)
    ledger.heartbeat_written(1)
    ledger.written("a")
    ledger.heartbeat_written(2, probe=True)
    assert ledger.reply() is True  # the oldest: the scheduled heartbeat
    assert ledger.reply() is False  # then the probe
    assert ledger.reply() is True  # an unsolicited reply belongs to the schedule
    assert ledger.take_unconfirmed() == ()


def test_write_counts_are_kept() -> None:
    ledger = DeliveryLedger(4)
    ledger.written("a", 3)
    ledger.written("b")
    assert ledger.take_unconfirmed() == (("a", 3), ("b", 1))


@pytest.mark.parametrize(
    ("heartbeat", "confirms"),
    [
        (Heartbeat.ping(), True),
        (Heartbeat.talo(), True),
        (Heartbeat.text("hb", interval=1.0, reply_timeout=1.0), False),  # no reply expected
        (Heartbeat.disabled(), False),
        (Heartbeat.inbound_traffic(5.0), False),
        (Heartbeat.server_sent(), False),
        (Heartbeat.tradovate(), False),
    ],
)
def test_only_heartbeats_with_replies_confirm(heartbeat: Heartbeat, confirms: bool) -> None:
    assert confirms_delivery(heartbeat) is confirms


def test_window_and_resend_options_are_validated() -> None:
    assert ConnectionOptions().unconfirmed_window == 1024
    assert ConnectionOptions().max_resends == 3
    assert ConnectionOptions(max_resends=0).max_resends == 0
    with pytest.raises(ValueError):
        ConnectionOptions(unconfirmed_window=0)
    with pytest.raises(ValueError):
        ConnectionOptions(max_resends=-1)


def test_outbox_keeps_write_counts_of_put_back_messages() -> None:
    outbox = Outbox(10, Overflow.RAISE)
    outbox.put("new")
    outbox.put_back(("x", "y"), (2, 1))
    outbox.put_back(("w",))  # never written
    assert outbox.take() == ("w", 0)
    assert outbox.take_batch(2) == (("x", "y"), (2, 1))
    assert outbox.take() == ("new", 0)
    outbox.put_back(("new",), (0,))
    assert outbox.take() == ("new", 0)


def test_outbox_drop_oldest_drops_the_write_count_too() -> None:
    outbox = Outbox(2, Overflow.DROP_OLDEST)
    outbox.put_back(("x", "y"), (3, 2))
    assert outbox.put("z") == 1  # "x" dropped
    assert outbox.take_batch(5) == (("y", "z"), (2, 0))
    outbox.put_back(("a",), (1,))
    assert outbox.drain_all() == ("a",)
    outbox.put("b")
    assert outbox.take() == ("b", 0)


@given(st.lists(st.sampled_from(["write", "beat", "reply", "reply-oldest", "take"]), max_size=60))
def test_the_ledger_agrees_with_a_list_of_numbered_messages(steps: list[str]) -> None:
    """A model: every written message numbered, every heartbeat remembering the last number."""
    ledger = DeliveryLedger(1000)
    written: list[tuple[int, str]] = []
    beats: list[tuple[int, int]] = []  # (token, last number written before it)
    for i, step in enumerate(steps):
        if step == "write":
            ledger.written(f"m{i}")
            written.append((i, f"m{i}"))
        elif step == "beat":
            ledger.heartbeat_written(i)
            beats.append((i, written[-1][0] if written else -1))
        elif step.startswith("reply") and beats:
            token, upto = beats[-1 if step == "reply" else 0]
            ledger.reply(token if step == "reply" else None)
            del beats[: beats.index((token, upto)) + 1]
            written = [(n, m) for n, m in written if n > upto]
        elif step == "take":
            assert ledger.take_unconfirmed() == tuple((m, 1) for _, m in written)
            written, beats = [], []
        assert len(ledger) == len(written)
    assert ledger.take_unconfirmed() == tuple((m, 1) for _, m in written)
