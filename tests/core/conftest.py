from collections.abc import AsyncIterator

import pytest
import trio

from tests.core.memserver import MemoryServer, echo


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
def echo_server(nursery: trio.Nursery) -> MemoryServer:
    return MemoryServer(nursery, echo)
