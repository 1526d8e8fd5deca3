"""Full jitter really spreads reconnects (the storm protection), pure and seeded."""

import random
import statistics

from trio_heartbeat import Backoff, ConnectionLost, ReconnectAfter, ReconnectPolicy


def test_full_jitter_draws_spread_over_the_whole_range() -> None:
    # Fails if every delay were its cap (or any constant): the draws must be
    # uniform over [0, cap], so a thousand clients do not all retry at once.
    policy = ReconnectPolicy(wait_initial=1.0, wait_max=8.0)
    rng = random.Random(3)
    for retry in range(1, 6):
        cap = min(8.0, 2.0 ** (retry - 1))
        draws = [policy.delay(retry, rng) for _ in range(1000)]
        assert all(0.0 <= d <= cap for d in draws)
        assert min(draws) < 0.05 * cap
        assert max(draws) > 0.95 * cap
        assert abs(statistics.fmean(draws) - cap / 2) < 0.05 * cap
        assert len(set(draws)) == len(draws)


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
