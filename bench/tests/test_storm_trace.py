"""The storm's client-side trace: what it records from Backoff, and what it concludes."""

from __future__ import annotations

import math
import random

import pytest

from bench._storm_trace import BackoffTrace, summarise
from trio_heartbeat._core.reconnect import Backoff, ReconnectAfter, ReconnectPolicy
from trio_heartbeat.errors import ConnectError, ConnectionLost


def test_installed_records_the_supervisors_calls_and_restores_backoff() -> None:
    original = Backoff.failed
    trace = BackoffTrace()
    policy = ReconnectPolicy(wait_initial=0.2, wait_max=2.0, full_jitter=False)
    with trace.installed():
        backoff = Backoff(policy, random.Random(1))
        backoff.attempt_started(10.0)
        backoff.connected(10.5)
        decision = backoff.failed(20.0, ConnectionLost(1006))
    assert Backoff.failed is original
    assert isinstance(decision, ReconnectAfter) and decision.delay == 0.2
    assert [e[1:] for e in trace.events] == [
        ("attempt", 10.0, pytest.approx(math.nan, nan_ok=True)),
        ("connected", 10.5, pytest.approx(math.nan, nan_ok=True)),
        ("failed", 20.0, 0.2),
    ]
    assert not math.isnan(trace.offset)
    assert trace.losses(15.0) == [20.0]
    trace.clear()
    assert trace.events == [] and trace.gc_pauses == []


def test_summarise_measures_lateness_failure_time_and_peaks() -> None:
    trace = BackoffTrace()
    policy = ReconnectPolicy(wait_initial=0.2, wait_max=2.0, full_jitter=False)
    kept = []  # the trace tells clients apart by id(): none may be freed and its id reused
    with trace.installed():
        for i in range(3):  # kill at 0, ready at 1
            b = Backoff(policy, random.Random(i))
            kept.append(b)
            b.attempt_started(-10.0)
            b.connected(-10.0)
            b.failed(0.1, ConnectionLost(1006))  # seen 100 ms after the kill; asks 0.2 s
            b.attempt_started(0.35)  # 50 ms late
            b.failed(0.36, ConnectError("refused"))  # took 10 ms; asks 0.4 s
            b.attempt_started(0.76 + 0.3 * i)  # 0, 300, 600 ms late
            b.connected(0.80 + 0.3 * i)
    trace.offset = 0.0  # GC times in the trace's clock (the wrapper set it from the real one)
    trace.gc_pauses.append((0.5, 0.25, 2, 0))  # one 250 ms pass during the storm
    trace.gc_pauses.append((-5.0, 1.0, 2, 0))  # one before the kill: not counted
    got = summarise(trace, 0.0, 1.0, cpu_s=0.9)
    assert got["clients_traced"] == 3
    assert got["attempts_per_client"] == 2
    assert got["first_delay_mean_s"] == pytest.approx(0.2)
    assert got["late_p50_ms"] == pytest.approx(50.0)
    assert got["late_max_ms"] == pytest.approx(600.0)
    assert got["failed_attempt_p50_ms"] == pytest.approx(10.0)
    assert got["scheduled_peak"] == 3  # all asked for 0.76: bin 0 after ready
    assert got["started_peak"] == 2  # 0.76 and 1.06 share bin 0 (clamped), 1.36 is bin 3
    assert got["loss_after_kill_p50_ms"] == pytest.approx(100.0)
    assert got["gc_passes"] == 1
    assert got["gc_max_pause_ms"] == pytest.approx(250.0)
    assert got["cpu_pct"] == pytest.approx(100.0 * 0.9 / 1.4)
