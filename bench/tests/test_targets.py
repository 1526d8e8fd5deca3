"""Issue 9's verdicts: every target's PASS / FAIL / n/a from rows shaped like the scenarios'."""

from __future__ import annotations

from typing import Any

import pytest

from bench import _report, hotpath


def _row(scenario: str, client: str, median: dict[str, float] | None, **params: Any) -> Any:
    return {"scenario": scenario, "client": client, "params": params, "runs": [], "median": median}


def _idle(n: int, interval: float, **median: float) -> Any:
    return _row("idle", "trio_heartbeat", median, n=n, interval=interval)


def _verdicts(rows: list[Any]) -> dict[str, tuple[str, str]]:
    return {v.name: (v.status, v.detail) for v in _report.evaluate_targets(rows)}


def test_heartbeat_cpu_us_is_cpu_over_answered_heartbeats() -> None:
    # The issue's own figures: 13.7 % of a core for 1,000 x 1 s is 137 µs per heartbeat;
    # 26.7 % for 10,000 x 10 s is 267 µs.
    assert _report.heartbeat_cpu_us(_idle(1000, 1.0, cpu_pct=13.7, answered_pct=100.0)) == (
        pytest.approx(137.0)
    )
    assert _report.heartbeat_cpu_us(_idle(10000, 10.0, cpu_pct=26.7, answered_pct=100.0)) == (
        pytest.approx(267.0)
    )
    # Half the heartbeats answered for the same CPU: each answered one cost twice as much.
    assert _report.heartbeat_cpu_us(_idle(1000, 1.0, cpu_pct=13.7, answered_pct=50.0)) == (
        pytest.approx(274.0)
    )
    assert _report.heartbeat_cpu_us(_idle(1000, 1.0, cpu_pct=1.0, answered_pct=0.0)) is None
    assert _report.heartbeat_cpu_us(_row("idle", "trio_heartbeat", None, n=5)) is None


def test_idle_targets_from_idle_keys() -> None:
    rows = [
        _idle(1000, 1.0, cpu_pct=7.0, answered_pct=100.0, rss_kib_per_conn=20.0, missed=0.0),
        _idle(5000, 1.0, cpu_pct=40.0, answered_pct=99.5, rss_kib_per_conn=24.0, connect_s=12.0),
        _idle(10000, 10.0, cpu_pct=9.0, answered_pct=100.0, rss_kib_per_conn=26.0, missed=1.0),
        _row("idle", "websockets.trio", {"rss_kib_per_conn": 1.0}, n=5000, interval=1.0),
    ]
    got = _verdicts(rows)
    assert got["5,000 x 1 s: >= 99 % heartbeats answered"][0] == "PASS"
    assert got["5,000 x 1 s: CPU <= 50 % of one core"][0] == "PASS"
    # 70, 80.4 and 90 µs: the worst is over 80; flatness only at 1 s (two runs there).
    assert got["CPU per answered heartbeat <= 80 µs (worst: N=10,000 x 10 s)"][0] == "FAIL"
    flat = [k for k in got if k.startswith("CPU per heartbeat flat")]
    assert flat == [
        "CPU per heartbeat flat over N at 1 s (max/min <= 1.25; µs 1,000: 70, 5,000: 80)"
    ]
    assert got[flat[0]][0] == "PASS"
    assert got["N=10000 x 10 s: none missed"][0] == "FAIL"
    assert got["N=10000 x 10 s: CPU <= 10 %"][0] == "PASS"
    # Memory: the worst group decides (26 KiB at 10,000), other clients do not count.
    assert got["idle memory <= 25 KiB per connection (worst: idle N=10000 x 10 s)"] == (
        "FAIL",
        "26.00 <= 25.00",
    )
    # No detect-at-scale row: the open time comes from idle (and says so).
    assert got["open 5,000 connections <= 10 s (idle, 64 in flight)"][0] == "FAIL"


def test_flat_passes_within_a_quarter_and_open_time_prefers_detect() -> None:
    rows = [
        _idle(1000, 1.0, cpu_pct=6.0, answered_pct=100.0, rss_kib_per_conn=20.0),
        _idle(5000, 1.0, cpu_pct=35.0, answered_pct=98.0, rss_kib_per_conn=20.0, connect_s=30),
        _row(
            "detect",
            "trio_heartbeat @5000",
            {"p99_ms": 2049.0, "bound_ms": 2000.0, "background_open_s": 8.0, "early": 2.0},
            background=5000,
        ),
    ]
    got = _verdicts(rows)
    assert got["5,000 x 1 s: >= 99 % heartbeats answered"][0] == "FAIL"
    assert got["CPU per answered heartbeat <= 80 µs (worst: N=5,000 x 1 s)"][0] == "PASS"  # 71.4
    flat = "CPU per heartbeat flat over N at 1 s (max/min <= 1.25; µs 1,000: 60, 5,000: 71)"
    assert got[flat][0] == "PASS"
    assert got["open 5,000 connections <= 10 s (detect, 100 in flight)"][0] == "PASS"
    assert got["detect p99 <= bound + 50 ms at 5000 connections"] == ("PASS", "2,049 <= 2,050")
    # Two trials noticed the cut sooner than a healthy link can: a heartbeat was already late.
    assert got["detect at 5000 connections: none before the timeout (liveness exact)"][0] == "FAIL"
    assert "detect p99 <= bound + 50 ms (alone)" not in got


def test_echo_storm_and_detect_targets() -> None:
    storm = {"n": 1000, "wait_max": 2.0}
    rows = [
        _row("echo", "trio_heartbeat", {"msgs_per_s": 1000.0}),
        _row("echo", "websockets.trio", {"msgs_per_s": 1000.0}),
        _row("detect", "trio_heartbeat", {"p99_ms": 2051.0, "bound_ms": 2000.0}),
        _row("storm", "trio_heartbeat full_jitter", {"vs_model": 1.3, "all_back_s": 2.9}, **storm),
        _row("storm", "model full_jitter (no I/O)", {"peak_ratio": 2.9}, **storm),
    ]
    got = _verdicts(rows)
    assert got["echo msgs/s >= 1.0x websockets.trio"][0] == "PASS"  # equal is enough
    assert got["detect p99 <= bound + 50 ms (alone)"][0] == "FAIL"
    assert got["storm peak <= 1.25x the no-I/O model's peak"] == ("FAIL", "1.30 <= 1.25")
    assert got["storm: all back within wait_max + 1 s"] == ("PASS", "2.90 <= 3.00")
    missing = _verdicts([_row("echo", "trio_heartbeat", None), rows[1]])
    assert missing == {"echo msgs/s >= 1.0x websockets.trio": ("n/a", "not measured")}


def _hot(workload: str, client: str, msgs: float, mb: float, default: bool = False) -> Any:
    row = _row(f"hotpath-{workload}", client, {"msgs_per_s": msgs, "MB_per_s": mb})
    row["default_engine"] = default
    return row


def test_hotpath_verdicts_against_the_fair_floor_only() -> None:
    rows = [
        _hot("recv-100B", "trio_heartbeat[direct]", 80.0, 0.0, default=True),
        _hot("recv-100B", "trio_heartbeat[websockets]", 79.0, 0.0),
        _hot("recv-100B", hotpath.FLOOR, 100.0, 0.0),
        _hot("recv-100B", hotpath.BARE, 10_000.0, 0.0),  # never a reference
        _hot("send-64KiB", "trio_heartbeat[direct]", 1.0, 690.0, default=True),
        _hot("send-64KiB", hotpath.FLOOR, 1.0, 1000.0),
        _hot("recv-64KiB", "trio_heartbeat[direct]", 1.0, 1.0, default=True),
    ]
    every = {v.name: (v.status, v.detail) for v in hotpath.verdicts(rows)}
    assert every == {
        "recv-100B trio_heartbeat[direct] (default) >= 0.8x raw trio TCP (msgs_per_s)": (
            "PASS",
            "0.80x",
        ),
        "recv-100B trio_heartbeat[websockets] >= 0.8x raw trio TCP (msgs_per_s)": ("FAIL", "0.79x"),
        "recv-64KiB trio_heartbeat[direct] (default) >= 0.7x raw trio TCP (MB_per_s)": (
            "n/a",
            "floor not measured",
        ),
        "send-64KiB trio_heartbeat[direct] (default) >= 0.7x raw trio TCP (MB_per_s)": (
            "FAIL",
            "0.69x",
        ),
    }
    # The issue-9 list carries the default engine's verdicts only.
    names = [v.name for v in _report.evaluate_targets(rows)]
    assert names == [name for name in every if "(default)" in name]


def test_verdict_scores_turn_so_that_one_is_the_limit() -> None:
    assert _report.verdict("x", 160.0, 80.0, higher=False) == ("x", "FAIL", "160.00 <= 80.00", 0.5)
    assert _report.verdict("x", 40.0, 80.0, higher=True).score == 0.5
    assert _report.verdict("x", 0.0, 0.0, higher=False)[1:] == ("PASS", "0.00 <= 0.00", 1.0)
    assert _report.verdict("x", 2.0, 0.0, higher=False).score == 0.0
    assert _report.verdict("x", float("nan"), 1.0, higher=True).status == "n/a"
    assert _report.verdict("x", 1.0, None, higher=True).status == "n/a"
