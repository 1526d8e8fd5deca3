from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
import trio

import trio_heartbeat._client.connection as connection_module
from tests.core.memserver import MemoryServer, echo
from trio_heartbeat import Transport


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
def echo_server(nursery: trio.Nursery) -> MemoryServer:
    return MemoryServer(nursery, echo)


ENGINES = [Transport.DIRECT, Transport.TRIO_WEBSOCKET, Transport.WEBSOCKETS]


@pytest.fixture(autouse=True, params=ENGINES, ids=str)
def transport(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Transport]:
    """Every core test runs over every protocol engine."""
    chosen: Transport = request.param
    original = connection_module.ManagedWebSocket.__init__

    def init_with(self: connection_module.ManagedWebSocket, url: str, **kwargs: Any) -> None:
        kwargs["options"] = attrs.evolve(kwargs["options"], transport=chosen)
        original(self, url, **kwargs)

    monkeypatch.setattr(connection_module.ManagedWebSocket, "__init__", init_with)
    yield chosen
