"""pytest fixtures of trio_heartbeat's test kit.

Registered through the ``pytest11`` entry point, so installing trio_heartbeat
makes them available in any project. The fixtures below that open servers or
connections are async: they need pytest-trio (``pip install
'trio_heartbeat[testing]'``) and a Trio test, i.e. ``trio_mode = true`` in the
pytest configuration (or ``@pytest.mark.trio`` on the test). A test that
requests one without those fails at setup with a message saying so. Every
fixture cleans up (servers stopped, sockets closed, tasks cancelled) whether
the test passed or failed.

Real sockets on 127.0.0.1 (real time; do not combine with ``autojump_clock``):

- ``heartbeat_server``: a :class:`~trio_heartbeat.server.HeartbeatServer` on an
  ephemeral port whose handler echoes every application message.
- ``fault_proxy``: a :class:`FaultProxy` in front of ``heartbeat_server``,
  obeying the ``heartbeat_faults`` switchboard.
- ``managed_client``: a connected managed WebSocket through ``fault_proxy``.

In memory (exact under ``autojump_clock``):

- ``memory_network``: a :class:`MemoryNetwork` whose server side is the same
  echoing heartbeat server, obeying ``heartbeat_faults``.
- ``memory_client``: a connected managed WebSocket over ``memory_network``.

Override ``client_heartbeat``, ``client_reconnect_policy``, ``client_options``
or ``server_heartbeat`` in your ``conftest.py`` to change the settings.

The plugin also gives back the reason of a ``pytest.skip(reason)`` raised in a
Trio test or its fixtures, which pytest-trio 0.8 reports without it (or, for
several fixtures skipping at once, as "Exceptions from Trio nursery"), so that
``pytest -rs`` says why and where a test was skipped (the first reason, when
several fixtures skipped).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from trio_heartbeat._client.connection import ManagedWebSocket, open_managed_websocket
from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.options import ConnectionOptions
from trio_heartbeat._core.reconnect import ReconnectPolicy
from trio_heartbeat.server import (
    HeartbeatServer,
    ServerClient,
    ServerHeartbeat,
    open_heartbeat_server,
)
from trio_heartbeat.testing._faults import Faults
from trio_heartbeat.testing._memory import MemoryNetwork, open_memory_network
from trio_heartbeat.testing._proxy import FaultProxy, open_fault_proxy

__all__ = [
    "client_heartbeat",
    "client_options",
    "client_reconnect_policy",
    "echo_handler",
    "fault_proxy",
    "heartbeat_faults",
    "heartbeat_server",
    "managed_client",
    "memory_client",
    "memory_network",
    "server_heartbeat",
]

# A test that never connects must fail, not hang.
CONNECT_BOUND = 30.0

NEEDS_PYTEST_TRIO = (
    "trio_heartbeat's fixture {name!r} is async and runs under pytest-trio, {problem}. "
    "Install it (pip install 'trio_heartbeat[testing]') and set trio_mode = true under "
    "[tool.pytest.ini_options] (or [pytest] in pytest.ini), "
    "or mark the test with @pytest.mark.trio."
)


def _skip_with_reason(error: BaseException) -> BaseException | None:
    """The first skip with a reason inside a skip that reached pytest without one."""
    group = error
    if isinstance(error, pytest.skip.Exception):
        if error.msg or not isinstance(error.__context__, BaseExceptionGroup):
            return None
        group = error.__context__  # pytest-trio called pytest.skip() while handling it
    if not isinstance(group, BaseExceptionGroup):
        return None
    leaves = leaf_exceptions(group)
    if not all(isinstance(leaf, pytest.skip.Exception) for leaf in leaves):
        return None
    return next((leaf for leaf in leaves if getattr(leaf, "msg", None)), None)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """Re-raise a Trio test's skip with its reason and place (see the module docstring)."""
    try:
        return (yield)
    except (pytest.skip.Exception, BaseExceptionGroup) as error:
        original = _skip_with_reason(error)
        if original is None:
            raise
        raise original from None


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    """Fail a test that requests one of our async fixtures where nothing can run it.

    Without this, pytest reports "requested an async fixture ... with no plugin
    or hook that handled it", which names neither pytest-trio nor ``trio_mode``.
    """
    func = fixturedef.func
    if getattr(func, "__module__", None) != __name__ or not inspect.isasyncgenfunction(func):
        return
    plugins = request.config.pluginmanager
    if not (plugins.hasplugin("trio") or plugins.hasplugin("pytest_trio.plugin")):
        problem = "which is not installed (or was disabled with -p no:trio)"
    elif request.node.get_closest_marker("trio") is None:
        problem = "but this test is not a Trio test (trio_mode is not set and it has no trio mark)"
    else:
        return
    pytest.fail(NEEDS_PYTEST_TRIO.format(name=fixturedef.argname, problem=problem), pytrace=False)


async def echo_handler(client: ServerClient) -> None:
    """The fixtures' server handler: send every application message back."""
    async for message in client:
        await client.send(message)


@pytest.fixture
def client_heartbeat() -> Heartbeat:
    """The managed clients' heartbeat: ping every 1 s, dead 1 s after an unanswered ping."""
    return Heartbeat.ping(interval=1.0, reply_timeout=1.0)


@pytest.fixture
def client_reconnect_policy() -> ReconnectPolicy:
    """The managed clients' policy: quick retries (0.1 s to 1 s), forever."""
    return ReconnectPolicy(wait_initial=0.1, wait_max=1.0, min_uptime=1.0)


@pytest.fixture
def client_options() -> ConnectionOptions:
    """The managed clients' options: each connection attempt bounded to 2 s."""
    return ConnectionOptions(connect_timeout=2.0)


@pytest.fixture
def server_heartbeat() -> ServerHeartbeat:
    """The server's heartbeat: a ping round every 5 s."""
    return ServerHeartbeat.ping(interval=5.0)


@pytest.fixture
def heartbeat_faults() -> Faults:
    """A fresh fault switchboard shared by ``fault_proxy`` and ``memory_network``."""
    return Faults()


@pytest.fixture
async def heartbeat_server(server_heartbeat: ServerHeartbeat) -> AsyncIterator[HeartbeatServer]:
    """An echoing heartbeat server on 127.0.0.1 (``server.port``)."""
    async with open_heartbeat_server(
        echo_handler, "127.0.0.1", 0, heartbeat=server_heartbeat, close_timeout=1.0
    ) as server:
        yield server


@pytest.fixture
async def fault_proxy(
    heartbeat_server: HeartbeatServer, heartbeat_faults: Faults
) -> AsyncIterator[FaultProxy]:
    """A fault proxy on 127.0.0.1 in front of ``heartbeat_server``."""
    assert heartbeat_server.port is not None
    async with open_fault_proxy(
        "127.0.0.1", heartbeat_server.port, faults=heartbeat_faults
    ) as proxy:
        yield proxy


@pytest.fixture
async def managed_client(
    fault_proxy: FaultProxy,
    client_heartbeat: Heartbeat,
    client_reconnect_policy: ReconnectPolicy,
    client_options: ConnectionOptions,
) -> AsyncIterator[ManagedWebSocket]:
    """A managed WebSocket connected through ``fault_proxy`` (already connected)."""
    async with open_managed_websocket(
        f"ws://127.0.0.1:{fault_proxy.port}/",
        heartbeat=client_heartbeat,
        reconnect=client_reconnect_policy,
        options=client_options,
    ) as ws:
        with trio.fail_after(CONNECT_BOUND):
            await ws.wait_connected()
        yield ws


@pytest.fixture
async def memory_network(
    heartbeat_faults: Faults, server_heartbeat: ServerHeartbeat
) -> AsyncIterator[MemoryNetwork]:
    """An in-memory network to an echoing heartbeat server (no sockets)."""
    async with (
        open_heartbeat_server(echo_handler, heartbeat=server_heartbeat) as server,
        open_memory_network(server.handle_stream, faults=heartbeat_faults) as network,
    ):
        yield network


@pytest.fixture
async def memory_client(
    memory_network: MemoryNetwork,
    client_heartbeat: Heartbeat,
    client_reconnect_policy: ReconnectPolicy,
    client_options: ConnectionOptions,
) -> AsyncIterator[ManagedWebSocket]:
    """A managed WebSocket over ``memory_network`` (already connected)."""
    async with open_managed_websocket(
        "ws://memory.test/",
        heartbeat=client_heartbeat,
        reconnect=client_reconnect_policy,
        options=client_options,
        dial=memory_network.dial,
    ) as ws:
        with trio.fail_after(CONNECT_BOUND):
            await ws.wait_connected()
        yield ws
