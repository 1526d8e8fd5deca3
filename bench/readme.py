"""Rewrite the README's Performance block from the last ``python -m bench --issue9`` run.

``python -m bench.readme [--readme README.md] [--block bench/results/issue9.md] [--check]``
replaces everything between :data:`START` and :data:`END` in the README with the generated
block (verbatim) and copies ``bench/results/issue9.png`` to ``docs/performance-chart.png``
(the path the block links). Nothing outside the markers changes. ``--check`` writes nothing
and exits 1 if the README's block differs from the generated one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench._common import BENCH_DIR

START = "<!-- bench:performance:start -->"
END = "<!-- bench:performance:end -->"
ROOT = BENCH_DIR.parent


def rewrite(text: str, block: str) -> str:
    """``text`` with the part between the markers replaced by ``block``.

    Raises ValueError unless each marker occurs exactly once, START before END, each on a
    line of its own, or if ``block`` itself contains a marker.
    """
    for marker in (START, END):
        if text.count(marker) != 1:
            raise ValueError(f"{marker} must occur exactly once (found {text.count(marker)})")
        if marker in block:
            raise ValueError(f"the generated block must not contain {marker}")
    head, rest = text.split(START, 1)
    if END not in rest:
        raise ValueError(f"{END} comes before {START}")
    _, tail = rest.split(END, 1)
    if not (head.endswith("\n") or not head) or not tail.startswith("\n"):
        raise ValueError("each marker must be on a line of its own")
    return f"{head}{START}\n{block.strip()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) the README's block; copy the chart."""
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--block", type=Path, default=BENCH_DIR / "results" / "issue9.md")
    parser.add_argument("--chart", type=Path, default=BENCH_DIR / "results" / "issue9.png")
    parser.add_argument("--chart-to", type=Path, default=ROOT / "docs" / "performance-chart.png")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = rewrite(text, args.block.read_text(encoding="utf-8"))
    if args.check:
        stale = new != text
        print(f"{args.readme}: Performance block {'differs' if stale else 'is up to date'}")
        return 1 if stale else 0
    args.readme.write_text(new, encoding="utf-8")
    print(f"rewrote the Performance block of {args.readme}")
    if args.chart.exists():
        args.chart_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.chart, args.chart_to)
        print(f"copied {args.chart} to {args.chart_to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
