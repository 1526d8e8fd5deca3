"""Pure helpers of the benchmark suite: statistics, storm binning, targets, tables."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import _report
from bench._common import median, percentile
from bench._server import _binary_frame
from bench.storm import storm_metrics


def test_percentile_interpolates_and_handles_edges() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert math.isnan(median([]))


def test_storm_metrics_bins_from_ready_and_compares_with_even_spread() -> None:
    ready = 100.0
    # 3 handshakes in the first 100 ms bin, 1 in the third, one just before ready (bin 0).
    hs = [99.99, 100.01, 100.05, 100.099, 100.25]
    m = storm_metrics(hs, ready, n=5, wait_max=0.5)
    assert m["peak_per_100ms"] == 4.0
    assert m["even_per_100ms"] == pytest.approx(1.0)  # 5 over 5 bins
    assert m["peak_ratio"] == pytest.approx(4.0)
    assert m["all_back_s"] == pytest.approx(0.25)
    assert m["back"] == 5.0


def test_storm_metrics_not_all_back_is_nan() -> None:
    m = storm_metrics([1.0, 1.5], 1.0, n=3, wait_max=2.0)
    assert math.isnan(m["all_back_s"])
    assert m["even_per_100ms"] == pytest.approx(3 / 20)
    with pytest.raises(ValueError):
        storm_metrics([], 0.0, n=0, wait_max=1.0)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (100, bytes([0x82, 100])),
        (125, bytes([0x82, 125])),
        (126, bytes([0x82, 126, 0, 126])),
        (65535, bytes([0x82, 126, 0xFF, 0xFF])),
        (65536, bytes([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0])),
    ],
)
def test_binary_frame_header(size: int, header: bytes) -> None:
    frame = _binary_frame(size)
    assert frame[: len(header)] == header
    assert len(frame) == len(header) + size


def _row(scenario: str, client: str, median: dict[str, float] | None, **params: Any) -> Any:
    return {"scenario": scenario, "client": client, "params": params, "runs": [], "median": median}


def test_table_shows_ratios_and_na() -> None:
    rows = [
        _row("echo", "trio_heartbeat", None),
        _row("echo", "raw-trio-websocket", {"msgs_per_s": 1000.0}),
        _row("echo", "aiohttp", {"msgs_per_s": 1500.0}),
    ]
    text = _report.format_tables(rows)
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert lines["trio_heartbeat"].split()[1:] == ["n/a", "n/a"]
    assert lines["aiohttp"].split()[-1] == "1.50x"
    assert lines["raw-trio-websocket"].split()[-1] == "1.00x"


def test_finish_appends_and_strict_exit(tmp_path: Any) -> None:
    written: list[Any] = []

    def append(rows: Any, *, run_id: str) -> Any:
        written.append((run_id, list(rows)))
        return tmp_path / "r.jsonl"

    rows = [
        _row("echo", "trio_heartbeat", {"msgs_per_s": 900.0}),
        _row("echo", "websockets.trio", {"msgs_per_s": 1000.0}),
    ]
    assert _report.finish(rows, run_id="x", chart=False, append=append) == 0
    assert _report.finish(rows, run_id="y", chart=False, append=append, strict=True) == 1
    assert [w[0] for w in written] == ["x", "y"]


def test_model_handshakes_run_the_librarys_backoff() -> None:
    from bench.storm import model_handshakes, model_peak
    from trio_heartbeat import ReconnectPolicy

    # Without jitter every client retries 0.1, 0.3, 0.7, 1.5, 3.1, 5.1 s after the drop
    # (the link was up past min_uptime, so the count starts afresh); the server is back
    # 3.4 s after it, so all come back together at 5.1 - 3.4 = 1.7 s.
    fixed = ReconnectPolicy(wait_initial=0.1, wait_max=2.0, full_jitter=False)
    even = model_handshakes(fixed, [-3.4] * 50, seed=1)
    assert even == pytest.approx([1.7] * 50)
    assert storm_metrics(even, 0.0, 50, 2.0)["peak_ratio"] == pytest.approx(20.0)
    # Each client from its own loss: one that lost its link 1.0 s before is back at 0.5.
    assert model_handshakes(fixed, [-3.4, -1.0], seed=1) == pytest.approx([1.7, 0.5])
    # Issue 9's case: backoff 0.2-2.0 s, a 1 s outage, full jitter: 2.6-3.4x an even spread.
    jitter = ReconnectPolicy(wait_initial=0.2, wait_max=2.0)
    spread = model_handshakes(jitter, [-1.0] * 1000, seed=7)
    assert spread == model_handshakes(jitter, [-1.0] * 1000, seed=7)
    assert min(spread) >= 0.0 and max(spread) < 2.0
    assert 2.5 < storm_metrics(spread, 0.0, 1000, 2.0)["peak_ratio"] < 3.5
    assert 2.5 * 50 < model_peak(jitter, [-1.0] * 1000, seeds=range(5)) < 3.5 * 50
    # A longer outage spreads the comeback: a model fed kill-to-ready instead of the
    # clients' own losses (about 0.14 s later here) would understate the peak.
    assert model_peak(jitter, [-1.14] * 1000, seeds=range(9)) < model_peak(
        jitter, [-1.0] * 1000, seeds=range(9)
    )


def test_client_losses_relative_to_ready_padded_with_the_median() -> None:
    from bench.storm import client_losses

    assert client_losses([9.0, 9.2, 9.1], 5, 10.0, 1.5) == pytest.approx(
        [-1.0, -0.9, -0.8, -0.9, -0.9]
    )
    assert client_losses([], 2, 10.0, 1.5) == [-1.5, -1.5]
    assert client_losses([9.0, 9.5], 1, 10.0, 1.5) == [-1.0]


def test_detect_summary_counts_undetected_and_early_trials() -> None:
    from bench.detect import _summary

    nan = math.nan
    got = _summary([[1.5, nan], [0.4, 0.5], [nan, nan], [0.96, 1.0]], bound=2.0, timeout=1.0)
    assert got["undetected"] == 1.0
    assert got["early"] == 1.0  # 0.4 s: impossible on a healthy link; 0.96 is within 50 ms
    assert got["max_ms"] == pytest.approx(1500.0)
    assert got["bound_ms"] == 2000.0
    assert got["visible_p50_ms"] == pytest.approx(750.0)


def test_storm_argv_gives_the_child_the_same_options() -> None:
    import argparse

    from bench import _report, storm

    def parser() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser()
        _report.add_common_arguments(p)
        storm.add_arguments(p)
        return p

    given = parser().parse_args(
        [
            "--quick",
            "--seed=7",
            "--storm-n=30",
            "--storm-gap=0.5",
            "--storm-trace",
            "--storm-clients",
            "trio_heartbeat full_jitter",
            "raw-trio-websocket-loop no_jitter",
        ]
    )
    again = parser().parse_args(storm.storm_argv(given))
    assert vars(again) == vars(given)
