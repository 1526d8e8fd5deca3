"""Autobahn TestSuite client cases (via kosoku, offline) on every engine we keep.

Sections 1-7, 9 and 10 in full on ``Transport.DIRECT`` and ``Transport.WEBSOCKETS``
(about 10 s each); with permessage-deflate on ``Transport.WEBSOCKETS`` a subset of 12
and 13 (the full 12 + 13 run takes about 5 minutes:
``python interop/autobahn.py --compression --cases '12.*' '13.*'``). Every case must be
OK, NON-STRICT or INFORMATIONAL, for its messages and its closing handshake.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import trio

import trio_heartbeat as th
from tests.interop.conftest import require_python_package

pytestmark = [pytest.mark.interop, pytest.mark.autobahn]

SCRIPT = Path(__file__).resolve().parents[2] / "interop" / "autobahn.py"
#: The first case of each 12.x (message sizes) and 13.x (offer / accept combination)
#: subsection, and one auto-fragmented case of each section (about 5 s; the full 12 + 13
#: run takes about 5 minutes).
COMPRESSION_SUBSET = (
    *(f"12.{j}.1" for j in range(1, 6)),
    *(f"13.{j}.1" for j in range(1, 8)),
    "12.1.10",
    "13.7.10",
)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("interop_autobahn", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def autobahn() -> ModuleType:
    require_python_package("kosoku")
    return load_script()


def assert_all_pass(verdicts: list[object], expected: int) -> None:
    failed = [v for v in verdicts if not v.passed]  # type: ignore[attr-defined]
    assert failed == []
    assert len(verdicts) == expected


@pytest.mark.parametrize("engine", [th.Transport.DIRECT, th.Transport.WEBSOCKETS], ids=str)
async def test_sections_1_to_7_9_10(autobahn: ModuleType, engine: th.Transport) -> None:
    with trio.fail_after(240):
        verdicts = await autobahn.run_cases(engine, autobahn.SECTIONS)
    assert_all_pass(verdicts, 301)


async def test_compression_sections_12_13_subset(autobahn: ModuleType) -> None:
    with trio.fail_after(240):
        verdicts = await autobahn.run_cases(
            th.Transport.WEBSOCKETS, COMPRESSION_SUBSET, compression=True
        )
    assert_all_pass(verdicts, len(COMPRESSION_SUBSET))
    assert {v.case_id for v in verdicts} == set(COMPRESSION_SUBSET)


async def test_a_broken_engine_fails_cases(
    autobahn: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness can fail: an engine that never answers pings fails the ping cases."""
    from trio_heartbeat._transport import websockets_engine

    def no_pongs(self: object, frame: object) -> None:
        if getattr(frame, "opcode", None) is not websockets_engine.Opcode.PING:
            original(self, frame)

    original = websockets_engine._ClientProtocol.recv_frame
    monkeypatch.setattr(websockets_engine._ClientProtocol, "recv_frame", no_pongs)
    with trio.fail_after(60):
        verdicts = await autobahn.run_cases(th.Transport.WEBSOCKETS, ["2.2", "2.3"])
    assert [v.passed for v in verdicts] == [False, False]
