"""docs/diagrams.py: the timeline it draws is what a real connection does, and it renders.

The simulation runs a real managed connection in virtual time, so these times are
exact: a change to detection or backoff that moves them shows up here (and the
picture in the docs must then be re-rendered with ``python docs/diagrams.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import trio_heartbeat as th

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "diagrams.py"


@pytest.fixture(scope="module")
def diagrams() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trio_heartbeat_docs_diagrams", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs classes look their module up
    spec.loader.exec_module(module)
    return module


def test_half_open_timeline_is_detected_and_reconnected(diagrams: ModuleType) -> None:
    timeline = diagrams.simulate_half_open()
    # Handshake and on-connect take 0.2 s (0.05 s each way, two round trips); the
    # link's clock starts after the handshake, at 0.1: pings every second from 1.1.
    assert timeline.pings[:5] == pytest.approx([1.1, 2.1, 3.1, 4.1, 5.1])
    # Pongs only for the pings before the black hole at 3.5 (0.1 s round trip).
    assert timeline.pongs[:3] == pytest.approx([1.2, 2.2, 3.2])
    assert all(t > diagrams.HEALED_AT for t in timeline.pongs[3:])
    kinds = [type(event).__name__ for _, event in timeline.events]
    assert kinds[:4] == ["Connecting", "Connected", "Disconnected", "WaitingToReconnect"]
    lost_at, lost = timeline.events[2]
    # Dead one reply timeout after the first unanswered ping (4.1 + 1.0).
    assert lost_at == pytest.approx(5.1)
    assert isinstance(lost.cause, th.PeerUnresponsive) and lost.was_connected
    # While the black hole lasts, each attempt ends after connect_timeout.
    attempts = [t for t, e in timeline.events if isinstance(e, th.Connecting)]
    failures = [
        (t, e.cause)
        for t, e in timeline.events
        if isinstance(e, th.Disconnected) and not e.was_connected
    ]
    assert failures, "no attempt failed during the black hole"
    for (failed_at, cause), started in zip(failures, attempts[1:], strict=False):
        assert isinstance(cause, th.ConnectTimeout)
        assert failed_at - started == pytest.approx(diagrams.OPTIONS.connect_timeout)
    # Each wait is the backoff delay it announced.
    for (waited_at, wait), started in zip(
        [(t, e) for t, e in timeline.events if isinstance(e, th.WaitingToReconnect)],
        attempts[1:],
        strict=True,
    ):
        assert started - waited_at == pytest.approx(wait.delay)
    # Up again after the network healed, the on-connect step included.
    reconnected_at, last = timeline.events[-1]
    assert isinstance(last, th.Connected) and reconnected_at > diagrams.HEALED_AT
    assert [state for _, state in timeline.states][-1] == "connected"


def test_script_renders_both_pictures(diagrams: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the docs extra (matplotlib) is not installed")
    assert diagrams.main(["diagrams.py", str(tmp_path)]) == 0
    for name in (diagrams.STATES_PNG, diagrams.TIMELINE_PNG):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG"), name
        assert len(data) > 20_000, name  # a drawing, not an empty canvas
