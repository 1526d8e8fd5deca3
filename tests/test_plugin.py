"""The pytest plugin's fixtures, used the way other projects would use them."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from trio_heartbeat.server import HeartbeatServer
from trio_heartbeat.testing import Direction, FaultProxy, Faults, MemoryNetwork


async def next_disconnect(ws: th.ManagedWebSocket) -> th.Disconnected:
    async for event in ws.state_changes:
        if isinstance(event, th.Disconnected):
            return event
    raise AssertionError("no disconnect")


async def test_memory_client_detects_black_hole_at_exact_time(
    memory_client: th.ManagedWebSocket,
    heartbeat_faults: Faults,
    autojump_clock: trio.testing.MockClock,
) -> None:
    await memory_client.send("hi")
    assert await memory_client.receive() == "hi"
    start = trio.current_time()
    heartbeat_faults.black_hole()
    lost = await next_disconnect(memory_client)
    assert isinstance(lost.cause, th.PeerUnresponsive)
    # the next ping is at most 1 s away, then 1 s to wait for its pong
    assert trio.current_time() - start <= 2.0
    heartbeat_faults.heal()
    await memory_client.wait_connected()
    await memory_client.send("again")
    assert await memory_client.receive() == "again"


async def test_memory_network_counts_dropped_heartbeats(
    memory_client: th.ManagedWebSocket,
    memory_network: MemoryNetwork,
    heartbeat_faults: Faults,
    autojump_clock: trio.testing.MockClock,
) -> None:
    heartbeat_faults.drop_heartbeats(Direction.TO_CLIENT)
    await trio.sleep(0.5)
    await memory_client.send("data still flows")
    assert await memory_client.receive() == "data still flows"
    await next_disconnect(memory_client)
    assert heartbeat_faults.statistics().heartbeat_frames_dropped >= 1
    assert len(memory_network.connections) == 1


@pytest.mark.loopback
async def test_managed_client_over_real_proxy(
    managed_client: th.ManagedWebSocket,
    fault_proxy: FaultProxy,
    heartbeat_server: HeartbeatServer,
    heartbeat_faults: Faults,
) -> None:
    with trio.fail_after(20):
        await managed_client.send("over tcp")
        assert await managed_client.receive() == "over tcp"
        assert len(heartbeat_server.clients()) == 1
        heartbeat_faults.abort()
        lost = await next_disconnect(managed_client)
        assert lost.code == 1006
        await managed_client.wait_connected()
        await managed_client.send("back")
        assert await managed_client.receive() == "back"
        assert len(fault_proxy.connections) == 2


@pytest.fixture
def client_heartbeat() -> th.Heartbeat:  # overriding the plugin's default, as users would
    return th.Heartbeat.ping(interval=0.5, reply_timeout=0.5)


async def test_fixture_override_is_used(
    memory_client: th.ManagedWebSocket, autojump_clock: trio.testing.MockClock
) -> None:
    await trio.sleep(2.1)
    assert memory_client.statistics().heartbeats_sent == 4


USER_TEST = """
import trio_heartbeat as th

async def test_uses_the_kit(memory_client: th.ManagedWebSocket) -> None:
    await memory_client.send("hi")
    assert await memory_client.receive() == "hi"
"""


def run_user_suite(
    tmp_path: pathlib.Path, ini: str, *args: str, source: str = USER_TEST
) -> tuple[int, str]:
    """Run a user's suite (by default one that requests ``memory_client``) in a fresh pytest."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    (tmp_path / "test_user.py").write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_plugin_without_pytest_trio_says_what_to_install(tmp_path: pathlib.Path) -> None:
    code, out = run_user_suite(tmp_path, "trio_mode = true", "-p", "no:trio")
    assert code == 1, out
    assert "fixture 'memory_network' is async and runs under pytest-trio" in out
    assert "which is not installed" in out
    assert "pip install 'trio_heartbeat[testing]'" in out and "trio_mode = true" in out
    assert "no plugin or hook that handled it" not in out


def test_plugin_without_trio_mode_says_what_to_configure(tmp_path: pathlib.Path) -> None:
    code, out = run_user_suite(tmp_path, "")
    assert code == 1, out
    assert "this test is not a Trio test (trio_mode is not set" in out
    assert "no plugin or hook that handled it" not in out


def test_plugin_with_pytest_trio_and_trio_mode_runs(tmp_path: pathlib.Path) -> None:
    code, out = run_user_suite(tmp_path, "trio_mode = true")
    assert code == 0, out
    assert "1 passed" in out


SKIPPING_TESTS = """
import pytest
import trio

@pytest.fixture
async def nursery():
    async with trio.open_nursery() as nursery:
        yield nursery

@pytest.fixture
async def needs_a():
    pytest.skip("service A is not installed")

@pytest.fixture
async def needs_b():
    pytest.skip("service B is not installed")

async def test_skips_in_its_body(nursery):
    pytest.skip("not on this transport")

async def test_skips_in_two_fixtures(needs_a, needs_b):
    pass
"""


def test_plugin_keeps_the_reason_of_a_skip_in_a_trio_test(tmp_path: pathlib.Path) -> None:
    code, out = run_user_suite(tmp_path, "trio_mode = true", "-rs", source=SKIPPING_TESTS)
    assert code == 0, out
    assert "test_user.py:19: not on this transport" in out
    assert re.search(r"test_user\.py:1[26]: service [AB] is not installed", out)  # either one
    assert "Exceptions from Trio nursery" not in out and ": Skipped" not in out
