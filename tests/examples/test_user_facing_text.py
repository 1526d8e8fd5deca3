"""What users read names the patterns, not the project's source documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_REFERENCE = re.compile(
    r"seeds|seed (?:document|pattern)|the seed's|[0-9]{3}_[0-9a-f]{16}|/work/|shared/"
)


def user_facing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "examples").rglob("*.md"))]
    for folder in ("examples", "trio_heartbeat", "docs"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", user_facing_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_source_documents(path: Path) -> None:
    hits = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SOURCE_REFERENCE.search(line)
    ]
    assert hits == []
