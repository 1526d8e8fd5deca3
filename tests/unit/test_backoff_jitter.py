"""Full jitter really spreads reconnects (the storm protection), pure and seeded."""

import random

from trio_heartbeat import Backoff, ConnectionLost, ReconnectAfter, ReconnectPolicy


def test_many_clients_losing_the_same_server_do_not_retry_together() -> None:
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=30.0)
    lost = ConnectionLost(1006)
    firsts: list[float] = []
    for seed in range(200):
        backoff = Backoff(policy, random.Random(seed))
        backoff.attempt_started(0.0)
        decision = backoff.failed(0.0, lost)
        assert isinstance(decision, ReconnectAfter)
        firsts.append(decision.delay)
    # The first retries of 200 clients fall in every tenth of [0, 1 s].
    assert {int(d * 10) for d in firsts} == set(range(10))
