from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

import trio_heartbeat as th


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture(params=[th.Transport.DIRECT, th.Transport.TRIO_WEBSOCKET], ids=str)
def transport(request: pytest.FixtureRequest) -> th.Transport:
    """The engine under test: every test here runs over both."""
    engine: th.Transport = request.param
    return engine
