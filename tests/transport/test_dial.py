"""The dial step's misconfigurations: found while connecting, they stop at once."""

from __future__ import annotations

import sys

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from trio_heartbeat._transport.proxy_env import parse_proxy
from trio_heartbeat._transport.socks import socks_connect


def test_usage_errors_are_not_retried() -> None:
    assert th.ReconnectPolicy().action_for(th.UsageError("misconfigured")) is th.CloseAction.STOP


async def test_socks_without_python_socks_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "python_socks", None)  # import fails
    with pytest.raises(th.UsageError, match=r"trio_heartbeat\[socks\]"):
        await socks_connect(parse_proxy("socks5h://u:p@127.0.0.1:1080"), "ws.test", 80)


async def test_a_bad_proxy_in_the_environment_stops_without_io(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "ftp://user:SECRET@proxy.test:21")
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket("ws://svc.test/") as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, th.UsageError)
    assert info.value.attempts == 1
    assert "SECRET" not in str(info.value)


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.loopback
async def test_a_refused_connect_says_why_and_keeps_only_the_systems_error() -> None:
    from trio_heartbeat._transport.dial import open_tcp

    port = _closed_port()
    with pytest.raises(th.ConnectError) as info:
        await open_tcp("127.0.0.1", port)
    error = info.value
    assert str(error) == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    # One address: its error is the cause, trio's aggregate is not kept at all.
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert error.__context__ is error.__cause__ or error.__context__ is None
    assert error.__cause__.__cause__ is None and error.__cause__.__context__ is None


async def test_several_addresses_are_all_named_and_the_aggregate_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    from trio_heartbeat._transport import dial

    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Error connecting to ::1: refused")
    unreachable = OSError(errno.ENETUNREACH, "Error connecting to 10.0.0.1: unreachable")
    aggregate = OSError("all attempts to connect to svc.test:80 failed")

    async def failing(host: str, port: int) -> trio.abc.Stream:
        raise aggregate from ExceptionGroup("all failed", [refused, unreachable, refused])

    monkeypatch.setattr(trio, "open_tcp_stream", failing)
    with pytest.raises(th.ConnectError) as info:
        await dial.open_tcp("svc.test", 80, "the proxy ")
    assert str(info.value) == (
        "cannot connect to the proxy svc.test:80: Connection refused; Network is unreachable"
    )
    assert info.value.__cause__ is aggregate


async def test_a_failed_name_lookup_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from trio_heartbeat._transport import dial

    async def unknown(host: str, port: int) -> trio.abc.Stream:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(trio, "open_tcp_stream", unknown)
    with pytest.raises(th.ConnectError) as info:
        await dial.open_tcp("no.such.host", 80)
    assert str(info.value) == "cannot connect to no.such.host:80: Name or service not known"
    assert isinstance(info.value.__cause__, socket.gaierror)
