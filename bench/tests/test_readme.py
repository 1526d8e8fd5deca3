"""The README rewriter: only the text between the markers changes, and only with sane markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import readme
from bench.readme import END, START, rewrite

README = f"# Title\n\n## Performance\nprose before\n{START}\nold table\n| a |\n{END}\nprose after\n"


def test_rewrite_replaces_only_between_the_markers() -> None:
    out = rewrite(README, "| new |\n|---|\n\n")
    assert (
        out
        == f"# Title\n\n## Performance\nprose before\n{START}\n| new |\n|---|\n{END}\nprose after\n"
    )
    # Idempotent: the same block again changes nothing.
    assert rewrite(out, "| new |\n|---|\n") == out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no markers\n", "exactly once"),
        (f"{START}\n{START}\n{END}\n", "exactly once"),
        (f"{END}\nx\n{START}\n", "before"),
        (f"x {START}\nold\n{END}\n", "own"),
        (f"{START}\nold\n{END} trailing\n", "own"),
    ],
)
def test_rewrite_refuses_bad_markers(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rewrite(text, "block")


def test_rewrite_refuses_a_block_with_a_marker() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        rewrite(README, f"x\n{END}\n")


def test_main_writes_copies_the_chart_and_checks(tmp_path: Path) -> None:
    page, block, chart = tmp_path / "README.md", tmp_path / "b.md", tmp_path / "c.png"
    page.write_text(README, encoding="utf-8")
    block.write_text("| generated |\n", encoding="utf-8")
    chart.write_bytes(b"\x89PNG fake")
    argv = ["--readme", str(page), "--block", str(block), "--chart", str(chart)]
    target = tmp_path / "docs" / "chart.png"
    assert readme.main([*argv, "--check", "--chart-to", str(target)]) == 1
    assert page.read_text(encoding="utf-8") == README  # --check writes nothing
    assert readme.main([*argv, "--chart-to", str(target)]) == 0
    assert "| generated |" in page.read_text(encoding="utf-8")
    assert target.read_bytes() == b"\x89PNG fake"
    assert readme.main([*argv, "--check", "--chart-to", str(target)]) == 0


def test_issue9_markdown_is_a_block_the_rewriter_accepts() -> None:
    from bench import _report, issue9

    rows = [
        {
            "scenario": "idle",
            "client": "trio_heartbeat",
            "params": {"n": 1000, "interval": 1.0},
            "runs": [],
            "median": {
                "rss_kib_per_conn": 20.0,
                "cpu_pct": 7.0,
                "answered_pct": 100.0,
                "missed": 0.0,
                "connect_s": 1.5,
            },
        },
        {
            "scenario": "storm",
            "client": "model full_jitter (no I/O)",
            "params": {"wait_max": 2.0},
            "runs": [],
            "median": {"peak_per_100ms": 140.0, "peak_ratio": 2.8, "all_back_s": 1.9},
        },
    ]
    verdicts = _report.evaluate_targets(rows)
    block = issue9.markdown(
        rows,
        verdicts,
        run_id="r1",
        total_s=600.0,
        command="python -m bench --issue9",
        machine={"cpus": 2, "python": "3.11", "versions": {"trio": "0.35"}},
    )
    lines = block.splitlines()
    assert (
        "| CPU per answered heartbeat <= 80 µs (worst: N=1,000 x 1 s) | 70.00 <= 80.00 | **PASS** |"
        in lines
    )
    assert "| storm: all back within wait_max + 1 s | not measured | n/a |" in lines
    assert "| 1,000 x 1 s | trio_heartbeat | 20.0 | 7.0 | 100.0 | 0 | 70 | 1.5 |" in lines
    assert "| model full_jitter (no I/O) | 140 | 2.80 | n/a | 1.90 |" in lines
    assert "(10 min)" in lines[1] and "trio 0.35" in lines[1]
    assert lines[-1] == f"![issue 9 targets, measured / target]({issue9.README_CHART})"
    assert rewrite(README, block).count("**PASS**") == 2  # heartbeat CPU and memory
