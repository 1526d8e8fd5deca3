"""Renamed keywords: the old spellings still work, and warn at the caller's line."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

import trio_heartbeat as th
from trio_heartbeat.adapters.sockjs import sockjs_heartbeat
from trio_heartbeat.server import ServerHeartbeat
from trio_heartbeat.server._rounds import IsAliveRounds


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            lambda: th.Heartbeat.ping(interval=1.0, timeout=2.0),
            lambda: th.Heartbeat.ping(interval=1.0, reply_timeout=2.0),
            "Heartbeat.ping(timeout=...) is deprecated: use reply_timeout=...",
        ),
        (
            lambda: th.Heartbeat.talo(timeout=3.0),
            lambda: th.Heartbeat.talo(reply_timeout=3.0),
            "Heartbeat.talo(timeout=...) is deprecated: use reply_timeout=...",
        ),
        (
            lambda: th.Heartbeat.text("hb", interval=1.0, timeout=2.0),
            lambda: th.Heartbeat.text("hb", interval=1.0, reply_timeout=2.0),
            "Heartbeat.text(timeout=...) is deprecated: use reply_timeout=...",
        ),
        (
            lambda: th.Heartbeat.server_sent(interval=5.0, grace=2.0),
            lambda: th.Heartbeat.server_sent(interval=5.0, silence_timeout=7.0),
            "Heartbeat.server_sent(grace=...) is deprecated: use silence_timeout=interval + grace",
        ),
        (
            lambda: th.Heartbeat.idle_probe(idle=10.0, reply_timeout=11.0),
            lambda: th.Heartbeat.idle_probe(interval=10.0, reply_timeout=11.0),
            "Heartbeat.idle_probe(idle=...) is deprecated: use interval=...",
        ),
        (
            lambda: sockjs_heartbeat(interval=1.0, timeout=0.5),
            lambda: sockjs_heartbeat(interval=1.0, reply_timeout=0.5),
            "sockjs_heartbeat(timeout=...) is deprecated: use reply_timeout=...",
        ),
        (
            lambda: ServerHeartbeat(interval=5.0, any_traffic_counts=False),
            lambda: ServerHeartbeat(interval=5.0, any_traffic_proves_life=False),
            "ServerHeartbeat(any_traffic_counts=...) is deprecated: use any_traffic_proves_life",
        ),
        (
            lambda: ServerHeartbeat.ping(5.0, any_traffic_counts=False),
            lambda: ServerHeartbeat.ping(5.0, any_traffic_proves_life=False),
            "ServerHeartbeat.ping(any_traffic_counts=...) is deprecated",
        ),
        (
            lambda: ServerHeartbeat.binary(any_traffic_counts=False),
            lambda: ServerHeartbeat.binary(any_traffic_proves_life=False),
            "ServerHeartbeat.binary(any_traffic_counts=...) is deprecated",
        ),
        (
            lambda: ServerHeartbeat.engineio(any_traffic_counts=False),
            lambda: ServerHeartbeat.engineio(any_traffic_proves_life=False),
            "ServerHeartbeat.engineio(any_traffic_counts=...) is deprecated",
        ),
    ],
)
def test_old_keyword_works_and_warns_at_the_caller(
    old: Callable[[], object], new: Callable[[], object], message: str
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        value = old()
    assert value == new()
    assert len(record) == 1
    assert str(record[0].message).startswith(message)
    assert record[0].filename == __file__  # stacklevel points at the caller's line


def test_the_new_keywords_do_not_warn() -> None:
    """pyproject's filterwarnings = ["error"] turns any warning here into a failure."""
    th.Heartbeat.ping(interval=1.0, reply_timeout=2.0)
    th.Heartbeat.server_sent(interval=5.0, silence_timeout=6.0)
    th.Heartbeat.idle_probe(interval=10.0)
    ServerHeartbeat.binary(any_traffic_proves_life=False)
    IsAliveRounds(any_traffic_proves_life=False)
    th.ReconnectPolicy(max_attempts=2)


def test_reconnect_policy_connect_timeout_works_and_warns() -> None:
    with pytest.warns(DeprecationWarning) as record:
        policy = th.ReconnectPolicy(connect_timeout=3.0)
    assert policy.connect_timeout == 3.0  # still overrides ConnectionOptions.connect_timeout
    assert str(record[0].message) == (
        "ReconnectPolicy(connect_timeout=...) is deprecated: "
        "use ConnectionOptions(connect_timeout=...)"
    )
    assert record[0].filename == __file__


def test_the_warning_skips_every_frame_of_the_library() -> None:
    """A preset built on the constructor, and attrs' evolve, still point at this file."""
    with pytest.warns(DeprecationWarning) as record:
        policy = th.ReconnectPolicy.fixed(1.0, connect_timeout=2.0)
    assert [w.filename for w in record] == [__file__]
    with pytest.warns(DeprecationWarning) as record:
        assert attrs.evolve(policy, max_attempts=3).connect_timeout == 2.0
    assert [w.filename for w in record] == [__file__]


def test_server_sent_grace_and_silence_timeout_together_is_a_usage_error() -> None:
    with pytest.raises(th.UsageError, match="silence_timeout or grace, not both"):
        th.Heartbeat.server_sent(silence_timeout=6.0, grace=1.0)


def test_is_alive_rounds_old_keyword() -> None:
    with pytest.warns(DeprecationWarning, match=r"IsAliveRounds\(any_traffic_counts=") as record:
        rounds = IsAliveRounds(any_traffic_counts=False)
    assert record[0].filename == __file__
    rounds.add(1, now=0.0)
    rounds.run_round(now=1.0)
    rounds.traffic(1, now=1.5)  # traffic is not an answer any more
    assert rounds.run_round(now=2.0).terminate == (1,)


def test_server_heartbeat_old_attribute_reads_and_warns() -> None:
    heartbeat = ServerHeartbeat.ping(5.0, any_traffic_proves_life=False)
    with pytest.warns(DeprecationWarning, match="any_traffic_counts is deprecated") as record:
        assert heartbeat.any_traffic_counts is False
    assert record[0].filename == __file__
