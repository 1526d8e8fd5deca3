"""Issue 9's run: exactly the measurements its targets need, one table, one verdict each.

``python -m bench --issue9 [--quick]`` (or ``python -m bench.issue9``) runs, in order:

1. hot path (:mod:`bench.hotpath`): 100 B and 64 KiB, both directions, every engine beside
   raw trio TCP (the floor) and the bare numbers; ``--repeats`` (default 3);
2. echo (:mod:`bench.echo`): trio_heartbeat and websockets.trio, 20,000 round trips, 5 repeats;
3. idle scale (child processes of :mod:`bench.idle`, 1 run each, hold 30 s): trio_heartbeat at
   1,000, 5,000 and 10,000 x 1 s (flatness over N is judged at one interval) and
   10,000 x 10 s (5 s timeout); websockets.trio at 5,000 x 1 s for reference;
4. detection (:mod:`bench.detect`): 20 trials alone, and 20 trials beside 5,000 heartbeating
   connections (whose opening, 100 in flight, is the "open 5,000 connections" figure);
5. reconnect storm (:mod:`bench.storm`): 1,000 trio_heartbeat clients, backoff 0.2-2.0 s with
   full jitter, a 1 s outage, 3 repeats, each beside the no-I/O model, in a process of its
   own (it measures how that process's pauses bunch the clients).

Then it prints the tables, every target with PASS / FAIL / n/a (:func:`bench._report.
evaluate_targets`), the total time, and writes ``bench/results/issue9.md`` (the block the
README's Performance section includes between its markers: ``python -m bench.readme``
copies it there) and ``bench/results/issue9.png`` (each target's score: measured over its
limit, turned so that >= 1 passes). About 12-15 minutes on 2 cores; ``--quick`` (smaller N,
one repeat, about 3 minutes) checks the harness, and targets at N it did not run are absent.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path
from typing import Any

from bench import _report, detect, echo, hotpath, idle, storm
from bench._common import RESULTS_DIR, has_websockets_trio, server

MARKDOWN = RESULTS_DIR / "issue9.md"
CHART = RESULTS_DIR / "issue9.png"
#: Where the README shows the chart (copied there by ``python -m bench.readme``).
README_CHART = "docs/performance-chart.png"
MANAGED = _report.MANAGED

#: (N, interval, timeout, clients) of the idle runs; --quick: smaller N, same shapes.
#: Handshakes in flight while an idle child opens its connections (issue 9: 100).
IDLE_IN_FLIGHT = 100
#: Flatness over N is judged at one interval (1 s: 1,000, 5,000 and 10,000 connections);
#: 10,000 x 10 s is issue 9's own row (none missed, CPU).
IDLE_RUNS = (
    (1000, 1.0, 1.0, (MANAGED,)),
    (5000, 1.0, 1.0, (MANAGED, "websockets.trio")),
    (10000, 1.0, 1.0, (MANAGED,)),
    (10000, 10.0, 5.0, (MANAGED,)),
)
IDLE_RUNS_QUICK = (
    (500, 1.0, 1.0, (MANAGED, "websockets.trio")),
    (1000, 1.0, 1.0, (MANAGED,)),
    (1000, 10.0, 5.0, (MANAGED,)),
)


def _idle_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (N, client) of :data:`IDLE_RUNS`, in the shape ``bench.idle.run`` makes."""
    hold = args.idle_hold or (10.0 if args.quick else 30.0)
    rows: list[dict[str, Any]] = []
    runs = IDLE_RUNS_QUICK if args.quick else IDLE_RUNS
    with server(procs=args.idle_server_procs) as srv:
        for n, interval, timeout, clients in runs:
            for client in clients:
                if client == "websockets.trio" and not has_websockets_trio():
                    continue
                t0, cpu0 = time.monotonic(), srv.cpu_seconds()
                try:
                    result = idle.run_child(
                        idle.ChildRun(
                            client, srv.url, n, hold, interval, timeout, args.seed, IDLE_IN_FLIGHT
                        )
                    )
                except Exception as exc:  # one failed child must not lose the others
                    _report.progress(f"idle N={n} {client}: FAILED {exc!r}")
                    result = None
                if result is not None:
                    elapsed = time.monotonic() - t0
                    result["server_cpu_pct"] = 100.0 * (srv.cpu_seconds() - cpu0) / elapsed
                    _report.progress(f"idle N={n} x {interval:g} s {client}: {result}")
                params = {"n": n, "hold": hold, "interval": interval, "timeout": timeout}
                rows.append(
                    {
                        "scenario": "idle",
                        "client": client,
                        "params": {**params, "repeats": 1},
                        "runs": [result] if result else [],
                        "median": result,
                    }
                )
    return rows


def collect(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every step; a step that raises is reported and its targets show n/a."""
    quick = args.quick
    steps: list[tuple[str, Any]] = []

    def hot() -> list[dict[str, Any]]:
        a = copy.copy(args)
        a.repeats = args.repeats or (1 if quick else 3)
        return hotpath.run(a)

    def echo_rows() -> list[dict[str, Any]]:
        return echo.run(args, clients=(MANAGED, "websockets.trio"))

    def detect_rows() -> list[dict[str, Any]]:
        alone = copy.copy(args)
        alone.detect_background = 0
        scale = copy.copy(args)
        scale.detect_background = args.detect_background or (1000 if quick else 5000)
        return detect.run(alone, clients=(MANAGED,)) + detect.run(scale)

    def storm_rows() -> list[dict[str, Any]]:
        a = copy.copy(args)
        a.storm_clients = [f"{MANAGED} full_jitter"]
        return storm.run_in_child(a)

    steps = [
        ("hotpath", hot),
        ("echo", echo_rows),
        ("idle", lambda: _idle_rows(args)),
        ("detect", detect_rows),
        ("storm", storm_rows),
    ]
    rows: list[dict[str, Any]] = []
    for name, step in steps:
        t0 = time.monotonic()
        try:
            rows.extend(step())
        except Exception as exc:
            _report.progress(f"issue9 {name} FAILED: {exc!r}")
        _report.progress(f"issue9 {name} took {time.monotonic() - t0:.0f} s")
    return rows


def _hot_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| hot path | client | msg/s | MB/s | CPU µs/msg | x floor |",
        "|---|---|---|---|---|---|",
    ]
    for workload, (_, metric) in hotpath.TARGETS.items():
        group = [r for r in rows if r["scenario"] == f"hotpath-{workload}" and r["median"]]
        floor = next((r["median"][metric] for r in group if r["client"] == hotpath.FLOOR), None)
        for row in group:
            m = row["median"]
            name = row["client"] + (" (default)" if row.get("default_engine") else "")
            ratio = f"{m[metric] / floor:.2f}x" if floor else "n/a"
            lines.append(
                f"| {workload} | {name} | {m['msgs_per_s']:,.0f} | {m['MB_per_s']:,.1f} "
                f"| {m['cpu_us']:.1f} | {ratio} |"
            )
    return lines


def _idle_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| idle | client | KiB/conn | CPU % of a core | answered % | missed | µs/heartbeat "
        f"| open s ({IDLE_IN_FLIGHT} in flight) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["scenario"] != "idle" or not row["median"]:
            continue
        m, p = row["median"], row["params"]
        us = _report.heartbeat_cpu_us(row)
        lines.append(
            f"| {p['n']:,} x {p['interval']:g} s | {row['client']} | {m['rss_kib_per_conn']:.1f} "
            f"| {m['cpu_pct']:.1f} | {m['answered_pct']:.1f} | {m['missed']:.0f} "
            f"| {'n/a' if us is None else f'{us:.0f}'} | {m['connect_s']:.1f} |"
        )
    return lines


def markdown(
    rows: list[dict[str, Any]],
    verdicts: list[_report.Verdict],
    *,
    run_id: str,
    total_s: float,
    command: str,
    machine: dict[str, Any],
) -> str:
    """The README block: how it was measured, the verdicts, the hot-path and idle tables."""
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    lines = [
        f"<!-- generated by `{command}` (bench/issue9.py), run {run_id}; "
        "do not edit: rewrite with `python -m bench.readme` -->",
        f"Issue 9's targets, measured in one run of `{command}` ({total_s / 60:.0f} min) on "
        f"{machine.get('cpus', '?')} cores shared with other work, Python "
        f"{machine.get('python', '?')} ({versions}); everything on 127.0.0.1, the server a "
        "separate process (a `websockets` asyncio server). Ratios are to raw trio TCP doing a "
        "message API's least work (`bench/_floor.py`), measured in the same run; the machine "
        "is noisy, compare columns, not runs.",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for v in verdicts:
        status = v.status if v.status == "n/a" else f"**{v.status}**"
        lines.append(f"| {v.name} | {v.detail} | {status} |")
    lines += ["", *_hot_table(rows), "", *_idle_table(rows)]
    storm_rows = [r for r in rows if r["scenario"] == "storm" and r["median"]]
    if storm_rows:
        lines += ["", "| storm | peak per 100 ms | x even spread | x model | all back s |"]
        lines.append("|---|---|---|---|---|")
        for r in storm_rows:
            m = r["median"]
            vs = m.get("vs_model", math.nan)
            lines.append(
                f"| {r['client']} | {m['peak_per_100ms']:.0f} | {m['peak_ratio']:.2f} "
                f"| {'n/a' if math.isnan(vs) else f'{vs:.2f}'} | {m['all_back_s']:.2f} |"
            )
    lines += ["", f"![issue 9 targets, measured / target]({README_CHART})"]
    return "\n".join(lines) + "\n"


def write_chart(verdicts: list[_report.Verdict], path: Path) -> Path | None:
    """One bar per target: its score on a log axis, 1.0 marked (right of it passes)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _report.progress("matplotlib missing: no chart")
        return None
    shown = [v for v in verdicts if not math.isnan(v.score)]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(shown) + 1.2))
    scores = [min(max(v.score, 0.2), 5.0) for v in shown]
    colors = ["tab:green" if v.status == "PASS" else "tab:red" for v in shown]
    ax.barh([v.name for v in shown], scores, color=colors)
    ax.set_xscale("log")
    ax.set_xlim(0.2, 5.0)
    ax.axvline(1.0, color="black", linewidth=0.8)
    for y, v in enumerate(shown):
        ax.text(0.21, y, f" {v.detail}", va="center", fontsize=7)
    ax.set_xlabel("measured / target, turned so that >= 1 passes (log scale, clipped to 0.2-5)")
    ax.tick_params(axis="y", labelsize=7)
    ax.invert_yaxis()
    return _report.save_figure(fig, path)


def run_issue9(
    args: argparse.Namespace, *, run_id: str, machine: dict[str, Any], command: str
) -> int:
    """Run, print, write the markdown and the chart, append JSON lines; the exit status."""
    from bench._common import append_results

    started = time.monotonic()
    rows = collect(args)
    for row in rows:
        row.setdefault("machine", machine)
    total = time.monotonic() - started
    hot = [r for r in rows if str(r["scenario"]).startswith("hotpath-")]
    rest = [r for r in rows if r not in hot]
    print(f"run {run_id}")
    if hot:
        print(hotpath.format_report(hot))
    print(_report.format_tables(rest))
    verdicts = _report.evaluate_targets(rows)
    print(_report.format_targets(verdicts))
    append_results(rows, run_id=run_id)
    MARKDOWN.parent.mkdir(parents=True, exist_ok=True)
    MARKDOWN.write_text(
        markdown(rows, verdicts, run_id=run_id, total_s=total, command=command, machine=machine),
        encoding="utf-8",
    )
    print(f"\nmarkdown written to {MARKDOWN}")
    if write_chart(verdicts, CHART) is not None:
        print(f"chart written to {CHART}")
    counts = {s: sum(v.status == s for v in verdicts) for s in ("PASS", "FAIL", "n/a")}
    print(f"verdicts: {counts}; total {total:.0f} s; command: {command}")
    failed = counts["FAIL"] > 0
    return 1 if args.strict and failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.issue9 [options]`` is ``python -m bench --issue9 [options]``."""
    import sys

    from bench.run import main as bench_main

    return bench_main(["--issue9", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
