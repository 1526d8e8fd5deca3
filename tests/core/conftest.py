from collections.abc import AsyncIterator, Iterator

import attrs
import pytest
import trio

import trio_heartbeat._connection as connection_module
from tests.core.memserver import MemoryServer, echo
from trio_heartbeat import ConnectionOptions, Transport


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
def echo_server(nursery: trio.Nursery) -> MemoryServer:
    return MemoryServer(nursery, echo)


@pytest.fixture(autouse=True, params=[Transport.DIRECT, Transport.TRIO_WEBSOCKET], ids=str)
def transport(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Transport]:
    """Every core test runs over both protocol engines."""
    chosen: Transport = request.param
    original = connection_module.open_link

    async def open_link_with(
        nursery: trio.Nursery,
        target: object,
        dial: object,
        options: ConnectionOptions,
        timeout: float,
    ) -> object:
        return await original(
            nursery, target, dial, attrs.evolve(options, transport=chosen), timeout
        )  # type: ignore[arg-type]

    monkeypatch.setattr(connection_module, "open_link", open_link_with)
    yield chosen
