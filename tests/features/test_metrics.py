"""OpenTelemetry instruments, read back with the SDK's in-memory metric reader (virtual time)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import trio_heartbeat as th
from tests.core.memserver import MemoryServer, echo
from trio_heartbeat.metrics import Metrics
from trio_heartbeat.server import ServerHeartbeat, open_heartbeat_server
from trio_heartbeat.testing import Faults, open_memory_network

URL = "ws://feed.example:8080/v1/stream?token=s3cret"
HOST = {"server.address": "feed.example"}


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> Iterator[Metrics]:
    provider = MeterProvider(metric_readers=[reader])
    yield Metrics(provider)
    provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Instrument name -> [(attributes, value or histogram point)]."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", point)
                    out.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return out


async def test_a_connection_lost_and_regained(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    reader: InMemoryMetricReader,
    metrics: Metrics,
) -> None:
    async def restart_once(ws: trio_websocket.WebSocketConnection) -> None:
        if len(srv.connections) == 1:
            with trio.move_on_after(3.5):  # between two pings
                await echo(ws)
            await ws.aclose(1012, "restart")
        else:
            await echo(ws)

    srv = MemoryServer(nursery, restart_once)
    async with th.open_managed_websocket(
        URL,
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(0.5),
        dial=srv.dial,
        metrics=metrics,
    ) as ws:
        await ws.send("one")
        assert await ws.receive() == "one"
        await trio.sleep(5.5)  # lost at 3.5, back at 4.0
        await ws.send("two")
        assert await ws.receive() == "two"
        live = points(reader)
    assert live["trio_heartbeat.send_buffer.depth"] == [(HOST, 0)]
    got = points(reader)  # after the close: the counts stay
    assert got["trio_heartbeat.connection.attempts"] == [({**HOST, "outcome": "connected"}, 2)]
    assert got["trio_heartbeat.connection.connects"] == [(HOST, 2)]
    assert got["trio_heartbeat.connection.disconnects"] == [
        ({**HOST, "cause": "ConnectionLost", "close_code": "1012"}, 1)
    ]
    ((attrs, reconnect),) = got["trio_heartbeat.connection.reconnect_time"]
    assert attrs == HOST and reconnect.count == 1 and reconnect.sum == 0.5
    ((_, rtt),) = got["trio_heartbeat.heartbeat.rtt"]
    assert rtt.count == 4  # pings at 1, 2, 3 and 5 answered (in no virtual time)
    assert got["trio_heartbeat.messages.in"] == [(HOST, 2)]
    assert got["trio_heartbeat.messages.out"] == [(HOST, 2)]
    assert got["trio_heartbeat.bytes.in"][0][1] > 0
    assert got["trio_heartbeat.protocol_errors"] == [(HOST, 0)]
    everything = repr(got)
    assert "s3cret" not in everything and "/v1/stream" not in everything


async def test_failed_attempts_and_dropped_messages(
    echo_server: MemoryServer,
    autojump_clock: trio.testing.MockClock,
    reader: InMemoryMetricReader,
    metrics: Metrics,
) -> None:
    echo_server.refuse = True
    options = th.ConnectionOptions(send_buffer_size=1, overflow=th.Overflow.DROP_OLDEST)
    async with th.open_managed_websocket(
        URL,
        reconnect=th.ReconnectPolicy.fixed(1.0),
        options=options,
        dial=echo_server.dial,
        metrics=metrics,
    ) as ws:
        for n in range(3):
            ws.send_nowait(f"m{n}")  # two of them pushed out of the one-message buffer
        await trio.sleep(1.5)  # attempts at 0 and 1 failed
        echo_server.refuse = False
        assert await ws.receive() == "m2"
    got = points(reader)
    attempts = dict((a["outcome"], v) for a, v in got["trio_heartbeat.connection.attempts"])
    assert attempts.pop("connected") == 1
    assert list(attempts.values()) == [2]  # by the class name of the dial's error
    assert got["trio_heartbeat.messages.dropped"] == [(HOST, 2)]


async def test_many_connections_aggregate_by_host(
    echo_server: MemoryServer,
    autojump_clock: trio.testing.MockClock,
    reader: InMemoryMetricReader,
    metrics: Metrics,
) -> None:
    async with (
        th.open_managed_websocket(URL, dial=echo_server.dial, metrics=metrics) as a,
        th.open_managed_websocket(URL, dial=echo_server.dial, metrics=metrics) as b,
        th.open_managed_websocket("ws://other/", dial=echo_server.dial, metrics=metrics) as c,
    ):
        for ws in (a, b, c):
            await ws.send("x")
            assert await ws.receive() == "x"
    got = dict(
        (attrs["server.address"], value)
        for attrs, value in points(reader)["trio_heartbeat.messages.in"]
    )
    assert got == {"feed.example": 2, "other": 1}


async def test_server_clients_and_terminations(
    autojump_clock: trio.testing.MockClock,
    reader: InMemoryMetricReader,
    metrics: Metrics,
) -> None:
    faults = Faults()

    async def ignore(client: Any) -> None:
        async for _ in client:
            pass

    async with open_heartbeat_server(ignore, heartbeat=ServerHeartbeat.ping(1.0)) as server:
        metrics.watch_server(server)
        async with open_memory_network(server.handle_stream, faults=faults) as net:
            policy = th.ReconnectPolicy.fixed(100.0)
            async with th.open_managed_websocket(
                "ws://test/", dial=net.dial, reconnect=policy
            ) as ws:
                await ws.wait_connected()
                await trio.sleep(0.5)
                assert points(reader)["trio_heartbeat.server.clients"] == [({}, 1)]
                faults.black_hole()  # the client goes silent: the server terminates it
                await trio.sleep(5.0)
    got = points(reader)
    assert got["trio_heartbeat.server.clients"] == [({}, 0)]
    assert got["trio_heartbeat.server.accepted"] == [({}, 1)]
    assert got["trio_heartbeat.server.terminations"] == [({}, 1)]
    assert got["trio_heartbeat.server.drops"] == [({}, 0)]


def test_nothing_of_opentelemetry_is_imported_without_metrics() -> None:
    script = (
        "import sys, trio, trio_heartbeat, trio_heartbeat.cli\n"
        "from trio_heartbeat.testing import open_memory_network\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
