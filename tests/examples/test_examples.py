"""The scripts in examples/: each runs as a subprocess, exits 0 and prints its story.

The five scripts start together (one module fixture) so the whole file takes about
as long as the slowest script. Every run is bounded by a timeout; processes still
running at the end are killed by PID.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server

pytestmark = pytest.mark.loopback

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = (
    "talo_style",
    "ws_ping_pong",
    "heartcheck_idle_probe",
    "binary_heartbeat",
    "tradovate_style",
    "resume_stream",
)
TIMEOUT = 30.0


def _start(name: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()  # only our own child, by its PID
    proc.communicate(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    procs = {name: _start(name) for name in SCRIPTS}
    try:
        yield procs
    finally:
        for proc in procs.values():
            _stop(proc)


def _output(runs: dict[str, subprocess.Popen[str]], name: str) -> str:
    """The script's stdout, after asserting it exited 0 within TIMEOUT with no traceback."""
    stdout, stderr = runs[name].communicate(timeout=TIMEOUT)
    assert runs[name].returncode == 0, f"{name} exited {runs[name].returncode}\n{stdout}{stderr}"
    assert "Traceback" not in stderr, stderr
    assert stdout.startswith("["), stdout  # a timeline
    return stdout


def test_readme_lists_every_script() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    scripts = [p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")]
    assert sorted(scripts) == sorted(SCRIPTS)
    for name in SCRIPTS:
        assert f"`{name}.py`" in readme


def test_talo_style_echoes_are_swallowed(runs: dict[str, subprocess.Popen[str]]) -> None:
    out = _output(runs, "talo_style")
    echoed = re.findall(r"heartbeat #(\d+) echoed \(swallowed\), rtt [\d.]+ ms", out)
    assert len(echoed) >= 4 and echoed[:4] == ["1", "2", "3", "4"]
    assert len(re.findall(r"server +echoed v1.heartbeat", out)) >= 4
    assert "application received 'ack:hello'" in out
    assert "application received 'v1.heartbeat'" not in out
    assert "missed=0" in out and "echoes swallowed: yes" in out


def test_ws_ping_pong_terminates_and_removes_the_silent_client(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs, "ws_ping_pong")
    assert "registry 2 client(s), 0 terminated" in out
    assert "client 1 got chat: {'type': 'chat', 'from': 2" in out
    assert "client 2 got chat: {'type': 'chat', 'from': 2" in out
    assert re.search(r"server +client 2 removed: did not answer the heartbeat", out)
    assert "client 2 left (did not answer the heartbeat)" in out  # the broadcast
    after = out.split("stops abruptly")[1]
    assert "registry client 2" not in after and "registry 1 client(s), 1 terminated" in after
    assert "summary: terminated=1, registry now [1]" in out


def test_heartcheck_probes_after_idle_and_reconnects(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs, "heartcheck_idle_probe")
    gap = float(re.search(r"first probe ([\d.]+) s after the last message", out)[1])  # type: ignore[index]
    assert 0.9 <= gap <= 1.25
    assert out.count("received 'news") == 3
    assert "probe received on connection 1: mute, no answer" in out
    assert "Disconnected cause=PeerUnresponsive" in out
    assert "WaitingToReconnect delay=0.3 s" in out
    assert "probe received on connection 2: answer 'pong'" in out
    assert "connection 2 ended: closed by the client" in out
    assert "['Connected', 'Disconnected', 'Connected']" in out


def test_binary_heartbeat_terminates_the_deaf_and_watches_the_server(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs, "binary_heartbeat")
    assert re.search(r"deaf +read b'\\x01', no answer", out)
    assert re.search(r"deaf +connection ended by the server", out)
    # the deaf client is terminated, the managed one leaves on its own at its exit
    # (which of the two connects first, and so gets id 1, varies)
    deaf = re.search(r"client (\d) removed: did not answer the heartbeat", out)
    managed = re.search(r"client (\d) removed: closed by the client", out)
    assert deaf and managed and deaf[1] != managed[1]
    waited = float(re.search(r"no 0x01 for ([\d.]+) s: closed: PeerUnresponsive", out)[1])  # type: ignore[index]
    assert 0.7 <= waited <= 0.95
    assert "gave up on a silent server=True" in out


def test_tradovate_style_matches_by_id_and_reauthorizes(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs, "tradovate_style")
    second = out.index("response id 2 to 'user/list'")
    assert second < out.index("response id 1 to 'account/list'")  # out of order, matched
    assert out.count("event 'md'") == 3
    assert "link lost: code 3000 'Go away!'" in out
    assert len(re.findall(r"server +request 'authorize' id 0", out)) == 2
    assert "connected and authorized (attempt 2)" in out
    assert "sessions=2 authorized=2" in out and "checks=[True, True]" in out


def test_resume_stream_delivers_each_message_once(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs, "resume_stream")
    got = re.findall(r"application got 'seq:(\d+)'", out)
    assert got == [str(n) for n in range(1, 13)]
    resumed = re.findall(r"resume from (\w+)", out)
    assert resumed == ["None", "4", "6", "8", "10"]
    assert re.search(r"server +got 'resume 4': sending seq:3\.\.6", out)  # overlapping replay
    assert "duplicates dropped: 8, connects: 5" in out
    assert "each message once, in order: yes" in out


# -- --url: the client against a server the test runs ------------------------------


async def _echo_talo(client: ServerClient) -> None:
    async for message in client:
        if message == "v1.heartbeat":
            await client.send(message)


async def _ignore(client: ServerClient) -> None:
    async for _ in client:
        pass


async def _answer_ping(client: ServerClient) -> None:
    async for message in client:
        if message == "ping":
            await client.send("pong")


Handler = Callable[[ServerClient], Awaitable[None]]


URL_CASES: list[tuple[str, Handler, ServerHeartbeat, int]] = [
    ("talo_style", _echo_talo, ServerHeartbeat.ping(5.0), 0),
    ("talo_style", _ignore, ServerHeartbeat.ping(5.0), 1),  # no echo: heartbeats missed
    ("heartcheck_idle_probe", _answer_ping, ServerHeartbeat.ping(5.0), 0),
    ("binary_heartbeat", _ignore, ServerHeartbeat.binary(0.5), 0),
    ("binary_heartbeat", _ignore, ServerHeartbeat.ping(5.0), 1),  # no 0x01: link lost
]


async def test_url_option_points_the_client_elsewhere() -> None:
    """Each case: our server, the script's client against it; all cases at once."""
    failures: list[str] = []

    async def case(name: str, handler: Handler, heartbeat: ServerHeartbeat, code: int) -> None:
        async with open_heartbeat_server(handler, "127.0.0.1", 0, heartbeat=heartbeat) as srv:
            url = f"ws://127.0.0.1:{srv.port}/"
            command = [sys.executable, str(EXAMPLES / f"{name}.py"), "--url", url]
            done = await trio.run_process(
                command, capture_stdout=True, capture_stderr=True, check=False
            )
            accepted = srv.statistics().accepted
        out, err = done.stdout.decode(), done.stderr.decode()
        if done.returncode != code or "Traceback" in err or url not in out or accepted < 1:
            failures.append(f"{name} ({handler.__name__}): rc {done.returncode}\n{out}{err}")

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            for args in URL_CASES:
                nursery.start_soon(case, *args)
    assert not failures, "\n".join(failures)


# -- Ctrl-C ---------------------------------------------------------------------------


def test_ctrl_c_exits_cleanly() -> None:
    """SIGINT once the timeline started: exit status 130, no traceback (all scripts at once)."""
    procs = {name: _start(name) for name in SCRIPTS}
    try:
        for name, proc in procs.items():
            assert proc.stdout is not None
            first = proc.stdout.readline()  # the first timeline line: trio is running
            assert first.startswith("["), (name, first)
            proc.send_signal(signal.SIGINT)
        for name, proc in procs.items():
            _, stderr = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 130, (name, stderr)
            assert "Traceback" not in stderr and "interrupted" in stderr, (name, stderr)
    finally:
        for proc in procs.values():
            _stop(proc)
