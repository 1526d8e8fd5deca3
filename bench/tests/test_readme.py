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
