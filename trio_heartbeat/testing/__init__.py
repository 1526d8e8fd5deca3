"""trio_heartbeat.testing: a fault-injecting test kit that other projects embed.

- :class:`Faults`: one switchboard of faults (black hole, latency, dropped
  heartbeats, close/drop/abort, refused or rejected handshakes, trickle),
  usable mid-test and schedulable at (virtual) times.
- :func:`open_memory_network`: in-memory connections to a stream handler, with
  the faults applied; exact under trio's autojump clock. Its ``dial`` plugs into
  ``open_managed_websocket(dial=...)``.
- :func:`open_fault_proxy` / :func:`serve_fault_proxy`: the same faults on real
  loopback sockets, as a TCP proxy in front of any server.
- A pytest plugin (:mod:`trio_heartbeat.testing.pytest_plugin`, registered
  through the ``pytest11`` entry point) with fixtures built on these.
"""

from trio_heartbeat.testing._faults import Faults, FaultStatistics, FaultStep
from trio_heartbeat.testing._memory import MemoryNetwork, open_memory_network
from trio_heartbeat.testing._proxy import FaultProxy, open_fault_proxy, serve_fault_proxy
from trio_heartbeat.testing._verdicts import ConnectionStats, Direction, RelayedConnection

__all__ = [
    "ConnectionStats",
    "Direction",
    "FaultProxy",
    "FaultStatistics",
    "FaultStep",
    "Faults",
    "MemoryNetwork",
    "RelayedConnection",
    "open_fault_proxy",
    "open_memory_network",
    "serve_fault_proxy",
]
