"""The pure liveness machine, with explicit times (no clock at all)."""

import math

import pytest

from trio_heartbeat import Heartbeat, Liveness


def test_ping_cadence_and_reply_deadline() -> None:
    live = Liveness(Heartbeat.ping(interval=30.0, reply_timeout=10.0), connected_at=100.0)
    assert live.next_heartbeat_deadline() == 130.0
    assert live.dead_deadline() == math.inf  # nothing outstanding, no silence rule
    live.heartbeat_sent(130.0, token=b"1")
    assert live.dead_deadline() == 140.0
    assert live.next_heartbeat_deadline() == 160.0
    assert live.observe_reply(130.25, token=b"1") == pytest.approx(0.25)
    assert live.dead_deadline() == math.inf
    assert live.counts().answered == 1


def test_half_open_peer_dead_exactly_at_bound() -> None:
    live = Liveness(Heartbeat.ping(interval=30.0, reply_timeout=10.0), connected_at=0.0)
    live.heartbeat_sent(30.0, token=b"1")
    assert not live.is_dead(39.999)
    assert live.is_dead(40.0)
    assert live.dead_bound() == 10.0


def test_any_traffic_after_heartbeat_proves_life() -> None:
    live = Liveness(Heartbeat.ping(interval=1.0, reply_timeout=1.0), connected_at=0.0)
    live.heartbeat_sent(1.0, token=b"1")
    live.observe_traffic(1.5)
    assert live.dead_deadline() == math.inf
    # traffic from before the heartbeat does not answer it
    live.heartbeat_sent(2.0, token=b"2")
    live.observe_traffic(1.9)
    assert live.dead_deadline() == 3.0


def test_traffic_ignored_when_only_heartbeats_count() -> None:
    hb = Heartbeat(interval=1.0, reply_timeout=1.0, any_traffic_proves_life=False)
    live = Liveness(hb, connected_at=0.0)
    live.heartbeat_sent(1.0, token=b"1")
    live.observe_traffic(1.5)
    assert live.dead_deadline() == 2.0
    live.observe_reply(1.6, token=b"1")
    assert live.dead_deadline() == math.inf


def test_rtt_longer_than_interval_is_measured() -> None:
    live = Liveness(Heartbeat.ping(interval=1.0, reply_timeout=5.0), connected_at=0.0)
    live.heartbeat_sent(1.0, token=b"1")
    live.heartbeat_sent(2.0, token=b"2")
    assert live.next_heartbeat_deadline() == 3.0  # cadence goes on, never negative
    assert live.observe_reply(2.5, token=b"1") == pytest.approx(1.5)
    assert live.observe_reply(3.5, token=b"2") == pytest.approx(1.5)
    assert live.rtt_last == pytest.approx(1.5)
    assert live.counts().answered == 2


def test_one_pong_acknowledges_earlier_pings() -> None:
    live = Liveness(Heartbeat.ping(interval=1.0, reply_timeout=5.0), connected_at=0.0)
    for i in range(1, 4):
        live.heartbeat_sent(float(i), token=i)
    assert live.observe_reply(3.1, token=3) == pytest.approx(0.1)
    assert live.counts().answered == 3
    assert live.observe_reply(3.2, token=99) is None  # unknown token


def test_missed_heartbeats_are_counted() -> None:
    live = Liveness(Heartbeat.ping(interval=1.0, reply_timeout=2.5), connected_at=0.0)
    live.heartbeat_sent(1.0, token=1)
    live.heartbeat_sent(2.0, token=2)
    live.expire(3.4)
    assert live.counts().missed == 0
    live.expire(3.5)
    assert live.counts().missed == 1
    live.expire(10.0)
    assert live.counts().missed == 2


def test_late_wakeup_skips_instead_of_bursting() -> None:
    live = Liveness(Heartbeat.ping(interval=1.0, reply_timeout=1.0), connected_at=0.0)
    live.heartbeat_sent(5.3, token=1)  # we woke up 4.3 s late
    assert live.next_heartbeat_deadline() == 6.3


def test_server_heartbeat_silence_rule() -> None:
    live = Liveness(Heartbeat.server_sent(interval=5.0, silence_timeout=6.0), connected_at=0.0)
    assert live.next_heartbeat_deadline() == math.inf
    assert live.dead_deadline() == 6.0
    live.observe_heartbeat(5.0)
    assert live.dead_deadline() == 11.0
    live.observe_traffic(7.0)  # any traffic proves life by default
    assert live.dead_deadline() == 13.0


def test_idle_probe_heartcheck_pattern() -> None:
    live = Liveness(Heartbeat.idle_probe(interval=10.0, reply_timeout=11.0), connected_at=0.0)
    assert live.next_heartbeat_deadline() == 10.0
    live.observe_traffic(4.0)  # any message resets the idle timer
    assert live.next_heartbeat_deadline() == 14.0
    live.heartbeat_sent(14.0)
    assert live.next_heartbeat_deadline() == math.inf  # one probe at a time
    assert live.dead_deadline() == 25.0
    live.observe_traffic(20.0)
    assert live.dead_deadline() == math.inf
    assert live.next_heartbeat_deadline() == 30.0


def test_tradovate_preset_combines_client_and_server_heartbeats() -> None:
    hb = Heartbeat.tradovate()
    live = Liveness(hb, connected_at=0.0)
    assert live.next_heartbeat_deadline() == 2.5
    live.heartbeat_sent(2.5)
    assert live.dead_deadline() == 10.0  # no reply expected: only the silence rule
    assert live.counts().missed == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0.0},
        {"interval": -1.0},
        {"reply_timeout": 1.0},
        {"idle_only": True},
        {"server_answer": "3"},
        {"reply": "x"},
        {"interval": 1.0, "payload": 3},
        {"silence_timeout": 5.0, "any_traffic_proves_life": False},
    ],
)
def test_bad_heartbeat_configs_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Heartbeat(**kwargs)  # type: ignore[arg-type]


def test_silence_timeout_can_be_set_per_link() -> None:
    live = Liveness(Heartbeat.engineio(ping_interval=10.0, ping_timeout=5.0), connected_at=0.0)
    assert live.dead_deadline() == 15.0
    live.set_silence_timeout(31.0)  # the server announced 30 s + 1 s
    assert live.dead_deadline() == 31.0
    assert live.dead_bound() == 31.0
    with pytest.raises(ValueError):
        live.set_silence_timeout(0.0)
