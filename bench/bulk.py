"""Scenario 2: bulk one-way throughput, server -> client.

Two workloads on one connection each: 64 MiB in 64 KiB binary messages (MB/s, MB = 10^6
bytes) and 200,000 messages of 100 bytes (msg/s). The raw trio-websocket client is measured
with its default 4 KiB receive buffer and with 64 KiB. ``server-ceiling`` reads the same
byte stream with a plain socket and no WebSocket parsing: the server's own top speed, so a
client close to it is limited by the server, not by itself.

Run alone: ``python -m bench.bulk [--quick] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import _report
from bench._clients import CLIENTS, source_fn
from bench._common import median, quiet_logs, server

WORKLOADS = {
    # scenario: (message size, count, count in --quick)
    "bulk-64KiB": (65536, 1024, 256),
    "bulk-100B": (100, 200_000, 50_000),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this scenario (shared with ``python -m bench``)."""
    parser.add_argument(
        "--bulk-scale", type=float, default=None, help="multiply message counts by this"
    )


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Measure every client on both workloads; one row per (workload, client)."""
    quiet_logs()
    repeats = args.repeats or (3 if args.quick else 5)
    names = [*CLIENTS, "server-ceiling"]
    rows: list[dict[str, Any]] = []
    with server() as srv:
        for scenario, (size, full, quick) in WORKLOADS.items():
            count = quick if args.quick else full
            if args.bulk_scale:
                count = max(1, int(count * args.bulk_scale))
            runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            for rep in range(repeats):
                for name in names:
                    fn = source_fn(name)
                    if fn is None:
                        continue
                    if rep == 0:
                        fn(srv.url, size, max(1, count // 20))  # warm-up
                    cpu0 = srv.cpu_seconds()
                    elapsed = fn(srv.url, size, count)
                    server_cpu = srv.cpu_seconds() - cpu0
                    runs[name].append(
                        {
                            "MB_per_s": size * count / elapsed / 1e6,
                            "msgs_per_s": count / elapsed,
                            "server_cpu_pct": 100.0 * server_cpu / elapsed,
                        }
                    )
                    _report.progress(f"{scenario} rep {rep + 1}/{repeats} {name}: {runs[name][-1]}")
            for name in names:
                rows.append(
                    {
                        "scenario": scenario,
                        "client": name,
                        "params": {"size": size, "count": count, "repeats": repeats},
                        "runs": runs[name],
                        "median": {k: median([r[k] for r in runs[name]]) for k in runs[name][0]}
                        if runs[name]
                        else None,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run this scenario alone: table, targets, JSON lines."""
    return _report.scenario_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
