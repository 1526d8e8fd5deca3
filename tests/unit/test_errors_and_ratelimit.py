import copy
import pickle

import pytest

from trio_heartbeat import errors
from trio_heartbeat._core.ratelimit import TokenBucket


@pytest.mark.parametrize(
    "exc",
    [
        errors.ConnectTimeout(2.5),
        errors.HandshakeRejected(503, 4.0),
        errors.ConnectionLost(1011, "server error"),
        errors.PeerUnresponsive(6.0, "heartbeat"),
        errors.ReconnectGaveUp(errors.ConnectionLost(1008, "policy"), 3, ("a", b"b"), "stop"),
        errors.SendBufferFull(10),
        errors.RemoteProtocolError("bad frame"),
        errors.ConnectionClosedError("closed"),
        errors.BadHandshake("Bad accept token"),
        errors.TLSVerificationFailed("localhost", "IP address mismatch"),
        errors.MessageTooBig(1000),
    ],
)
def test_exceptions_survive_copy_and_pickle(exc: errors.HeartbeatError) -> None:
    for clone in (copy.copy(exc), pickle.loads(pickle.dumps(exc))):
        assert type(clone) is type(exc)
        assert str(clone) == str(exc)
        assert isinstance(clone, errors.HeartbeatError)


def test_peer_unresponsive_is_a_connection_loss() -> None:
    exc = errors.PeerUnresponsive(6.0)
    assert isinstance(exc, errors.ConnectionLost)
    assert exc.code == 1006
    assert "6 s" in str(exc)


def test_token_bucket_paces_without_dropping() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.wait_time(0.0) == 0.0
    bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(1.0)
    assert bucket.wait_time(0.4) == pytest.approx(0.6)
    bucket.take(1.0)
    assert bucket.wait_time(1.0) == pytest.approx(1.0)


def test_token_bucket_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    for _ in range(3):
        assert bucket.wait_time(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(0.5)
    assert bucket.wait_time(100.0) == 0.0


def test_token_bucket_never_asks_for_a_sleep_too_short_to_move_the_clock() -> None:
    bucket = TokenBucket(rate=10.0, burst=1, now=0.0)
    now = 0.0
    for _ in range(1000):  # 0.1 steps accumulate float error
        wait = bucket.wait_time(now)
        if wait:
            assert now + wait > now
            now += wait
            assert bucket.wait_time(now) == 0.0
        bucket.take(now)
