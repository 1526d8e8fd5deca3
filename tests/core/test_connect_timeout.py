"""ConnectionOptions owns connect_timeout; ReconnectPolicy(connect_timeout=) is its old name."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.core.memserver import MemoryServer


@pytest.mark.parametrize(
    ("options", "policy_timeout", "bound"),
    [
        (th.ConnectionOptions(connect_timeout=4.0), None, 4.0),
        (th.ConnectionOptions(), None, 10.0),  # the default
        (th.ConnectionOptions(connect_timeout=4.0), 2.0, 2.0),  # the deprecated alias wins
    ],
)
async def test_connect_timeout_bounds_each_opening(
    echo_server: MemoryServer,
    autojump_clock: trio.testing.MockClock,
    options: th.ConnectionOptions,
    policy_timeout: float | None,
    bound: float,
) -> None:
    echo_server.black_hole_handshake = True
    deprecated = pytest.warns(DeprecationWarning, match=r"ReconnectPolicy\(connect_timeout=")
    with deprecated if policy_timeout is not None else contextlib.nullcontext():
        policy = th.ReconnectPolicy.fixed(1.0, max_attempts=2, connect_timeout=policy_timeout)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, options=options, dial=echo_server.dial
        ) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, th.ConnectTimeout)
    assert info.value.last_error.timeout == bound
    assert echo_server.dial_times == [0.0, bound + 1.0]
    assert trio.current_time() == 2 * bound + 1.0
