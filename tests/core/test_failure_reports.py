"""Why did my connection die? The failing step, the exception type, a WARNING that never floods."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer
from tests.core.test_reconnect import drain_events


class VirtualTimeRecords(logging.Handler):
    """Records of the ``trio_heartbeat`` logger with the virtual time they were logged at."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[float, logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((trio.current_time(), record))

    def at(self, level: int) -> list[tuple[float, str]]:
        return [(t, r.getMessage()) for t, r in self.records if r.levelno == level]


@pytest.fixture
def log() -> Iterator[VirtualTimeRecords]:
    handler = VirtualTimeRecords()
    logger = logging.getLogger("trio_heartbeat")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def test_failing_on_connect_names_the_step_and_the_type(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, log: VirtualTimeRecords
) -> None:
    async def broken(link: th.LiveLink) -> None:
        raise AssertionError()  # str() is empty: the type must say it

    policy = th.ReconnectPolicy.fixed(1.0, max_attempts=3)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, on_connect=broken, dial=echo_server.dial
        ) as ws:
            await ws.receive()
    assert str(info.value) == (
        "gave up after 3 attempt(s) (max_attempts=3 reached); "
        "last: on_connect failed with AssertionError"
    )
    assert info.value.step is th.Step.ON_CONNECT
    lost = [e for e in drain_events(ws) if isinstance(e, th.Disconnected)]
    assert [e.step for e in lost] == [th.Step.ON_CONNECT] * 3
    assert lost[0].summary == "on_connect failed with AssertionError"
    # Two failed attempts retried: the first warns at once, the second within
    # the rate limit only at DEBUG; the give-up is a WARNING of its own.
    warnings = log.at(logging.WARNING)
    assert warnings[0] == (
        0.0,
        "connection attempt failed to ws://x: "
        "on_connect failed with AssertionError; retrying in 1 s",
    )
    assert warnings[1] == (
        2.0,
        "connection to ws://x gave up after 3 attempt(s) (max_attempts=3 reached); "
        "last: on_connect failed with AssertionError",
    )
    assert len(warnings) == 2
    assert log.at(logging.DEBUG) == [
        (1.0, "connection attempt failed: on_connect failed with AssertionError; retrying in 1 s")
    ]


async def test_repeated_failures_warn_once_per_interval_with_a_count(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, log: VirtualTimeRecords
) -> None:
    echo_server.refuse = True
    async with th.open_managed_websocket(
        "ws://x/", reconnect=th.ReconnectPolicy.fixed(1.0), dial=echo_server.dial
    ) as ws:
        await trio.sleep(95.5)  # attempts at 0, 1, ..., 95
    del ws
    warnings = log.at(logging.WARNING)
    assert [t for t, _ in warnings] == [0.0, 30.0, 60.0, 90.0]
    assert "more failure" not in warnings[0][1]
    assert (
        "connect failed with ConnectError: cannot connect to x: connection refused (test)"
        in (warnings[0][1])
    )
    assert all(m.endswith("(29 more failure(s) since the last warning)") for _, m in warnings[1:])
    assert len(log.at(logging.DEBUG)) == 96 - 4  # nothing lost: the rest at DEBUG


async def test_lost_link_is_a_warning_naming_the_link_step(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock, log: VirtualTimeRecords
) -> None:
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(1.0),
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        echo_server.last.freeze()
        await trio.sleep(2.5)  # dead at 2.0
    lost = [e for e in drain_events(ws) if isinstance(e, th.Disconnected)]
    assert lost[0].step is th.Step.LINK and lost[0].was_connected
    assert log.at(logging.WARNING) == [
        (
            2.0,
            "link lost to ws://x: link failed with PeerUnresponsive: "
            "connection lost (code 1006: no inbound traffic within 1 s); retrying in 1 s",
        )
    ]


@pytest.mark.parametrize(
    ("setup", "step", "error"),
    [
        ("refuse", th.Step.CONNECT, th.ConnectError),  # the test dialer's OSError, translated
        ("reject", th.Step.UPGRADE, th.HandshakeRejected),
        ("black_hole", th.Step.UPGRADE, th.ConnectTimeout),
    ],
)
async def test_a_failed_attempt_names_its_step(
    echo_server: MemoryServer,
    autojump_clock: trio.testing.MockClock,
    setup: str,
    step: th.Step,
    error: type[Exception],
) -> None:
    echo_server.refuse = setup == "refuse"
    echo_server.reject_status = 500 if setup == "reject" else None
    echo_server.black_hole_handshake = setup == "black_hole"
    policy = th.ReconnectPolicy(max_attempts=1)
    options = th.ConnectionOptions(connect_timeout=2.0)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, options=options, dial=echo_server.dial
        ) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, error)
    assert info.value.step is step
    assert f"last: {step} failed with {error.__name__}: " in str(info.value)


async def test_state_is_an_enum_that_compares_as_a_string(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def close_once(ws: trio_websocket.WebSocketConnection) -> None:
        if len(srv.connections) == 1:
            await ws.aclose(th.CloseCode.SERVICE_RESTART, "restart")
        await trio.sleep_forever()

    srv = MemoryServer(nursery, close_once)
    async with th.open_managed_websocket(
        "ws://x/", reconnect=th.ReconnectPolicy.fixed(1.0), dial=srv.dial
    ) as ws:
        assert ws.state is th.ConnectionState.CONNECTING
        await trio.sleep(1.5)
        assert ws.state is th.ConnectionState.CONNECTED and ws.state == "connected"
        assert ws.statistics().state is th.ConnectionState.CONNECTED
        states = [e.state for e in drain_events(ws)]
    assert ws.state is th.ConnectionState.CLOSED
    assert states == ["connecting", "connected", None, "waiting", "connecting", "connected"]
