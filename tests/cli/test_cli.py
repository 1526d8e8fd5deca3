"""The command-line client: flags in-process, behaviour in a subprocess against local servers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib.metadata import entry_points

import pytest
import trio
import trio_websocket

from tests.interop.conftest import InteropServers, interop_servers
from tests.loopback.conftest import echo_process
from tests.loopback.test_client_loopback import EchoProcess
from tests.loopback.test_proxies import proxy_process
from trio_heartbeat import (
    ConnectionOptions,
    Heartbeat,
    PerMessageDeflate,
    ReconnectPolicy,
    Transport,
)
from trio_heartbeat.cli import Reporter, build_parser, configure, main, safe_url
from trio_heartbeat.errors import UsageError
from trio_heartbeat.server import ClientEnd, ServerClient, ServerHeartbeat, open_heartbeat_server

__all__ = ["echo_process", "interop_servers"]  # fixtures, shared with those tests

TIMEOUT = 20.0
FAST = ["--interval", "0.5", "--timeout", "0.5", "--wait-initial", "0.1", "--wait-max", "0.2"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trio_heartbeat", *args]


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end with ``stdin`` as input (None: no input at all)."""
    return subprocess.run(
        cli(*args),
        input=stdin,
        env=env,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# -- flags (in-process) ---------------------------------------------------------


def settings(*argv: str) -> tuple[Heartbeat, ReconnectPolicy, ConnectionOptions]:
    return configure(build_parser().parse_args(["ws://h/", *argv]))


def test_heartbeat_flags_map_to_presets() -> None:
    assert settings()[0] == Heartbeat.ping(interval=30.0, reply_timeout=10.0)
    assert settings("--text", "hb", "--reply", "ok", "--interval", "5", "--timeout", "2")[
        0
    ] == Heartbeat.text("hb", interval=5.0, reply_timeout=2.0, reply="ok")
    assert settings("--server", "hex:01", "--answer", "hex:01", "--interval", "5")[
        0
    ] == Heartbeat.server_sent(b"\x01", interval=5.0, silence_timeout=15.0, answer=b"\x01")
    assert settings("--idle", "ping", "--interval", "3", "--timeout", "4")[
        0
    ] == Heartbeat.idle_probe("ping", interval=3.0, reply_timeout=4.0)
    assert settings("--no-heartbeat")[0] == Heartbeat.disabled()


def test_backoff_headers_subprotocols_and_tls() -> None:
    _, policy, options = settings(
        "--max-attempts", "3", "--wait-initial", "0.2", "-H", "X-Token: abc", "--subprotocol", "v1"
    )
    assert policy.max_attempts == 3 and policy.wait_initial == 0.2
    assert options.extra_headers == (("X-Token", "abc"),)
    assert options.subprotocols == ("v1",)
    assert options.ssl_context is None
    insecure = settings("--insecure")[2].ssl_context
    assert insecure.verify_mode.name == "CERT_NONE" and not insecure.check_hostname


def test_proxy_flags() -> None:
    options = settings("--proxy", "socks5h://u:pw@127.0.0.1:1080")[2]
    assert options.proxy == "socks5h://u:pw@127.0.0.1:1080"
    assert options.proxy_from_environment
    assert "pw" not in repr(options)
    assert settings()[2].proxy is None
    assert not settings("--no-proxy-env")[2].proxy_from_environment
    with pytest.raises(UsageError) as info:
        settings("--proxy", "ftp://u:pw-secret@127.0.0.1:21")
    assert "pw-secret" not in str(info.value)


def test_compress_flag_offers_permessage_deflate_over_the_websockets_engine() -> None:
    options = settings("--compress")[2]
    assert options.transport is Transport.WEBSOCKETS
    assert options.compression == PerMessageDeflate()
    plain = settings()[2]
    assert plain.transport is Transport.DIRECT and plain.compression is None


def test_stop_pongs_after_must_not_be_negative() -> None:
    assert build_parser().parse_args(["ws://h/", "--stop-pongs-after", "0"]).stop_pongs_after == 0
    with pytest.raises(UsageError, match="--stop-pongs-after"):
        settings("--stop-pongs-after", "-1")


def test_bad_flags_are_usage_errors_that_hide_header_values() -> None:
    with pytest.raises(UsageError) as info:
        settings("-H", "no-colon-secret")
    assert "secret" not in str(info.value)
    with pytest.raises(UsageError):
        settings("--server", "hex:zz")
    with pytest.raises(UsageError):
        settings("--interval", "0")
    with pytest.raises(UsageError):
        settings("--cacert", "/nonexistent/ca.pem")


def test_safe_url_drops_user_info_and_query() -> None:
    assert safe_url("wss://user:pw@example.com/feed?token=s3") == "wss://example.com/feed"
    assert safe_url("ws://127.0.0.1:8080/") == "ws://127.0.0.1:8080/"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["http://example.com/"]) == 2
    assert "ws:// or wss://" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_is_a_live_line_on_a_terminal_and_plain_lines_otherwise() -> None:
    out, err = io.StringIO(), Terminal()
    live = Reporter(out, err, as_json=False)
    live.status("connecting", "connecting (attempt 1)")
    live.status("connected", "connected (attempt 1)")
    live.message(b"\x01\xff")
    assert err.getvalue() == (
        "\r\x1b[2Kconnecting (attempt 1)\r\x1b[2Kconnected (attempt 1)\r\x1b[2K"
    )
    assert out.getvalue() == "hex:01ff\n"
    live.status("waiting", "waiting 1.0 s")
    live.end()
    assert err.getvalue().endswith("\r\x1b[2Kwaiting 1.0 s\n")
    plain_err = io.StringIO()
    Reporter(io.StringIO(), plain_err, as_json=False).status("waiting", "waiting 1.0 s")
    assert plain_err.getvalue() == "waiting 1.0 s\n"


def test_console_script_points_at_main() -> None:
    (script,) = entry_points(group="console_scripts", name="trio-heartbeat")
    assert script.load() is main


# -- subprocess against local servers ---------------------------------------------


@pytest.mark.loopback
def test_echo_lines_out_messages_in_status_on_stderr(echo_process: EchoProcess) -> None:
    url = f"ws://127.0.0.1:{echo_process.port}/feed?token=q-secret"
    done = run_cli(
        url, "-H", "Authorization: Bearer h-secret", "--wait", "0.5", *FAST, stdin="hello\nwörld\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\nwörld\n"
    assert f"connecting to ws://127.0.0.1:{echo_process.port}/feed\n" in done.stderr
    assert "connected (attempt 1)" in done.stderr
    assert "secret" not in done.stdout + done.stderr


@pytest.mark.loopback
def test_through_a_real_proxy_given_by_flag_or_environment(echo_process: EchoProcess) -> None:
    with contextlib.contextmanager(proxy_process)("http") as proxy:
        done = run_cli(echo_process.url, "--proxy", proxy.url("http"), *FAST, stdin="via\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "via\n"
        assert proxy.tunnels == 1
        environ = {**os.environ, "HTTP_PROXY": proxy.url("http"), "NO_PROXY": ""}
        for flag, tunnels in (((), 2), (("--no-proxy-env",), 2)):
            done = run_cli(echo_process.url, *flag, *FAST, stdin="env\n", env=environ)
            assert done.returncode == 0, done.stderr
            assert done.stdout == "env\n"
            assert proxy.tunnels == tunnels


@pytest.mark.loopback
def test_json_lines(echo_process: EchoProcess) -> None:
    done = run_cli(echo_process.url, "--json", "--wait", "0.3", stdin="one\n")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    events = [r["event"] for r in records]
    assert events[:3] == ["start", "connecting", "connected"]
    assert {"event": "message", "text": "one"} in records


@pytest.mark.loopback
def test_gives_up_with_the_reason_and_exit_1() -> None:
    server = EchoProcess()
    server.start()
    server.kill()  # a port nobody listens on any more
    done = run_cli(server.url, "--max-attempts", "2", *FAST)
    assert done.returncode == 1
    assert "gave up: gave up after 2 attempt(s) (max_attempts=2 reached)" in done.stderr
    assert "Traceback" not in done.stderr


class Child:
    """The CLI in a child process, its output read as it comes (bounded by the caller)."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.out = b""
        self.err = b""

    async def expect(self, stream: str, text: str) -> None:
        """Read ``stream`` until ``text`` appeared (after what was already matched)."""
        source = self.proc.stdout if stream == "out" else self.proc.stderr
        assert source is not None
        marker = text.encode()
        while marker not in getattr(self, stream):
            chunk = await source.receive_some()
            assert chunk, f"{stream} ended before {text!r}: {getattr(self, stream)!r}"
            setattr(self, stream, getattr(self, stream) + chunk)
        _, _, tail = getattr(self, stream).partition(marker)
        setattr(self, stream, tail)

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all(line.encode())


@contextlib.asynccontextmanager
async def open_child(*args: str) -> AsyncIterator[Child]:
    """The CLI with ``args`` in a child process, killed (by its PID) if still running at the end."""
    proc = await trio.lowlevel.open_process(
        cli(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield Child(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.loopback
async def test_reconnects_after_a_server_restart(echo_process: EchoProcess) -> None:
    async with open_child(echo_process.url, "--wait", "0.2", *FAST) as child:
        with trio.fail_after(TIMEOUT):
            await child.expect("err", "connected (attempt 1)")
            await child.send("one\n")
            await child.expect("out", "one\n")
            echo_process.kill()
            await child.expect("err", "disconnected: ")
            await child.expect("err", "waiting ")
            echo_process.start()  # the same port
            await child.expect("err", "connected (attempt")
            await child.send("two\n")
            await child.expect("out", "two\n")
            assert child.proc.stdin is not None
            await child.proc.stdin.aclose()  # end of input: wait 0.2 s, close, exit 0
            assert await child.proc.wait() == 0


@pytest.mark.loopback
async def test_ctrl_c_exits_130_without_a_traceback(echo_process: EchoProcess) -> None:
    async with open_child(echo_process.url, *FAST) as child:
        with trio.fail_after(TIMEOUT):
            await child.expect("err", "connected (attempt 1)")
            child.proc.send_signal(signal.SIGINT)
            await child.expect("err", "interrupted")
            assert await child.proc.wait() == 130
            assert child.proc.stderr is not None
            rest = child.err + b"".join([chunk async for chunk in child.proc.stderr])
            assert b"Traceback" not in rest


@pytest.mark.loopback
async def test_stop_reading_lets_a_server_find_its_slow_consumer() -> None:
    """After --stop-reading-after the client reads nothing more (pings included): a
    server that keeps sending must notice it by its heartbeat and drop it."""
    ends: list[ClientEnd | None] = []
    ended = trio.Event()

    async def ticker(client: ServerClient) -> None:
        try:
            while True:
                await client.send("tick")
                await trio.sleep(0.02)
        finally:
            ends.append(client.end_reason)
            ended.set()

    heartbeat = ServerHeartbeat.ping(0.5)
    async with open_heartbeat_server(ticker, "127.0.0.1", 0, heartbeat=heartbeat) as srv:
        url = f"ws://127.0.0.1:{srv.port}/"
        args = ("--stop-reading-after", "0.3", "--receive-buffer", "2", "--no-heartbeat")
        async with open_child(url, *args, "--wait-initial", "5", "--wait-max", "5") as child:
            with trio.fail_after(TIMEOUT):
                await child.expect("out", "tick\n")
                await child.expect("err", "stopped reading")
                await ended.wait()  # the client never notices: it reads nothing
                child.proc.send_signal(signal.SIGINT)
                assert await child.proc.wait() == 130
    assert ends == [ClientEnd.UNRESPONSIVE]


@pytest.mark.loopback
async def test_close_after_closes_with_the_code_and_exits_0() -> None:
    closes: list[int] = []
    closed = trio.Event()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            assert exc.reason is not None
            closes.append(exc.reason.code)
            closed.set()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        url = f"ws://127.0.0.1:{server.port}/"
        async with open_child(url, "--close-after", "0.2", "--close-code", "4002") as child:
            with trio.fail_after(TIMEOUT):
                await child.expect("err", "closing with code 4002")
                assert await child.proc.wait() == 0  # stdin still open: it exits by itself
                await closed.wait()
        nursery.cancel_scope.cancel()
    assert closes == [4002]


def test_close_code_must_be_sendable() -> None:
    with pytest.raises(UsageError):
        settings("--close-after", "1", "--close-code", "1006")


@pytest.mark.interop
async def test_compress_is_negotiated_with_a_websockets_server(
    interop_servers: InteropServers,
) -> None:
    server = await interop_servers.websockets(ping_interval=5.0, ping_timeout=5.0)
    text = "compressible " * 4000  # 52,000 characters
    for flags, extensions in (((), []), (("--compress",), ["permessage-deflate"])):
        with trio.fail_after(TIMEOUT):
            done = await trio.run_process(
                cli(server.url, *flags, "--wait", "0.3"),
                stdin=(text + "\n").encode(),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode() == text + "\n"
        assert server.events("connect")[-1]["extensions"] == extensions


@pytest.mark.loopback
async def test_stop_pongs_after_lets_a_server_heartbeat_drop_the_client() -> None:
    """The client answers 2 pings per connection, then none: the server's isAlive
    rounds drop it at the 4th round after it connected, and the CLI reconnects."""
    interval, answered = 0.5, 2
    lifetimes: list[float] = []
    ends: list[ClientEnd | None] = []
    ended = trio.Event()

    async def handler(client: ServerClient) -> None:
        try:
            async for _ in client:
                pass
        finally:
            lifetimes.append(trio.current_time() - client.info.connected_since)
            ends.append(client.end_reason)
            ended.set()

    heartbeat = ServerHeartbeat.ping(interval)
    async with open_heartbeat_server(handler, "127.0.0.1", 0, heartbeat=heartbeat) as srv:
        url = f"ws://127.0.0.1:{srv.port}/"
        args = ("--stop-pongs-after", str(answered), "--no-heartbeat", "--wait-initial", "0.1")
        async with open_child(url, *args) as child:
            with trio.fail_after(TIMEOUT):
                await child.expect("err", "connected (attempt 1)")
                await ended.wait()
                await child.expect("err", "disconnected: ")
                await child.expect("err", "connected (attempt")  # a new link answers 2 again
                child.proc.send_signal(signal.SIGINT)
                assert await child.proc.wait() == 130
    assert ends[0] is ClientEnd.UNRESPONSIVE
    # Rounds 1..3 probe (answered, answered, unanswered), round 4 terminates.
    assert (answered + 1) * interval < lifetimes[0] <= (answered + 2) * interval + 0.25


def test_every_state_change_has_a_line() -> None:
    """The status task describes each kind of change (a missing one ended the CLI)."""
    import trio_heartbeat as th
    from trio_heartbeat.cli import describe

    kind, text, fields = describe(th.StateChangesDropped(3))
    assert kind == "changes_dropped" and "3 state change(s)" in text and fields == {"count": 3}
    for change in (th.Closed(()), th.WaitingToReconnect(1.0, 2)):
        assert describe(change)[0] in {"closed", "waiting"}
