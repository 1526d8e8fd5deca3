"""Scenario 1: echo round trips (32-byte messages on one connection).

For every client: ``--rounds`` round trips, repeated ``--repeats`` times, the clients
interleaved within each repeat so that machine noise hits all of them alike. Reports the
median over repeats of messages/s (round trips per second) and of the per-run p50 and p99
round-trip time, in microseconds.

Run alone: ``python -m bench.echo [--quick] [--rounds N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import _report
from bench._clients import CLIENTS, echo_fn
from bench._common import median, percentile, quiet_logs, server

SCENARIO = "echo"
PAYLOAD = b"x" * 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this scenario (shared with ``python -m bench``)."""
    parser.add_argument("--echo-rounds", type=int, default=None, help="round trips per run")


def run(args: argparse.Namespace, clients: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Measure every client (or ``clients``); one row each (n/a rows for missing libraries)."""
    quiet_logs()
    rounds = args.echo_rounds or (2_000 if args.quick else 20_000)
    repeats = args.repeats or (3 if args.quick else 5)
    names = list(clients) if clients else [n for n in CLIENTS if n != "raw-trio-websocket-64k"]
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    with server() as srv:
        for rep in range(repeats):
            for name in names:
                fn = echo_fn(name)
                if fn is None:
                    continue
                fn(srv.url, min(200, rounds), PAYLOAD)  # warm-up: imports, caches
                cpu0 = srv.cpu_seconds()
                rtts, total = fn(srv.url, rounds, PAYLOAD)
                server_cpu = srv.cpu_seconds() - cpu0
                runs[name].append(
                    {
                        "msgs_per_s": rounds / total,
                        "server_cpu_pct": 100.0 * server_cpu / total,
                        "p50_us": percentile(rtts, 50) * 1e6,
                        "p99_us": percentile(rtts, 99) * 1e6,
                    }
                )
                _report.progress(f"echo rep {rep + 1}/{repeats} {name}: {runs[name][-1]}")
    rows = []
    for name in names:
        row: dict[str, Any] = {
            "scenario": SCENARIO,
            "client": name,
            "params": {"rounds": rounds, "repeats": repeats, "size": len(PAYLOAD)},
            "runs": runs[name],
            "median": {key: median([r[key] for r in runs[name]]) for key in runs[name][0]}
            if runs[name]
            else None,
        }
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run this scenario alone: table, targets, JSON lines."""
    return _report.scenario_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
