"""Backoff schedule and close-code policy, pure, with explicit times and a seeded RNG."""

import random
import statistics

import pytest

from trio_heartbeat import (
    Backoff,
    BadHandshake,
    CloseAction,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    GiveUpDecision,
    HandshakeRejected,
    MessageTooBig,
    PeerUnresponsive,
    ReconnectAfter,
    ReconnectPolicy,
    RemoteProtocolError,
    SessionEnded,
    TLSVerificationFailed,
)


def test_exponential_without_jitter() -> None:
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=8.0, full_jitter=False)
    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_full_jitter_stays_within_bounds() -> None:
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=30.0)
    rng = random.Random(42)
    for retry in range(1, 12):
        cap = min(30.0, 2.0 ** (retry - 1))
        draws = [policy.delay(retry, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in draws)
        # Really spread over [0, cap]: not stuck at 0, not every delay = its cap.
        assert max(draws) > 0.9 * cap
        assert min(draws) < 0.1 * cap
        assert abs(statistics.fmean(draws) - cap / 2) < 0.1 * cap


def test_additive_jitter() -> None:
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=10.0, full_jitter=False, wait_jitter=0.5)
    rng = random.Random(1)
    draws = [policy.delay(1, rng) for _ in range(100)]
    assert all(1.0 <= d <= 1.5 for d in draws)


def test_huge_retry_number_does_not_overflow() -> None:
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=60.0, full_jitter=False)
    assert policy.delay(10_000, random.Random(0)) == 60.0


def test_backoff_resets_only_after_min_uptime() -> None:
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=100.0, full_jitter=False, min_uptime=5.0)
    backoff = Backoff(policy, random.Random(0))
    lost = ConnectionLost(1006)
    backoff.attempt_started(0.0)
    assert backoff.failed(0.0, lost) == ReconnectAfter(1.0, 2)
    backoff.attempt_started(1.0)
    backoff.connected(1.0)
    # up for only 2 s: an accept-then-close server must not reset the backoff
    assert backoff.failed(3.0, lost) == ReconnectAfter(2.0, 3)
    backoff.attempt_started(5.0)
    backoff.connected(5.0)
    assert backoff.failed(10.0, lost) == ReconnectAfter(1.0, 2)  # stayed up 5 s: reset


def test_max_attempts() -> None:
    backoff = Backoff(ReconnectPolicy(max_attempts=3, full_jitter=False), random.Random(0))
    err = ConnectTimeout(1.0)
    decisions = []
    for t in range(3):
        backoff.attempt_started(float(t))
        decisions.append(backoff.failed(float(t), err))
    assert isinstance(decisions[0], ReconnectAfter)
    assert isinstance(decisions[1], ReconnectAfter)
    assert isinstance(decisions[2], GiveUpDecision)
    assert "max_attempts=3" in decisions[2].why


def test_max_total_time() -> None:
    policy = ReconnectPolicy(wait_initial=4.0, wait_max=4.0, full_jitter=False, max_total_time=10.0)
    backoff = Backoff(policy, random.Random(0))
    backoff.attempt_started(0.0)
    assert backoff.failed(0.0, ConnectTimeout(1.0)) == ReconnectAfter(4.0, 2)
    backoff.attempt_started(4.0)
    assert backoff.failed(5.0, ConnectTimeout(1.0)) == ReconnectAfter(4.0, 3)
    backoff.attempt_started(9.0)
    assert isinstance(backoff.failed(9.5, ConnectTimeout(1.0)), GiveUpDecision)


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (1000, CloseAction.RETRY),
        (1001, CloseAction.RETRY),
        (1006, CloseAction.RETRY),
        (1011, CloseAction.RETRY),
        (1012, CloseAction.RETRY),
        (1013, CloseAction.RETRY_LATER),
        (1002, CloseAction.STOP),
        (1003, CloseAction.STOP),
        (1007, CloseAction.STOP),
        (1008, CloseAction.STOP),
        (1009, CloseAction.STOP),
        (1010, CloseAction.STOP),
        (4000, CloseAction.RETRY),
    ],
)
def test_close_code_table(code: int, action: CloseAction) -> None:
    assert ReconnectPolicy().action_for(ConnectionLost(code)) is action


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (401, CloseAction.STOP),
        (403, CloseAction.STOP),
        (404, CloseAction.STOP),
        (400, CloseAction.STOP),
        (429, CloseAction.RETRY_LATER),
        (503, CloseAction.RETRY_LATER),
        (500, CloseAction.RETRY),
        (502, CloseAction.RETRY),
    ],
)
def test_http_status_table(status: int, action: CloseAction) -> None:
    assert ReconnectPolicy().action_for(HandshakeRejected(status)) is action


def test_liveness_timeout_and_network_errors_retry() -> None:
    policy = ReconnectPolicy()
    assert policy.action_for(PeerUnresponsive(2.0)) is CloseAction.RETRY
    assert policy.action_for(OSError("refused")) is CloseAction.RETRY


def test_overrides() -> None:
    policy = ReconnectPolicy(
        close_codes={1008: CloseAction.RETRY, 1000: CloseAction.STOP},
        http_statuses={404: CloseAction.RETRY},
    )
    assert policy.action_for_close(1008) is CloseAction.RETRY
    assert policy.action_for_close(1000) is CloseAction.STOP
    assert policy.action_for_status(404) is CloseAction.RETRY
    with pytest.raises(TypeError):
        ReconnectPolicy(close_codes={1000: "stop"})  # type: ignore[dict-item]


def test_retry_after_is_honoured() -> None:
    policy = ReconnectPolicy(wait_initial=0.5, full_jitter=False, retry_later_delay=10.0)
    backoff = Backoff(policy, random.Random(0))
    backoff.attempt_started(0.0)
    assert backoff.failed(0.0, HandshakeRejected(503, retry_after=7.0)) == ReconnectAfter(7.0, 2)
    backoff.attempt_started(7.0)
    assert backoff.failed(7.0, HandshakeRejected(429)) == ReconnectAfter(10.0, 3)
    backoff.attempt_started(17.0)
    assert backoff.failed(17.0, ConnectionLost(1013)) == ReconnectAfter(10.0, 4)


def test_stop_gives_up_at_once() -> None:
    backoff = Backoff(ReconnectPolicy(), random.Random(0))
    backoff.attempt_started(0.0)
    assert isinstance(backoff.failed(0.0, HandshakeRejected(401)), GiveUpDecision)


def test_fixed_preset() -> None:
    policy = ReconnectPolicy.fixed(3.0)
    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in (1, 2, 10)] == [3.0, 3.0, 3.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"wait_initial": -1.0},
        {"wait_initial": 10.0, "wait_max": 1.0},
        {"wait_exp_base": 0.5},
        {"max_attempts": 0},
        {"connect_timeout": 0.0},
    ],
)
def test_bad_policies_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_after_is_capped_by_retry_after_max() -> None:
    """Retry-After: 1000000000 must not park the client for 31 years."""
    for policy, expected in [
        (ReconnectPolicy(wait_initial=0.5, full_jitter=False), 300.0),
        (ReconnectPolicy(wait_initial=0.5, full_jitter=False, retry_after_max=60.0), 60.0),
    ]:
        backoff = Backoff(policy, random.Random(0))
        backoff.attempt_started(0.0)
        rejected = HandshakeRejected(503, retry_after=1e9)
        assert backoff.failed(0.0, rejected) == ReconnectAfter(expected, 2)
    with pytest.raises(ValueError, match="retry_after_max"):
        ReconnectPolicy(retry_after_max=-1.0)


def test_tls_verification_failure_stops_by_default() -> None:
    error = TLSVerificationFailed("localhost", "unable to get local issuer certificate")
    assert ReconnectPolicy().action_for(error) is CloseAction.STOP
    backoff = Backoff(ReconnectPolicy(), random.Random(0))
    backoff.attempt_started(0.0)
    decision = backoff.failed(0.0, error)
    assert decision == GiveUpDecision("TLSVerificationFailed is not retried by the policy")


def test_error_types_override_by_class_most_specific_first() -> None:
    tls = TLSVerificationFailed("localhost", "IP address mismatch")
    policy = ReconnectPolicy(error_types={TLSVerificationFailed: CloseAction.RETRY})
    assert policy.action_for(tls) is CloseAction.RETRY
    # A base class listed by the user does not override a default for a subclass...
    policy = ReconnectPolicy(error_types={ConnectError: CloseAction.STOP})
    assert policy.action_for(tls) is CloseAction.STOP
    assert policy.action_for(BadHandshake("Bad accept token")) is CloseAction.STOP
    assert policy.action_for(HandshakeRejected(503)) is CloseAction.STOP  # before the table
    # ...and the class decides before the close-code table.
    policy = ReconnectPolicy(error_types={MessageTooBig: CloseAction.STOP})
    assert policy.action_for(MessageTooBig(10)) is CloseAction.STOP
    assert policy.action_for(RemoteProtocolError("bad frame")) is CloseAction.RETRY
    assert (
        ReconnectPolicy(close_codes={1006: CloseAction.STOP}).action_for(PeerUnresponsive(2.0))
        is CloseAction.RETRY
    )
    assert ReconnectPolicy().action_for(SessionEnded(1000, "bye")) is CloseAction.STOP
    with pytest.raises(TypeError, match="error_types"):
        ReconnectPolicy(error_types={"TLS": CloseAction.RETRY})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="error_types"):
        ReconnectPolicy(error_types={ValueError: "retry"})  # type: ignore[dict-item]


def test_error_types_table_is_frozen() -> None:
    table = {MessageTooBig: CloseAction.STOP}
    policy = ReconnectPolicy(error_types=table)
    table[MessageTooBig] = CloseAction.RETRY
    assert policy.action_for(MessageTooBig(10)) is CloseAction.STOP


def test_peer_faults_are_retried_by_default() -> None:
    policy = ReconnectPolicy()
    for error in (BadHandshake("Bad accept token"), MessageTooBig(10), RemoteProtocolError("x")):
        assert policy.action_for(error) is CloseAction.RETRY
