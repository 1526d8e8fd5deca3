"""The pure suspend detector and the runtime's sources of suspended time."""

from __future__ import annotations

import time

import pytest

from trio_heartbeat import SuspendCheck
from trio_heartbeat._client import suspend as runtime
from trio_heartbeat._core.suspend import SuspendDetector


def test_growth_between_two_readings_beyond_the_threshold_is_a_wake_up() -> None:
    detector = SuspendDetector(2.0, first_reading=10.0)
    assert detector.observe(10.5) is None
    assert detector.observe(3610.5) == 3600.0
    assert detector.observe(3611.0) is None
    assert detector.wakeups == 1


def test_slow_drift_never_adds_up_and_a_backward_step_is_a_new_baseline() -> None:
    detector = SuspendDetector(2.0, first_reading=0.0)
    assert all(detector.observe(n * 1.5) is None for n in range(1, 100))
    assert detector.observe(-500.0) is None  # wall clock stepped back
    assert detector.observe(-497.0) == 3.0


def test_suspend_check_validates_its_figures() -> None:
    with pytest.raises(ValueError, match="probe_timeout"):
        SuspendCheck(probe_timeout=0.0)
    with pytest.raises(TypeError):
        SuspendCheck(source=5.0)  # type: ignore[arg-type]


def test_wall_clock_source_is_wall_minus_monotonic_progress() -> None:
    readings = iter([(100.0, 5.0), (3705.0, 10.0)])
    pair: list[tuple[float, float]] = []

    def wall() -> float:
        pair.append(next(readings))
        return pair[-1][0]

    source = runtime.wall_clock_source(wall=wall, monotonic=lambda: pair[-1][1])
    assert source() == 95.0
    assert source() == 3695.0


@pytest.mark.skipif(not hasattr(time, "CLOCK_BOOTTIME"), reason="Linux only")
def test_boottime_source_is_the_linux_default() -> None:
    source = runtime.default_suspend_source()
    first = source()
    assert first >= -0.01  # BOOTTIME is never behind MONOTONIC (rounding aside)
    assert abs(source() - first) < 0.5  # and does not move while awake


def test_elsewhere_the_default_is_the_heuristic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(time, "CLOCK_BOOTTIME", raising=False)
    monkeypatch.setattr(time, "time", lambda: 1000.0)
    monkeypatch.setattr(time, "monotonic", lambda: 40.0)
    assert runtime.default_suspend_source()() == 960.0
