"""OpenTelemetry metrics for managed connections and heartbeat servers (optional).

Needs only ``opentelemetry-api`` (``pip install 'trio_heartbeat[otel]'``); the
application configures the SDK/exporter. Nothing here is imported unless the
application imports this module, and without a configured provider the API's
instruments are no-ops. One :class:`Metrics` serves any number of connections
and servers::

    metrics = Metrics()                                   # the global provider
    async with open_managed_websocket(url, metrics=metrics) as ws: ...
    async with open_heartbeat_server(handler, host, port) as server:
        metrics.watch_server(server)

Attributes are what can be aggregated over many connections: ``server.address``
(the URL's host: never the full URL, its path, query or credentials),
``outcome``, ``cause`` (an exception class name) and ``close_code``.

Instruments (names as exported; units in braces)::

    trio_heartbeat.connection.attempts       counter     {attempt}  outcome
    trio_heartbeat.connection.connects       counter     {connect}
    trio_heartbeat.connection.disconnects    counter     {disconnect}  cause, close_code
    trio_heartbeat.connection.reconnect_time histogram   s   (link lost -> next link up)
    trio_heartbeat.heartbeat.rtt             histogram   s
    trio_heartbeat.heartbeat.missed          obs. counter {heartbeat}
    trio_heartbeat.send_buffer.depth         obs. gauge   {message}
    trio_heartbeat.messages.dropped          counter     {message}  (send buffer overflow, codec)
    trio_heartbeat.messages.in / .out        obs. counter {message}
    trio_heartbeat.bytes.in / .out           obs. counter By
    trio_heartbeat.protocol_errors           obs. counter {error}
    trio_heartbeat.server.clients            obs. gauge   {client}
    trio_heartbeat.server.accepted           obs. counter {client}
    trio_heartbeat.server.terminations       obs. counter {client}  (no heartbeat answer)
    trio_heartbeat.server.drops              obs. counter {client}  (send/broadcast failed)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import trio

try:
    from opentelemetry import metrics as otel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "trio_heartbeat.metrics needs opentelemetry-api: pip install 'trio_heartbeat[otel]'"
    ) from exc

from trio_heartbeat import __version__
from trio_heartbeat._client.connection import ManagedWebSocket
from trio_heartbeat._core.events import (
    Closed,
    Connected,
    ConnectionStatistics,
    Disconnected,
    MessagesDropped,
    StateChange,
)
from trio_heartbeat.server import HeartbeatServer

__all__ = ["ConnectionRecorder", "Metrics"]

PREFIX = "trio_heartbeat"

# statistics() field -> observable counter name (cumulative, summed per host)
_CUMULATIVE = {
    "heartbeats_missed": ("heartbeat.missed", "{heartbeat}"),
    "messages_in": ("messages.in", "{message}"),
    "messages_out": ("messages.out", "{message}"),
    "bytes_in": ("bytes.in", "By"),
    "bytes_out": ("bytes.out", "By"),
    "protocol_errors": ("protocol_errors", "{error}"),
}
# ServerStatistics field -> (name, unit, kind)
_SERVER = {
    "clients": ("server.clients", "{client}", "gauge"),
    "accepted": ("server.accepted", "{client}", "counter"),
    "terminated": ("server.terminations", "{client}", "counter"),
    "dropped": ("server.drops", "{client}", "counter"),
}


class Metrics:
    """The instruments, made once per meter; hand it to connections with ``metrics=``."""

    def __init__(self, meter_provider: otel.MeterProvider | None = None) -> None:
        provider = meter_provider if meter_provider is not None else otel.get_meter_provider()
        meter = provider.get_meter("trio_heartbeat", __version__)
        self._live: dict[int, ConnectionRecorder] = {}
        self._retired: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._servers: list[HeartbeatServer] = []
        counter, histogram = meter.create_counter, meter.create_histogram
        self.attempts = counter(f"{PREFIX}.connection.attempts", "{attempt}", "by outcome")
        self.connects = counter(f"{PREFIX}.connection.connects", "{connect}", "links up")
        self.disconnects = counter(f"{PREFIX}.connection.disconnects", "{disconnect}", "links lost")
        self.reconnect_time = histogram(f"{PREFIX}.connection.reconnect_time", "s", "lost -> up")
        self.rtt = histogram(f"{PREFIX}.heartbeat.rtt", "s", "heartbeat round-trip time")
        self.dropped = counter(f"{PREFIX}.messages.dropped", "{message}", "outgoing, dropped")
        for field, (name, unit) in _CUMULATIVE.items():
            meter.create_observable_counter(
                f"{PREFIX}.{name}", [self._observe_connections(field)], unit
            )
        meter.create_observable_gauge(
            f"{PREFIX}.send_buffer.depth",
            [self._observe_connections("send_buffered", cumulative=False)],
            "{message}",
        )
        for field, (name, unit, kind) in _SERVER.items():
            create = (
                meter.create_observable_gauge
                if kind == "gauge"
                else meter.create_observable_counter
            )
            create(f"{PREFIX}.{name}", [self._observe_servers(field)], unit)

    def recorder(self, host: str, ws: ManagedWebSocket) -> ConnectionRecorder:
        """Register one connection (done by ``open_managed_websocket(metrics=...)``)."""
        recorder = ConnectionRecorder(self, host, ws)
        self._live[id(recorder)] = recorder
        return recorder

    def watch_server(self, server: HeartbeatServer) -> None:
        """Report ``server``'s clients, acceptances, terminations and drops."""
        self._servers.append(server)

    def _retire(self, recorder: ConnectionRecorder, stats: ConnectionStatistics) -> None:
        """A connection closed: its final counts stay in the cumulative totals."""
        self._live.pop(id(recorder), None)
        totals = self._retired[recorder.host]
        for field in _CUMULATIVE:
            totals[field] += getattr(stats, field)

    def _observe_connections(
        self, field: str, *, cumulative: bool = True
    ) -> Callable[[otel.CallbackOptions], Iterable[otel.Observation]]:
        def observe(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
            sums: dict[str, int] = defaultdict(int)
            if cumulative:
                for host, totals in self._retired.items():
                    sums[host] += totals[field]
            for recorder in self._live.values():
                sums[recorder.host] += getattr(recorder.ws.statistics(), field)
            return [otel.Observation(v, {"server.address": h}) for h, v in sums.items()]

        return observe

    def _observe_servers(
        self, field: str
    ) -> Callable[[otel.CallbackOptions], Iterable[otel.Observation]]:
        def observe(options: otel.CallbackOptions) -> Iterable[otel.Observation]:
            if not self._servers:
                return []
            total = sum(getattr(server.statistics(), field) for server in self._servers)
            return [otel.Observation(total)]

        return observe


class ConnectionRecorder:
    """Turns one connection's state changes and RTT samples into measurements."""

    __slots__ = ("_attrs", "_lost_at", "_metrics", "host", "ws")

    def __init__(self, metrics: Metrics, host: str, ws: ManagedWebSocket) -> None:
        self._metrics = metrics
        self.host = host
        self.ws = ws
        self._attrs: dict[str, Any] = {"server.address": host}
        self._lost_at: float | None = None

    def rtt_sample(self, seconds: float) -> None:
        """A heartbeat reply arrived ``seconds`` after its heartbeat."""
        self._metrics.rtt.record(seconds, self._attrs)

    def event(self, change: StateChange) -> None:
        """One state change of the connection (called as it is emitted)."""
        m, attrs = self._metrics, self._attrs
        if isinstance(change, Connected):
            m.attempts.add(1, {**attrs, "outcome": "connected"})
            m.connects.add(1, attrs)
            if self._lost_at is not None:
                m.reconnect_time.record(trio.current_time() - self._lost_at, attrs)
                self._lost_at = None
        elif isinstance(change, Disconnected):
            cause = type(change.cause).__name__
            if change.was_connected:
                code = change.code if change.code is not None else "none"
                m.disconnects.add(1, {**attrs, "cause": cause, "close_code": str(code)})
                self._lost_at = trio.current_time()
            else:
                m.attempts.add(1, {**attrs, "outcome": cause})
        elif isinstance(change, MessagesDropped):
            m.dropped.add(change.count, attrs)
        elif isinstance(change, Closed):
            m._retire(self, self.ws.statistics())
