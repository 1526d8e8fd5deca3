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
