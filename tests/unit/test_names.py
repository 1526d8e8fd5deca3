"""Named things: close codes, connection states, the give-up vocabulary, the failure throttle."""

from __future__ import annotations

import pickle

import pytest
import wsproto.frame_protocol

import trio_heartbeat as th
from trio_heartbeat._core.close_codes import may_be_sent
from trio_heartbeat._core.ratelimit import LogThrottle
from trio_heartbeat._core.reconnect import DEFAULT_CLOSE_CODES, GiveUp


def test_close_codes_carry_wsprotos_names_and_numbers() -> None:
    for reason in wsproto.frame_protocol.CloseReason:
        assert th.CloseCode[reason.name] == reason.value
    assert th.CloseCode.BAD_GATEWAY == 1014
    assert f"{th.CloseCode.ABNORMAL_CLOSURE}" == "1006" == str(th.CloseCode.ABNORMAL_CLOSURE)


def test_the_close_code_table_is_written_in_names() -> None:
    assert all(isinstance(code, th.CloseCode) for code in DEFAULT_CLOSE_CODES)
    policy = th.ReconnectPolicy()
    assert policy.action_for_close(th.CloseCode.POLICY_VIOLATION) is th.CloseAction.STOP
    assert policy.action_for_close(th.CloseCode.TRY_AGAIN_LATER) is th.CloseAction.RETRY_LATER
    assert policy.action_for_close(th.CloseCode.SERVICE_RESTART) is th.CloseAction.RETRY
    assert policy.action_for_close(4000) is th.CloseAction.RETRY


@pytest.mark.parametrize(
    ("code", "ok"),
    [(1000, True), (1003, True), (1004, False), (1005, False), (1006, False), (1014, True)]
    + [(1015, False), (2999, False), (3000, True), (4999, True), (5000, False), (999, False)],
)
def test_which_close_codes_may_be_sent(code: int, ok: bool) -> None:
    assert may_be_sent(code) is ok


def test_connection_state_is_a_string() -> None:
    assert th.ConnectionState.GAVE_UP == "gave_up"
    assert [s.value for s in th.ConnectionState] == [
        "connecting",
        "connected",
        "waiting",
        "gave_up",
        "closed",
    ]
    assert th.WaitingToReconnect(1.0, 2).state is th.ConnectionState.WAITING
    assert th.MessagesDropped(1, "x").state is None


def test_give_up_has_one_name_per_role_and_the_old_names_still_work() -> None:
    assert GiveUp is th.StopReconnecting is th.GiveUpDecision
    backoff = th.Backoff(th.ReconnectPolicy.never())
    backoff.attempt_started(0.0)
    decision = backoff.failed(0.0, th.ConnectTimeout(1.0))
    assert decision == th.StopReconnecting("max_attempts=1 reached")


def test_disconnected_step_defaults_from_was_connected() -> None:
    lost = th.Disconnected(th.ConnectionLost(1011, "bye"), 1011, "bye", True)
    failed = th.Disconnected(OSError("refused"), None, "", False)
    assert (lost.step, failed.step) == (th.Step.LINK, th.Step.CONNECT)
    assert failed.summary == "connect failed with OSError: refused"


def test_reconnect_gave_up_names_step_and_type_and_survives_pickle() -> None:
    error = th.ReconnectGaveUp(AssertionError(), 3, ("m",), "max_attempts=3 reached", "on_connect")
    text = (
        "gave up after 3 attempt(s) (max_attempts=3 reached); "
        "last: on_connect failed with AssertionError; 1 message(s) undelivered"
    )
    assert str(error) == text
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == text and copy.step == "on_connect"
    assert (
        str(th.ReconnectGaveUp(ValueError("bad"), 1))
        == "gave up after 1 attempt(s); last: ValueError: bad"
    )


def test_log_throttle_reports_the_first_then_one_per_interval_with_a_count() -> None:
    throttle = LogThrottle(30.0)
    answers = [throttle.report(t) for t in (0.0, 1.0, 2.0, 29.9, 30.0, 31.0, 100.0)]
    assert answers == [0, None, None, None, 3, None, 1]


def test_every_public_name_is_exported() -> None:
    for name in th.__all__:
        assert hasattr(th, name), name
    for name in ("CloseCode", "ConnectionState", "Step", "StopReconnecting", "GiveUpDecision"):
        assert name in th.__all__


def test_the_test_kits_connection_snapshot_has_a_name_of_its_own() -> None:
    import trio_heartbeat.testing as kit

    assert kit.ConnectionStats is kit.RelayedConnection
    assert "RelayedConnection" in kit.__all__
    assert kit.RelayedConnection is not th.ConnectionStatistics
