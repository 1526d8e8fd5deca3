"""Run every benchmark scenario (or some) in one go: ``python -m bench [scenario ...]``.

Scenarios, in run order: echo, bulk, idle, detect, storm. Prints one table per scenario,
issue 9's targets with PASS / FAIL / n/a, appends JSON lines to bench/results/results.jsonl
and draws bench/results/chart.png. ``--quick`` makes a smoke run of a few minutes; see
README.md for the full run's duration. ``--issue9`` runs instead exactly what issue 9's
targets need (:mod:`bench.issue9`) and writes the README's Performance block. Every server
process is killed by PID before returning.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import _report, bulk, detect, echo, hotpath, idle, issue9, storm
from bench._common import append_results, load_managed, machine_info, new_run_id

SCENARIOS: dict[
    str,
    tuple[
        Callable[[argparse.ArgumentParser], None],
        Callable[[argparse.Namespace], list[dict[str, Any]]],
    ],
] = {
    "echo": (echo.add_arguments, echo.run),
    "bulk": (bulk.add_arguments, bulk.run),
    "idle": (idle.add_arguments, idle.run),
    "detect": (detect.add_arguments, detect.run),
    "storm": (storm.add_arguments, storm.run),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bench``: common options plus every scenario's."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"any of {', '.join(SCENARIOS)} (default: all)",
    )
    _report.add_common_arguments(parser)
    parser.add_argument(
        "--issue9",
        action="store_true",
        help="run exactly what issue 9's targets need; write bench/results/issue9.md and .png",
    )
    for add_arguments, _ in SCENARIOS.values():
        add_arguments(parser)
    hotpath.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; exit status 0 (1 with ``--strict`` and a failed target)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    chosen = list(dict.fromkeys(args.scenarios)) or list(SCENARIOS)
    run_id = new_run_id()
    info = machine_info()
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.issue9:
        if args.scenarios:
            parser.error("--issue9 runs its own set of scenarios; name none")
        return issue9.run_issue9(args, run_id=run_id, machine=info, command=command.strip())
    managed = "available" if load_managed() is not None else "n/a (import failed)"
    _report.progress(f"run {run_id}: {chosen}, trio_heartbeat {managed}, {info}")
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in chosen:
        t0 = time.monotonic()
        try:
            rows.extend(SCENARIOS[name][1](args))
        except Exception as exc:  # report the others; the traceback goes to stderr
            traceback.print_exc()
            _report.progress(f"{name} FAILED: {exc!r}")
            failed.append(name)
        _report.progress(f"{name} took {time.monotonic() - t0:.0f} s")
    for row in rows:
        row.setdefault("machine", info)
    status = _report.finish(
        rows, run_id=run_id, chart=True, append=append_results, strict=args.strict
    )
    print(f"total {time.monotonic() - started:.0f} s; command: {command}")
    return status


if __name__ == "__main__":
    sys.exit(main())
