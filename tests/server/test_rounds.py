"""The pure isAlive round logic and the server heartbeat config: explicit times, no clock."""

from __future__ import annotations

import attrs
import pytest

from trio_heartbeat.server import ServerHeartbeat
from trio_heartbeat.server._rounds import ClientLiveness, IsAliveRounds, RoundResult


def test_new_client_is_alive_and_probed_at_first_round() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=2.0)
    assert rounds.liveness(1) == ClientLiveness(
        connected_since=2.0, last_seen=2.0, rtt=None, alive=True
    )
    assert rounds.run_round(now=5.0) == RoundResult(number=1, at=5.0, probe=(1,), terminate=())
    assert not rounds.liveness(1).alive


def test_silent_client_terminated_at_the_second_round_after_its_last_answer() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    for t in (5.0, 10.0, 15.0):
        assert rounds.run_round(t).probe == (1,)
        rounds.answer(1, now=t + 0.5)
    # silent from 15.5 on: probed at 20, terminated at 25
    assert rounds.run_round(20.0) == RoundResult(number=4, at=20.0, probe=(1,), terminate=())
    assert rounds.run_round(25.0) == RoundResult(
        number=5,
        at=25.0,
        probe=(),
        terminate=(1,),
        final=(ClientLiveness(connected_since=0.0, last_seen=15.5, rtt=0.5, alive=False),),
    )
    assert 1 not in rounds
    assert len(rounds) == 0
    assert rounds.run_round(30.0).terminate == ()


def test_answering_client_kept_for_many_rounds_while_silent_one_goes() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    rounds.add(2, now=0.0)
    results = []
    for k in range(1, 101):
        result = rounds.run_round(5.0 * k)
        results.append(result)
        rounds.answer(1, now=5.0 * k + 0.1)
    assert results[0].probe == (1, 2)
    assert results[1].terminate == (2,)
    assert all(r.terminate == () and r.probe == (1,) for r in results[2:])
    assert rounds.rounds == 100
    assert rounds.liveness(1).last_seen == pytest.approx(500.1)


def test_any_traffic_proves_life_by_default() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    rounds.run_round(5.0)
    rounds.traffic(1, now=7.0)
    assert rounds.run_round(10.0).terminate == ()
    assert rounds.liveness(1).last_seen == 7.0
    assert rounds.liveness(1).rtt is None  # traffic is not an answer: no RTT


def test_traffic_only_updates_last_seen_when_answers_are_required() -> None:
    rounds = IsAliveRounds(any_traffic_proves_life=False)
    rounds.add(1, now=0.0)
    rounds.run_round(5.0)
    rounds.traffic(1, now=7.0)
    assert rounds.liveness(1).last_seen == 7.0
    assert rounds.run_round(10.0).terminate == (1,)


def test_rtt_measured_from_the_probe_of_the_answered_round() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    assert rounds.answer(1, now=1.0) is None  # nothing outstanding yet
    rounds.run_round(5.0)
    assert rounds.answer(1, now=5.25) == 0.25
    assert rounds.answer(1, now=5.5) is None  # the probe is already answered
    assert rounds.liveness(1).rtt == 0.25
    rounds.run_round(10.0)
    assert rounds.answer(1, now=10.75, round_number=1) is None  # stale round: alive, no RTT
    assert rounds.liveness(1).alive
    assert rounds.answer(1, now=11.0, round_number=2) == 1.0
    assert rounds.liveness(1) == ClientLiveness(
        connected_since=0.0, last_seen=11.0, rtt=1.0, alive=True
    )


def test_rtt_longer_than_the_interval_means_termination() -> None:
    # the ws isAlive rule: an answer must arrive before the next round
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    rounds.run_round(5.0)
    assert rounds.run_round(10.0).terminate == (1,)
    assert rounds.answer(1, now=12.0) is None  # late answer of a forgotten client is ignored


def test_client_connecting_between_rounds_gets_a_full_round() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    rounds.run_round(5.0)
    rounds.add(2, now=9.9)
    result = rounds.run_round(10.0)
    assert result.terminate == (1,)
    assert result.probe == (2,)
    assert rounds.run_round(15.0).terminate == (2,)


def test_add_remove_and_unknown_ids() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    with pytest.raises(ValueError, match="already registered"):
        rounds.add(1, now=1.0)
    rounds.traffic(99, now=1.0)  # ignored
    assert rounds.answer(99, now=1.0) is None
    assert rounds.remove(1)
    assert not rounds.remove(1)
    with pytest.raises(KeyError):
        rounds.liveness(1)
    assert rounds.run_round(5.0) == RoundResult(number=1, at=5.0, probe=(), terminate=())


# -- ServerHeartbeat config --------------------------------------------------


def test_presets() -> None:
    assert ServerHeartbeat.ping() == ServerHeartbeat(interval=30.0)
    assert ServerHeartbeat.ping().uses_ping_frames
    binary = ServerHeartbeat.binary()
    assert (binary.interval, binary.payload, binary.answer) == (5.0, b"\x01", b"\x01")
    assert not binary.uses_ping_frames
    engineio = ServerHeartbeat.engineio(interval=2.5)
    assert (engineio.interval, engineio.payload, engineio.answer) == (2.5, "2", "3")
    assert not ServerHeartbeat.binary(any_traffic_proves_life=False).any_traffic_proves_life
    assert attrs.evolve(binary, interval=1.0).interval == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0},
        {"interval": -1.0},
        {"interval": float("inf")},
        {"interval": float("nan")},
        {"interval": "5"},
        {"interval": 5.0, "answer": b"\x01"},  # pongs answer ping frames
        {"interval": 5.0, "payload": 1},
        {"interval": 5.0, "payload": b"\x01", "any_traffic_proves_life": False},
        {"interval": 5.0, "any_traffic_proves_life": 1},
    ],
)
def test_invalid_config_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        ServerHeartbeat(**kwargs)  # type: ignore[arg-type]


def test_config_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ServerHeartbeat.ping().interval = 1.0  # type: ignore[misc]
